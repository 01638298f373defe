/** A stream the progress is written to (stderr, normally). */
export interface ProgressStream {
  write(text: string): unknown;
  /** The terminal width, when it is one. */
  columns?: number;
}

/** Shows a deployment as it goes: its log lines, and its state. */
export interface Progress {
  /** A line of the deployment's log. */
  line(text: string): void;
  /** The deployment's state or any short "what is happening" text. */
  status(text: string): void;
  /** Clears the status line and stops the spinner. */
  done(): void;
}

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const CLEAR_LINE = "\r\x1b[2K";

/**
 * On a terminal: log lines scroll above one status line with a spinner and
 * the time elapsed, redrawn in place. Elsewhere (a pipe, a CI log): plain
 * lines only, the status printed once each time it changes, no escape codes.
 */
export function createProgress(stream: ProgressStream, options: { tty: boolean; now?: () => number; intervalMs?: number }): Progress {
  if (!options.tty) {
    let last: string | undefined;
    return {
      line: (text) => void stream.write(`${text}\n`),
      status(text) {
        if (text === last) return;
        last = text;
        stream.write(`… ${text}\n`);
      },
      done() {},
    };
  }

  const now = options.now ?? Date.now;
  const started = now();
  let frame = 0;
  let status = "";
  let drawn = false;
  const draw = () => {
    const seconds = ((now() - started) / 1000).toFixed(1);
    const text = `${FRAMES[frame % FRAMES.length]} ${status} · ${seconds}s`;
    const width = Math.max(20, (stream.columns || 80) - 1);
    stream.write(`${CLEAR_LINE}${text.length > width ? `${text.slice(0, width - 1)}…` : text}`);
    drawn = true;
  };
  const timer = setInterval(() => {
    frame++;
    draw();
  }, options.intervalMs ?? 100);
  timer.unref();
  return {
    line(text) {
      stream.write(`${drawn ? CLEAR_LINE : ""}${text}\n`);
      drawn = false;
      if (status) draw();
    },
    status(text) {
      status = text;
      draw();
    },
    done() {
      clearInterval(timer);
      if (drawn) stream.write(CLEAR_LINE);
      drawn = false;
    },
  };
}
