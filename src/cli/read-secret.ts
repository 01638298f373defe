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

/**
 * A secret from standard input: on a terminal, a prompt on `prompt`'s stream
 * with nothing echoed, up to Enter; otherwise the whole input (its first line).
 * Undefined when it is longer than it may be.
 */
export async function readSecret(input: Input, output: { write(text: string): unknown }, prompt: string): Promise<string | undefined> {
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
            if (text.length > MAX_SECRET_BYTES) return resolve(undefined);
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
  let text = "";
  for await (const chunk of input) {
    text += chunk.toString();
    if (text.length > MAX_SECRET_BYTES) return undefined;
  }
  return text.split(/\r?\n/).find((line) => line.trim() !== "") ?? "";
}
