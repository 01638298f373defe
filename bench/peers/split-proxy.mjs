// The peers of bench/router-split.ts: the minimal Node proxy (http.request + pipe, as
// node-proxy.mjs) run one way per mode, to measure what a second router thread or
// process would give the router, and what it would cost.
//
//   node split-proxy.mjs upstream SOCKET          a trivial HTTP server on a Unix socket
//   node split-proxy.mjs one PORT SOCKET          one thread
//   node split-proxy.mjs threads PORT SOCKET      two threads accepting on one listening socket
//   node split-proxy.mjs processes PORT SOCKET    two processes accepting on one listening socket;
//                                                 the second asks the first for each request's slot
//   node split-proxy.mjs processes-free PORT SOCKET  the same without asking: its upper bound
import { fork } from "node:child_process";
import { unlinkSync } from "node:fs";
import http from "node:http";
import { Worker, isMainThread, workerData } from "node:worker_threads";

const [mode, port, socketPath] = process.argv.slice(2);

/** A proxy's request listener; `done` runs once the function's answer ended. */
function proxyListener(before = (_go) => _go(), done = () => {}) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });
  return (req, res) =>
    before(() => {
      const headers = { ...req.headers, "x-forwarded-for": req.socket.remoteAddress };
      const up = http.request({ socketPath, agent, method: req.method, path: req.url, headers }, (answer) => {
        res.writeHead(answer.statusCode, answer.headers);
        answer.pipe(res);
        answer.once("end", done);
      });
      up.on("error", () => res.writeHead(502).end());
      req.pipe(up);
    });
}

if (mode === "upstream") {
  try {
    unlinkSync(port);
  } catch {
    // none left by an earlier run
  }
  http.createServer((_req, res) => res.end("ok")).listen(port);
} else if (!isMainThread) {
  // The second thread: its own event loop on the first thread's listening descriptor. Its
  // handle closes that descriptor when the thread ends, under the first thread too: Node 20
  // can neither duplicate it nor open a second socket on the port (no SO_REUSEPORT before 22.12).
  http.createServer(proxyListener()).listen({ fd: workerData.fd });
} else if (process.argv[5] === "child") {
  // The second process: the listening socket arrives over IPC, a descriptor of its own.
  let next = 0;
  const waiting = new Map();
  let outbox = [];
  const post = (message) => {
    if (mode === "processes-free") return;
    // One IPC message per event-loop turn, however many requests it carries.
    if (outbox.length === 0) setImmediate(() => process.send(outbox.splice(0)));
    outbox.push(message);
  };
  const ask = (go) => {
    if (mode === "processes-free") return go();
    const id = next++;
    waiting.set(id, go);
    post({ acquire: id });
  };
  // Gone with the first process.
  process.once("disconnect", () => process.exit(0));
  process.on("message", (message, server) => {
    if (message === "server") return void http.createServer(proxyListener(ask, () => post({ release: 1 }))).listen(server);
    for (const id of message) {
      waiting.get(id)();
      waiting.delete(id);
    }
  });
} else {
  let inflight = 0;
  const server = http.createServer(proxyListener((go) => (inflight++, go()), () => inflight--));
  server.listen(Number(port), "127.0.0.1", () => {
    if (mode === "threads") new Worker(new URL(import.meta.url), { argv: [mode, port, socketPath], workerData: { fd: server._handle.fd } });
    if (mode === "processes" || mode === "processes-free") {
      const child = fork(new URL(import.meta.url).pathname, [mode, port, socketPath, "child"], { serialization: "advanced", execArgv: process.execArgv });
      // The first process keeps the count a router's pool would: each of the second's requests asks for a slot and gives it back.
      child.on("message", (batch) => {
        const granted = [];
        for (const message of batch) {
          if (message.acquire === undefined) inflight--;
          else {
            inflight++;
            granted.push(message.acquire);
          }
        }
        if (granted.length > 0) child.send(granted);
      });
      child.send("server", server);
    }
  });
}
