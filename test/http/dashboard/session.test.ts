import { afterAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, startEserveless, type TestEserveless } from "../../support/start-eserveless.js";
import { unreachableDocker } from "../../support/wire-app.js";

// Sign-outs across a restart, over HTTP, with no Docker engine: the dashboard needs none.

const servers: TestEserveless[] = [];
afterAll(async () => {
  for (const server of servers) await server.stop();
});

async function start(dataDir?: string): Promise<TestEserveless> {
  const server = await startEserveless({ docker: unreachableDocker(), env: dataDir ? { DATA_DIR: dataDir } : {} });
  servers.push(server);
  return server;
}

function request(server: TestEserveless, path: string, init: { cookie?: string; form?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { origin: server.url };
  if (init.cookie) headers.cookie = init.cookie;
  if (init.form) headers["content-type"] = "application/x-www-form-urlencoded";
  return fetch(`${server.url}${path}`, { method: init.form ? "POST" : "GET", headers, body: init.form && new URLSearchParams(init.form), redirect: "manual" });
}

describe("dashboard sign-out", () => {
  it("still holds after a restart on the same data: the old cookie opens nothing", async () => {
    const first = await start();
    const signedIn = await request(first, "/login", { form: { token: ADMIN_TOKEN, next: "/dashboard" } });
    expect(signedIn.status).toBe(303);
    const cookie = signedIn.headers.get("set-cookie")!.split(";")[0]!;
    // Another session, not signed out, to show the restart keeps sessions as such.
    const kept = (await request(first, "/login", { form: { token: ADMIN_TOKEN } })).headers.get("set-cookie")!.split(";")[0]!;
    expect((await request(first, "/dashboard", { cookie })).status).toBe(200);
    expect((await request(first, "/logout", { cookie, form: {} })).status).toBe(303);
    expect((await request(first, "/dashboard", { cookie })).status).toBe(302);

    const dataDir = first.dataDir;
    await first.stop({ restart: true });
    servers.splice(servers.indexOf(first), 1);
    const second = await start(dataDir);

    const replay = await request(second, "/dashboard", { cookie });
    expect(replay.status).toBe(302);
    expect(replay.headers.get("location")).toMatch(/^\/login/);
    expect((await request(second, "/dashboard", { cookie: kept })).status).toBe(200);
  });
});
