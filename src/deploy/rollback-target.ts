import { BadRequestError, EserveslessError, NotFoundError } from "../errors.js";
import { shortSha } from "../format.js";
import { PRODUCTION, type Deployment, type DeploymentStore } from "../store/deployment-store.js";
import type { LiveFunctionStore } from "../store/live-function-store.js";

/** How far back a rollback looks for earlier releases: the dashboard lists no more either. */
const HISTORY = 200;

/**
 * The earlier production deployment a rollback of `repository` goes back to.
 * `to` is tried as a deployment id, then as a commit SHA prefix (7+ hex
 * characters) of a deployment that went live; absent, it is the newest one
 * that went live with another image than the live one. A prefix that fits
 * several commits is refused, listing them.
 */
export function rollbackTarget(
  store: Pick<DeploymentStore, "getDeployment" | "successfulDeployments"> & Pick<LiveFunctionStore, "liveFunctions">,
  repository: string,
  to: string | undefined,
): Deployment {
  const live = store.liveFunctions(repository)[0];
  const releases = store.successfulDeployments(repository, PRODUCTION, HISTORY);
  if (releases.length === 0) throw new NotFoundError(`${repository} has no deployment that went live to roll back to`, { code: "no_release" });
  const target = to === undefined ? previousRelease(releases, live?.image) : named(store, repository, releases, to.toLowerCase());
  if (live && target.id === live.deploymentId) {
    throw new EserveslessError(`Deployment ${target.id} (${shortSha(target.commit)}) is the live one already; nothing to roll back`, { status: 409, code: "already_live" });
  }
  return target;
}

function previousRelease(releases: Deployment[], liveImage: string | undefined): Deployment {
  const previous = releases.find((d) => d.image !== liveImage);
  if (!previous) throw new NotFoundError("No earlier deployment went live with another version; name one with a deployment id or a commit", { code: "no_release" });
  return previous;
}

function named(store: Pick<DeploymentStore, "getDeployment">, repository: string, releases: Deployment[], to: string): Deployment {
  const byId = store.getDeployment(to);
  if (byId && byId.repository.toLowerCase() === repository.toLowerCase()) {
    if (byId.state !== "success" || byId.environment !== PRODUCTION) {
      throw new BadRequestError(`Deployment ${byId.id} ended ${byId.state}${byId.environment === PRODUCTION ? "" : ` in ${byId.environment}`}; only a production deployment that went live can be rolled back to`, {
        code: "not_a_release",
      });
    }
    return byId;
  }
  // The newest release of each commit that matches: a commit deployed twice is one candidate.
  const byCommit = new Map<string, Deployment>();
  for (const d of releases) if (d.commit.startsWith(to) && !byCommit.has(d.commit)) byCommit.set(d.commit, d);
  const candidates = [...byCommit.values()];
  if (candidates.length === 1) return candidates[0]!;
  if (candidates.length === 0) {
    throw new NotFoundError(`No deployment ${to}, and no commit starting with ${to} went live in ${repository}`, { code: "no_release" });
  }
  const listed = candidates.map((d) => `${d.commit.slice(0, 12)} (deployment ${d.id}, ${new Date(d.createdAt).toISOString()})`).join(", ");
  throw new BadRequestError(`${to} is ambiguous: it starts ${candidates.length} commits that went live: ${listed}; give more of the SHA or a deployment id`, {
    code: "ambiguous_target",
  });
}
