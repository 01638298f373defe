import Docker from "dockerode";
import { generateKeyPairSync } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unreachableDocker, wireApp, type WiredApp } from "../support/wire-app.js";

// /healthz reports on the Docker engine, so these tests need one.

const privateKey = generateKeyPairSync("rsa", {
  modulusLength: 2048,
  privateKeyEncoding: { type: "pkcs1", format: "pem" },
  publicKeyEncoding: { type: "spki", format: "pem" },
}).privateKey;
const GITHUB = { APP_ID: "4242", PRIVATE_KEY: privateKey, WEBHOOK_SECRET: "webhook-secret-for-tests", GITHUB_API_URL: "http://127.0.0.1:9" };

let configured: WiredApp;
let unconfigured: WiredApp;
let noDocker: WiredApp;

beforeAll(async () => {
  configured = await wireApp({ docker: new Docker(), env: GITHUB });
  unconfigured = await wireApp({ docker: new Docker() });
  noDocker = await wireApp({ docker: unreachableDocker(), env: GITHUB });
});

afterAll(async () => {
  for (const wired of [configured, unconfigured, noDocker]) await wired?.close();
});

describe("GET /healthz", () => {
  it("answers 200 when Docker answers", async () => {
    const response = await configured.app.request("/healthz");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok", docker: "ok", github: "configured" });
  });

  it("says when the GitHub App is not configured", async () => {
    expect(await (await unconfigured.app.request("/healthz")).json()).toMatchObject({ status: "ok", github: "not configured" });
  });

  it("answers 503 when Docker cannot be reached", async () => {
    const response = await noDocker.app.request("/healthz");
    expect(response.status).toBe(503);
    const body = (await response.json()) as { status: string; docker: string };
    expect(body.status).toBe("degraded");
    expect(body.docker).toMatch(/^unreachable: /);
  });
});
