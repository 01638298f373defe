import type Docker from "dockerode";
import { UpstreamError } from "../errors.js";

/** One line of the Engine's push progress. */
interface PushEvent {
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { Tag?: string; Digest?: string; Size?: number };
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/**
 * Tags a locally built image `<registry>/<repository>:<tag>`, pushes it and
 * resolves with its reference by digest (`<registry>/<repository>@sha256:…`),
 * which every node pulls exactly: a bare tag would let a worker fetch a
 * public image of the same name. Throws an UpstreamError naming the registry
 * when the push fails.
 */
export async function pushImage(docker: Docker, image: string, registry: string, onLine?: (line: string) => void): Promise<string> {
  const { repository, tag } = splitReference(image);
  const remote = `${registry}/${repository}`;
  const fail = (cause: unknown, what: string): never => {
    throw new UpstreamError(`Could not push ${image} to the registry ${registry} (ESERVELESS_REGISTRY): ${what}`, { cause, code: "push_failed" });
  };
  try {
    await docker.getImage(image).tag({ repo: remote, tag });
  } catch (cause) {
    fail(cause, (cause as Error).message);
  }
  // An empty credential: the Engine wants the header even for a registry without sign-in.
  const stream = await docker
    .getImage(`${remote}:${tag}`)
    .push({ tag, authconfig: {} } as Docker.ImagePushOptions)
    .catch((cause: unknown) => fail(cause, (cause as Error).message));
  const events = await new Promise<PushEvent[]>((resolve, reject) => {
    docker.modem.followProgress(stream, (error: Error | null, output: PushEvent[]) => (error ? reject(error) : resolve(output)), (event: PushEvent) => {
      if (event.status && onLine && !event.status.startsWith("Pushing")) onLine(`${event.status}${"id" in event ? ` ${String((event as { id: unknown }).id)}` : ""}`);
    });
  }).catch((cause: unknown) => fail(cause, (cause as Error).message));
  const failed = events.find((event) => event.error !== undefined);
  if (failed) fail(undefined, failed.errorDetail?.message ?? failed.error ?? "unknown error");
  const digest = events.map((event) => event.aux?.Digest).find((d) => d !== undefined && DIGEST.test(d));
  if (!digest) fail(undefined, "the registry answered without a digest");
  return `${remote}@${digest}`;
}

/** `name[:tag]` split at the tag's colon (a registry's port has a slash after it); `latest` when untagged. */
export function splitReference(image: string): { repository: string; tag: string } {
  const at = image.lastIndexOf(":");
  if (at > image.lastIndexOf("/")) return { repository: image.slice(0, at), tag: image.slice(at + 1) };
  return { repository: image, tag: "latest" };
}

/**
 * Pushes each image once per process: a deployment's functions, its cron
 * runs and a rollback share the push of their image.
 */
export class ImagePusher {
  readonly #pushed = new Map<string, Promise<string>>();

  constructor(
    private readonly docker: Docker,
    /** ESERVELESS_REGISTRY: host:port every node pulls from. */
    readonly registry: string,
  ) {}

  /** The image's reference by digest in the registry, pushed on first use; a failure is not remembered. */
  reference(image: string): Promise<string> {
    if (image.includes("@sha256:")) return Promise.resolve(image);
    let pushed = this.#pushed.get(image);
    if (!pushed) {
      pushed = pushImage(this.docker, image, this.registry);
      this.#pushed.set(image, pushed);
      pushed.catch(() => this.#pushed.delete(image));
    }
    return pushed;
  }
}
