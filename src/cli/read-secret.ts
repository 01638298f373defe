/** The most a token read from stdin may be: a stray file piped in is refused, not read whole. */
const MAX_SECRET_BYTES = 4096;

interface Input extends AsyncIterable<Buffer | string> {
  isTTY?: boolean;
  setRawMode?: (raw: boolean) => unknown;
  on(event: "data", listener: (chunk: Buffer) => void): unknown;
  off(event: "data", listener: (chunk: Buffer) => void): unknown;
  resume(): unknown;
  pause(): unknown;
}

/** How much to read, and whether a piped input is taken whole (a secret's value: several lines) or its first line (a token). */
export interface ReadSecretOptions {
  maxBytes?: number;
  /** Piped: every byte, less one final newline (`echo` adds it), instead of the first line. */
  whole?: boolean;
}

/**
 * A secret from standard input: on a terminal, a prompt on `prompt`'s stream
 * with nothing echoed, up to Enter; otherwise the whole input (its first line,
 * or all of it with `whole`). Undefined when it is longer than it may be.
 */
export async function readSecret(input: Input, output: { write(text: string): unknown }, prompt: string, options: ReadSecretOptions = {}): Promise<string | undefined> {
  const maxBytes = options.maxBytes ?? MAX_SECRET_BYTES;
  if (input.isTTY && input.setRawMode) {
    output.write(prompt);
    input.setRawMode(true);
    input.resume();
    let onData: ((chunk: Buffer) => void) | undefined;
    try {
      return await new Promise<string | undefined>((resolve, reject) => {
        let text = "";
        onData = (chunk: Buffer) => {
          for (const char of chunk.toString("utf8")) {
            if (char === "\r" || char === "\n") return resolve(text);
            if (char === "\u0003") return reject(new Error("interrupted"));
            if (char === "\u007f" || char === "\b") text = text.slice(0, -1);
            else text += char;
            if (Buffer.byteLength(text) > maxBytes) return resolve(undefined);
          }
        };
        input.on("data", onData);
      }).finally(() => output.write("\n"));
    } finally {
      if (onData) input.off("data", onData);
      input.setRawMode(false);
      input.pause();
    }
  }
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of input) {
    const buffer = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    chunks.push(buffer);
    bytes += buffer.length;
    // One newline more than the most is still fine: it is taken off below.
    if (bytes > maxBytes + 2) return undefined;
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (options.whole) {
    const value = text.replace(/\r?\n$/, "");
    return Buffer.byteLength(value) > maxBytes ? undefined : value;
  }
  if (bytes > maxBytes) return undefined;
  return text.split(/\r?\n/).find((line) => line.trim() !== "") ?? "";
}
