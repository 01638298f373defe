import { describe, expect, it } from "vitest";
import { EserveslessClient } from "../../src/cli/client.js";
import { readManifest } from "../../src/manifest/read-manifest.js";
import { readFixture } from "../support/fixtures.js";
import { ADMIN_TOKEN } from "../support/start-eserveless.js";
import { signIn } from "../support/sign-in.js";
import { useEserveless } from "../support/use-eserveless.js";

// The public deployment page of a function that prints its environment as it
// loads and crashes, and of its build, with real builds and containers.

const OWNER = "octo-org";
const REPO = "prints-env";

const stack = useEserveless({ repositories: [{ owner: OWNER, name: REPO }] });

const fixture = readFixture("node-prints-env");
const { manifest } = await readManifest(fixture[".eserveless.yaml"]!.content.toString("utf8"), { has: (path) => path in fixture });
/** The secret the fixture's function prints: its DATABASE_URL, from its manifest. */
const SECRET = manifest.functions[0]!.env.DATABASE_URL!;
/** The password inside it, which must not show even where the URL is cut or escaped. */
const PASSWORD = new URL(SECRET).password;
/** What the fixture's install script prints during the build. */
const BUILD_OUTPUT = JSON.parse(fixture["package.json"]!.content.toString("utf8")).scripts.preinstall.replace(/^echo /, "") as string;

/** Pushes the fixture (with `functions.js` replaced, if given) and waits for its deployment to fail; returns the deployment's id. */
async function deployFailing(functionsJs?: string): Promise<string> {
  const files = functionsJs ? { ...fixture, "functions.js": functionsJs } : fixture;
  const sha = stack.emulator.commit(OWNER, REPO, { files });
  const response = await stack.server.deliver("push", stack.emulator.pushPayload(OWNER, REPO, { after: sha }));
  expect(response.status).toBe(202);
  const { deployment } = (await response.json()) as { deployment: { id: string } };
  const { final } = await stack.settled(OWNER, REPO, sha);
  expect(final.state).toBe("failure");
  // The commit status is public to whoever reads the repository, and beyond.
  for (const status of stack.emulator.statuses(OWNER, REPO, sha)) expect(JSON.stringify(status)).not.toContain(PASSWORD);
  return deployment.id;
}

async function page(id: string, headers: Record<string, string> = {}): Promise<string> {
  const response = await fetch(`${stack.server.url}/deployments/${id}`, { headers: { accept: "text/html", ...headers } });
  expect(response.status).toBe(200);
  return response.text();
}

async function json(id: string, headers: Record<string, string> = {}): Promise<{ text: string; body: { deployment: { description: string }; log: Array<{ line: string }>; hiddenLines: number } }> {
  const response = await fetch(`${stack.server.url}/deployments/${id}`, { headers: { accept: "application/json", ...headers } });
  expect(response.status).toBe(200);
  const text = await response.text();
  return { text, body: JSON.parse(text) as never };
}

describe("the deployment page of a function that prints its environment and crashes", () => {
  it("shows anyone the state and the reason, and the output only to the admin token or a dashboard session", async () => {
    const id = await deployFailing();

    const anonymousHtml = await page(id);
    const anonymous = await json(id);
    for (const text of [anonymousHtml, anonymous.text]) {
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain(BUILD_OUTPUT);
    }
    // The state and the reason: the runtime's, with the URL named rather than shown.
    expect(anonymousHtml).toContain('<span id="state" class="badge badge-failure">failure</span>');
    expect(anonymous.body.deployment.description).toBe(
      "API: cannot load functions.js: Error: cannot reach the database at $DATABASE_URL (functions.js:4:7)",
    );
    // eserveless's own lines stay public; the output is counted, with a way to read it.
    expect(anonymous.body.log.map((l) => l.line)).toContain("Starting API…");
    expect(anonymous.body.log.some((l) => l.line.startsWith("  API | "))).toBe(false);
    expect(anonymous.body.hiddenLines).toBeGreaterThan(0);
    expect(anonymousHtml).toContain(`of build and function output are left out`);
    expect(anonymousHtml).toContain(`href="/login?next=${encodeURIComponent(`/deployments/${id}`)}"`);

    // With the admin token (the CLI's way) and with a dashboard session: everything.
    const withToken = await json(id, { authorization: `Bearer ${ADMIN_TOKEN}` });
    expect(withToken.body.hiddenLines).toBe(0);
    expect(withToken.body.log.some((l) => l.line.startsWith("  API | environment: ") && l.line.includes(SECRET))).toBe(true);
    expect(withToken.body.log.map((l) => l.line)).toContain(BUILD_OUTPUT);
    expect(withToken.body.log.length).toBe(anonymous.body.log.length + anonymous.body.hiddenLines);
    const { cookie } = await signIn(stack.server);
    const signedInHtml = await page(id, { cookie });
    expect(signedInHtml).toContain(SECRET);
    expect(signedInHtml).toContain(BUILD_OUTPUT);
    expect(signedInHtml).not.toContain("left out");
    expect((await json(id, { cookie })).body.hiddenLines).toBe(0);

    // A wrong token is refused, not answered as anonymous.
    const wrong = await fetch(`${stack.server.url}/deployments/${id}`, { headers: { accept: "application/json", authorization: "Bearer not-the-token-0123456789" } });
    expect(wrong.status).toBe(401);

    // The CLI's client: all the lines with the token, the count without.
    const cli = new EserveslessClient({ url: stack.server.url, token: ADMIN_TOKEN });
    expect((await cli.deployment(id)).log.map((l) => l.line)).toEqual(withToken.body.log.map((l) => l.line));
    expect((await new EserveslessClient({ url: stack.server.url }).deployment(id)).hiddenLines).toBe(anonymous.body.hiddenLines);
  });

  it("keeps a crash's last printed line out of the reason", async () => {
    // No reason of the runtime's: the function exits by itself, its last line the URL.
    const id = await deployFailing('console.error(`connecting to ${process.env.DATABASE_URL}`);\nprocess.exit(1);\n');
    const anonymous = await json(id);
    expect(anonymous.text).not.toContain(PASSWORD);
    expect(await page(id)).not.toContain(PASSWORD);
    expect(anonymous.body.deployment.description).toBe(
      "API: The function exited with code 1 before it answered HTTP; its output is in the deployment log (for signed-in viewers)",
    );
    const withToken = await json(id, { authorization: `Bearer ${ADMIN_TOKEN}` });
    expect(withToken.body.log.map((l) => l.line)).toContain(`  API | connecting to ${SECRET}`);
  });
});
