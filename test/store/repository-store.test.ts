import { describe, expect, it } from "vitest";
import { createRepositoryStore } from "../../src/store/repository-store.js";
import { useTempStore } from "../support/temp-store.js";

const temp = useTempStore(createRepositoryStore);

describe("repositories", () => {
  it("upserts the installation and keeps a known default branch when none is given", () => {
    const store = temp.store;
    store.upsertRepository({ fullName: "Octo/Hello", installationId: 1, defaultBranch: "main" });
    store.upsertRepository({ fullName: "octo/hello", installationId: 2 });
    expect(store.getRepository("OCTO/HELLO")).toEqual({ fullName: "Octo/Hello", installationId: 2, defaultBranch: "main" });

    store.upsertRepository({ fullName: "octo/hello", installationId: 2, defaultBranch: "trunk" });
    expect(store.getRepository("octo/hello")?.defaultBranch).toBe("trunk");
    expect(store.getRepository("octo/other")).toBeUndefined();
  });

  it("forgets a whole installation, and only that one", () => {
    const store = temp.store;
    store.upsertRepository({ fullName: "octo/a", installationId: 1 });
    store.upsertRepository({ fullName: "octo/b", installationId: 1 });
    store.upsertRepository({ fullName: "other/c", installationId: 2 });
    store.forgetInstallation(1);
    expect(store.getRepository("octo/a")?.installationId).toBeNull();
    expect(store.getRepository("octo/b")?.installationId).toBeNull();
    expect(store.getRepository("other/c")?.installationId).toBe(2);
  });

  it("forgets only the named repositories of an installation, whatever their case", () => {
    const store = temp.store;
    store.upsertRepository({ fullName: "octo/a", installationId: 1 });
    store.upsertRepository({ fullName: "octo/b", installationId: 1 });
    store.upsertRepository({ fullName: "octo/c", installationId: 3 });
    store.forgetInstallation(1, ["OCTO/A", "octo/c"]);
    expect(store.getRepository("octo/a")?.installationId).toBeNull();
    expect(store.getRepository("octo/b")?.installationId).toBe(1);
    // octo/c belongs to another installation: removing it from installation 1 must not touch it.
    expect(store.getRepository("octo/c")?.installationId).toBe(3);
  });

  it("refuses a row changed outside eserveless with an error that names it, rather than handing out a wrong type", () => {
    temp.store.upsertRepository({ fullName: "octo/a", installationId: 1 });
    temp.db.prepare(`UPDATE repositories SET installation_id = 'one' WHERE full_name = 'octo/a'`).run();
    expect(() => temp.store.getRepository("octo/a")).toThrow(/The database holds repository octo\/a that eserveless cannot read \(installation_id: Invalid type: Expected number but received "one"\); restore the database from a backup\./);
  });
});
