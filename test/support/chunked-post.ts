import { request, type IncomingHttpHeaders } from "node:http";

export interface ChunkedPostAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** Body bytes the client had handed to its socket when the answer's headers came. */
  sentBefore: number;
}

/**
 * A POST whose body the test sends piece by piece over a real socket, as an attacker would:
 * it shows whether the server answers before the body is sent, and lets the sender stop once
 * it has. Chunked, unless `headers` declare a content-length.
 */
export function chunkedPost(url: string, headers: Record<string, string>) {
  const framing = Object.keys(headers).some((name) => name.toLowerCase() === "content-length") ? {} : { "transfer-encoding": "chunked" };
  const req = request(url, { method: "POST", headers: { ...headers, ...framing } });
  let sent = 0;
  let answered = false;
  const response = new Promise<ChunkedPostAnswer>((resolve, reject) => {
    req.once("response", (res) => {
      answered = true;
      const sentBefore = sent;
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.once("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8"), sentBefore }));
      res.once("error", reject);
    });
    // Writes after an early answer may fail when the server closes the socket; the answer stands.
    req.on("error", reject);
  });
  response.catch(() => undefined); // callers that stop early may never await it
  req.flushHeaders();

  return {
    response,
    /** Body bytes handed to the socket so far. */
    get sent(): number {
      return sent;
    },
    /** Whether the server has answered (its status line and headers arrived). */
    get answered(): boolean {
      return answered;
    },
    /** Sends a chunk and waits until the socket takes it; false once the server has answered or the socket is gone. */
    async write(chunk: Buffer): Promise<boolean> {
      if (answered || req.destroyed) return false;
      sent += chunk.length;
      if (!req.write(chunk)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            req.off("drain", done).off("close", done).off("response", done);
            resolve();
          };
          req.on("drain", done).on("close", done).on("response", done);
        });
      }
      return !answered && !req.destroyed;
    },
    /** Ends the body. */
    end(): void {
      if (!req.destroyed) req.end();
    },
    /** Drops the connection. */
    destroy(): void {
      req.destroy();
    },
  };
}

export type ChunkedPost = ReturnType<typeof chunkedPost>;
