import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { MAX_SECRET_VALUE_BYTES } from "../../src/contract/secret.js";
import { createStore } from "../../src/store/store.js";
import { SecretsKeyError, createSecretStore } from "../../src/store/secrets-store.js";
import { openDatabase } from "../../src/store/open-database.js";
import { useTempStore } from "../support/temp-store.js";

const key = randomBytes(32);
const temp = useTempStore((db, clock) => createSecretStore(db, { now: clock.now, keys: { key } }));
const VALUE = "sk_live_51HxQ-the-stripe-key-7f3a";
const set = (name: string, value = VALUE, repository = "acme/api") => temp.store.setSecret({ repository, environment: "production", name, value });
const rows = () => temp.db.prepare("SELECT * FROM secrets ORDER BY name").all() as Array<{ name: string; sealed: string }>;

describe("the secrets store", () => {
  it("seals each value with a nonce of its own: neither the database file nor its rows hold the value", () => {
    set("STRIPE_KEY");
    set("OTHER_KEY");
    temp.db.pragma("wal_checkpoint(TRUNCATE)");
    expect(readFileSync(temp.path).includes(Buffer.from(VALUE))).toBe(false);
    const [a, b] = rows();
    // The same value twice, two different ciphertexts.
    expect(a!.sealed).not.toBe(b!.sealed);
    expect(temp.store.secretValues("ACME/api", "production", ["STRIPE_KEY", "MISSING"])).toEqual({ STRIPE_KEY: VALUE });
    expect(temp.store.secretValues("acme/api", "preview", ["STRIPE_KEY"])).toEqual({});
    expect(temp.store.listSecrets("acme/api").map((s) => s.name)).toEqual(["OTHER_KEY", "STRIPE_KEY"]);
    expect(JSON.stringify(temp.store.listSecrets("acme/api"))).not.toContain(VALUE);
  });

  it("does not open a value copied onto another row", () => {
    set("STRIPE_KEY");
    set("DB_URL", "postgres://other");
    temp.db.prepare("UPDATE secrets SET sealed = (SELECT sealed FROM secrets WHERE name = 'STRIPE_KEY') WHERE name = 'DB_URL'").run();
    expect(() => createSecretStore(temp.db, { now: temp.clock.now, keys: { key } })).toThrow(SecretsKeyError);
  });

  it("refuses bad names and values, saying why", () => {
    const refusal = (name: string, value = VALUE) => {
      try {
        set(name, value);
      } catch (error) {
        return (error as Error).message;
      }
      return "set";
    };
    expect(refusal("stripe_key")).toMatch(/not a secret name/);
    expect(refusal("A".repeat(65))).toMatch(/at most 64/);
    expect(refusal("PORT")).toMatch(/"PORT" is reserved: the runtime sets it/);
    expect(refusal("HOME")).toMatch(/reserved/);
    expect(refusal("PATH")).toMatch(/reserved/);
    expect(refusal("ESERVELESS_X")).toMatch(/ESERVELESS_\* variables/);
    expect(refusal("OK", "a\0b")).toMatch(/NUL/);
    expect(refusal("OK", "x".repeat(MAX_SECRET_VALUE_BYTES + 1))).toMatch(/at most 65536/);
    expect(refusal("OK", "x".repeat(MAX_SECRET_VALUE_BYTES))).toBe("set");
    expect(rows().map((r) => r.name)).toEqual(["OK"]);
  });

  it("masks every known value, and each line of a value of several lines", () => {
    set("STRIPE_KEY");
    set("PEM", "-----BEGIN KEY-----\nMIIBOgIBAAJBAKj34\n-----END KEY-----");
    set("SHORT", "abc");
    expect(temp.store.maskSecrets(`key=${VALUE}; line MIIBOgIBAAJBAKj34; abc`)).toBe("key=***; line ***; abc");
    temp.store.deleteSecret("acme/api", "production", "STRIPE_KEY");
    expect(temp.store.maskSecrets(VALUE)).toBe(VALUE);
  });
});

describe("the key", () => {
  it("a wrong key stops the open with a clear message and changes nothing", () => {
    set("STRIPE_KEY");
    const before = rows();
    temp.db.close();
    expect(() => createStore(temp.path, { secrets: { key: randomBytes(32) } })).toThrow(/does not open 1 of the 1 secrets.*Nothing was changed/s);
    const db = openDatabase(temp.path);
    expect(db.prepare("SELECT * FROM secrets ORDER BY name").all()).toEqual(before);
    expect(createSecretStore(db, { now: temp.clock.now, keys: { key } }).secretValues("acme/api", "production", ["STRIPE_KEY"])).toEqual({ STRIPE_KEY: VALUE });
    db.close();
  });

  it("re-encrypts under a new key from the previous one at open", () => {
    set("STRIPE_KEY");
    temp.db.close();
    const next = randomBytes(32);
    const rotated = createStore(temp.path, { secrets: { key: next, previous: key } });
    expect(rotated.secretsReencrypted).toBe(1);
    rotated.close();
    // The old key opens nothing any more; the new one alone does.
    expect(() => createStore(temp.path, { secrets: { key } })).toThrow(SecretsKeyError);
    const store = createStore(temp.path, { secrets: { key: next } });
    expect(store.secretsReencrypted).toBe(0);
    expect(store.secretValues("acme/api", "production", ["STRIPE_KEY"])).toEqual({ STRIPE_KEY: VALUE });
    store.close();
  });
});

describe("masking in what the store keeps", () => {
  it("keeps *** for a known value in cron output and errors, function output, deployment log lines and descriptions", () => {
    temp.db.close();
    const store = createStore(temp.path, { secrets: { key } });
    try {
      store.setSecret({ repository: "acme/api", environment: "production", name: "STRIPE_KEY", value: VALUE });
      const run = store.createRun({ repository: "acme/api", function: "Nightly", deploymentId: "d1", commit: "c".repeat(40), trigger: "schedule", state: "running" });
      store.finishRun(run.id, { state: "failed", exitCode: 1, durationMs: 5, output: `charging with ${VALUE}\n`, error: `crashed: ${VALUE}` });
      expect(store.getRun(run.id)).toMatchObject({ output: "charging with ***\n", error: "crashed: ***" });
      store.appendOutput([{ repository: "acme/api", function: "API", replica: "es-a", stream: "stdout", at: 1, line: `key=${VALUE}` }]);
      expect(store.functionOutput("acme/api", "API").map((l) => l.line)).toEqual(["key=***"]);
      const deployment = store.createDeployment({ repository: "acme/api", commit: "c".repeat(40), ref: null, trigger: "local" });
      store.appendLog(deployment.id, `  API | ${VALUE}`, { private: true });
      store.updateDeployment(deployment.id, { state: "failure", description: `API: cannot connect with ${VALUE}` });
      expect(store.deploymentLog(deployment.id).map((l) => l.line)).toEqual(["  API | ***"]);
      expect(store.getDeployment(deployment.id)?.description).toBe("API: cannot connect with ***");
    } finally {
      store.close();
    }
  });
});
