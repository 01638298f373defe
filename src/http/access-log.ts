import type { Logger } from "pino";

/** What the server log says of one invocation. */
export interface AccessLine {
  function: string;
  method: string;
  path: string;
  status: number;
  ms: number;
  cold: boolean;
  container: string;
}

/** A function's invocations since the first of the current window was logged. */
interface Window {
  requests: number;
  statuses: Record<string, number>;
  /** 5xx answers logged whole in this window. */
  errorLines: number;
}

/** How long the invocations of one function are summed up in one line. */
export const ACCESS_WINDOW_MS = 1000;
/** 5xx answers of one function logged whole per window; the rest are counted. */
export const MAX_ERROR_LINES = 10;
/** The longest path a line quotes: a stranger picks it, up to the request-line limit. */
export const MAX_LOGGED_PATH = 512;

/**
 * The server log's invocation lines, at a cost that does not grow with the
 * request rate: per function, the first invocation of each second gets a line
 * of its own ("invocation"), and the others of that second one line at its end
 * ("invocations": how many, by status), so the counts stay exact. The
 * first {@link MAX_ERROR_LINES} 5xx answers of a window get lines of their
 * own too; past them, callers who can make a function fail cannot make the
 * log grow faster. Paths are cut at {@link MAX_LOGGED_PATH} characters. A
 * line per request cost about 14 µs of the
 * router's CPU per request under load (JSON, buffered writes, a thread pool
 * round trip per 4 KiB); the exact record of each request is the invocation
 * log's (`eserveless logs`) and the metrics'.
 */
export function accessLog(log: Logger, windowMs = ACCESS_WINDOW_MS) {
  const windows = new Map<string, Window>();
  const close = (fn: string) => {
    const window = windows.get(fn);
    windows.delete(fn);
    if (window && window.requests > 0) log.info({ function: fn, requests: window.requests, statuses: window.statuses, seconds: windowMs / 1000 }, "invocations");
  };
  return {
    /** Writes the summary lines of the windows still open: at stop, so no second's count is lost. */
    flush(): void {
      for (const fn of [...windows.keys()]) close(fn);
    },
    record(line: AccessLine): void {
      if (!log.isLevelEnabled("info")) return;
      let window = windows.get(line.function);
      const first = window === undefined;
      if (!window) {
        window = { requests: 0, statuses: {}, errorLines: 0 };
        windows.set(line.function, window);
        setTimeout(close, windowMs, line.function).unref();
      }
      if (first || (line.status >= 500 && window.errorLines++ < MAX_ERROR_LINES)) {
        log.info(line.path.length > MAX_LOGGED_PATH ? { ...line, path: `${line.path.slice(0, MAX_LOGGED_PATH)}…` } : line, "invocation");
        return;
      }
      window.requests++;
      window.statuses[line.status] = (window.statuses[line.status] ?? 0) + 1;
    },
  };
}
