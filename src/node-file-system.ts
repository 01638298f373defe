import { chmodSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import type { AppFileSystem } from "./github/app-setup.js";

/** The real file system, as `createEserveless` uses it for DATA_DIR's files: made by main.ts, the tests use it over a temporary DATA_DIR. */
export const nodeFileSystem: AppFileSystem = {
  readFile: (path) => readFileSync(path, "utf8"),
  writeFile: (path, data, options) => writeFileSync(path, data, options),
  chmod: chmodSync,
  rename: renameSync,
  unlink: unlinkSync,
};
