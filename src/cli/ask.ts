import { createInterface } from "node:readline/promises";

/** One typed line in answer to `prompt`, or undefined when `input` is not a terminal (nobody to ask). */
export async function ask(input: NodeJS.ReadableStream & { isTTY?: boolean }, output: NodeJS.WritableStream, prompt: string): Promise<string | undefined> {
  if (!input.isTTY) return undefined;
  const lines = createInterface({ input, output, terminal: true });
  try {
    return await lines.question(prompt);
  } finally {
    lines.close();
  }
}
