/**
 * Runs one eserveless (startEserveless) as its own process, so that a test can measure that
 * process's memory apart from its own. The settings come as JSON in ESERVELESS_TEST_ENV; it
 * prints `{"url": …}` on one line once it listens, and stops cleanly on SIGTERM.
 */
import { startEserveless } from "./start-eserveless.js";

const env = JSON.parse(process.env.ESERVELESS_TEST_ENV ?? "{}") as Record<string, string>;
const server = await startEserveless({ env });
process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
process.once("SIGTERM", () => {
  void server.stop().finally(() => process.exit(0));
});
