/** Where pino writes: an object with a synchronous `write`, as pino takes for a destination. */
export interface LogOutput {
  write(text: string): unknown;
}

const LEVELS: Record<number, { name: string; color: string }> = {
  10: { name: "TRACE", color: "\x1b[90m" },
  20: { name: "DEBUG", color: "\x1b[36m" },
  30: { name: "INFO ", color: "\x1b[32m" },
  40: { name: "WARN ", color: "\x1b[33m" },
  50: { name: "ERROR", color: "\x1b[31m" },
  60: { name: "FATAL", color: "\x1b[35m" },
};
const RESET = "\x1b[0m";
const DIM = "\x1b[2m";
/** pino's own fields, shown by position rather than as key=value. */
const OWN_FIELDS = new Set(["level", "time", "pid", "hostname", "msg", "err", "v"]);

const twoDigits = (n: number, width = 2) => String(n).padStart(width, "0");

function fieldValue(value: unknown): string {
  if (typeof value === "string") return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value) ?? String(value);
}

/**
 * Turns one line of pino JSON into a line for people: local time, level,
 * message, then the other fields as key=value, and an error's stack below.
 * A line that is not pino JSON is passed on as it is.
 */
export function prettyLogLine(json: string, options: { color: boolean }): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  if (typeof entry !== "object" || entry === null) return json;
  const paint = (code: string, text: string) => (options.color ? `${code}${text}${RESET}` : text);
  const time = new Date(typeof entry.time === "number" ? entry.time : Date.now());
  const clock = `${twoDigits(time.getHours())}:${twoDigits(time.getMinutes())}:${twoDigits(time.getSeconds())}.${twoDigits(time.getMilliseconds(), 3)}`;
  const level = LEVELS[entry.level as number] ?? { name: String(entry.level).toUpperCase().padEnd(5), color: "" };
  const fields = Object.entries(entry)
    .filter(([key]) => !OWN_FIELDS.has(key))
    .map(([key, value]) => `${key}=${fieldValue(value)}`);
  const err = entry.err as { stack?: string; message?: string } | undefined;
  const stack = err ? `\n    ${(err.stack ?? err.message ?? JSON.stringify(err)).replace(/\n/g, "\n    ")}` : "";
  const rest = fields.length > 0 ? ` ${paint(DIM, fields.join(" "))}` : "";
  return `${paint(DIM, clock)} ${paint(level.color, level.name)} ${String(entry.msg ?? "")}${rest}${stack}\n`;
}

/** A pino destination that writes {@link prettyLogLine}s to `out`. */
export function prettyLogOutput(out: LogOutput, options: { color: boolean }): LogOutput {
  let pending = "";
  return {
    write(chunk: string) {
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) if (line !== "") out.write(prettyLogLine(line, options));
    },
  };
}
