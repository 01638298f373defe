// The minimal Node peer of bench/invoke.ts: http.request + pipe with a keep-alive agent.
// node node-proxy.mjs LISTEN_PORT (HOST:PORT | /path/to/socket)
import http from "node:http";
const [port, upstream] = process.argv.slice(2);
const [host, upstreamPort] = upstream.split(":");
const target = upstream.startsWith("/") ? { socketPath: upstream } : { host, port: Number(upstreamPort) };
const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });
http.createServer((req, res) => {
  const headers = { ...req.headers, "x-forwarded-for": req.socket.remoteAddress };
  const up = http.request({ ...target, agent, method: req.method, path: req.url, headers }, (answer) => {
    res.writeHead(answer.statusCode, answer.headers);
    answer.pipe(res);
  });
  up.on("error", () => res.writeHead(502).end());
  req.pipe(up);
}).listen(Number(port), "127.0.0.1");
