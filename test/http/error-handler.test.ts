import { Hono } from "hono";
import { csrf } from "hono/csrf";
import { HTTPException } from "hono/http-exception";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { EserveslessError, NotFoundError } from "../../src/errors.js";
import { errorHandler, errorPage } from "../../src/http/error-handler.js";

/** An app with the one error handler, and the lines it logged. */
function appWithHandler() {
  const logged: Array<{ level: number; msg: string }> = [];
  const log = pino({ level: "info" }, { write: (line: string) => void logged.push(JSON.parse(line) as { level: number; msg: string }) });
  const app = new Hono().onError(errorHandler({ log }));
  return { app, logged };
}

const HTML = { accept: "text/html,application/xhtml+xml" };

describe("the one error handler", () => {
  it("answers an EserveslessError with its status, code, message and headers as JSON", async () => {
    const { app } = appWithHandler();
    app.get("/busy", () => {
      throw new EserveslessError("Busy; retry in a moment", { status: 503, code: "busy", headers: { "retry-after": "5" } });
    });
    const response = await app.request("/busy");
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("5");
    expect(await response.json()).toEqual({ error: { code: "busy", message: "Busy; retry in a moment" } });
  });

  it("answers hono's own HTTPException with its status, not a 500", async () => {
    const { app, logged } = appWithHandler();
    app.post("/form", csrf(), (c) => c.text("done"));
    app.get("/malformed", () => {
      throw new HTTPException(400, { message: "Malformed JSON in request body" });
    });
    // A form posted from another site: csrf() throws a 403 HTTPException.
    const forged = await app.request("http://fn.example.com/form", {
      method: "POST",
      headers: { origin: "http://evil.example", "content-type": "application/x-www-form-urlencoded" },
      body: "a=1",
    });
    expect(forged.status).toBe(403);
    expect(await forged.json()).toEqual({
      error: { code: "cross_site_request", message: "This form was sent from another site, so it was not acted on. Open the dashboard and try again from there." },
    });
    const malformed = await app.request("/malformed");
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toEqual({ error: { code: "bad_request", message: "Malformed JSON in request body" } });
    // Refusals are not server faults: nothing logged.
    expect(logged).toEqual([]);
  });

  it("logs any other error and answers a 500 that gives nothing of it away", async () => {
    const { app, logged } = appWithHandler();
    app.get("/crash", () => {
      throw new Error("the database password is hunter2");
    });
    const response = await app.request("/crash", { headers: HTML });
    expect(response.status).toBe(500);
    const body = await response.text();
    expect(body).not.toContain("hunter2");
    expect(JSON.parse(body)).toEqual({ error: { code: "internal", message: "Internal server error; the server log has the details." } });
    expect(logged.map((line) => line.msg)).toEqual(["unhandled error"]);
  });

  it("keeps a status that is not in hono's list, and answers 500 for one that cannot carry a body", async () => {
    const { app } = appWithHandler();
    app.get("/gone", () => {
      throw new EserveslessError("The caller went away", { status: 499, code: "client_gone" });
    });
    app.get("/empty", () => {
      throw new EserveslessError("No content", { status: 204, code: "odd" });
    });
    expect((await app.request("/gone")).status).toBe(499);
    expect((await app.request("/empty")).status).toBe(500);
  });
});

describe("error pages", () => {
  function pagesApp() {
    const { app } = appWithHandler();
    const setup = errorPage({ title: "Setup failed", back: { href: "/setup", label: "Back to setup" } });
    app.get("/setup", setup, () => {
      throw new NotFoundError("No <script>alert(1)</script> here", { code: "nothing" });
    });
    app.post("/form", errorPage({ title: "Refused", html: "always" }), csrf(), errorPage({ title: "Not started", html: "always" }), () => {
      throw new EserveslessError("Already running", { status: 409, code: "busy" });
    });
    app.get("/api", () => {
      throw new NotFoundError("No such thing");
    });
    return app;
  }

  it("answers a browser on a page route with a page in the dashboard's layout, escaping the message", async () => {
    const response = await pagesApp().request("/setup", { headers: HTML });
    expect(response.status).toBe(404);
    expect(response.headers.get("content-type")).toMatch(/^text\/html/);
    expect(response.headers.get("content-security-policy")).toContain("default-src 'none'");
    const page = await response.text();
    expect(page).toMatch(/^<!doctype html>/);
    expect(page).toContain("<title>Setup failed · eserveless</title>");
    expect(page).toContain("<h1>Setup failed</h1>");
    expect(page).toContain("No &lt;script&gt;alert(1)&lt;/script&gt; here");
    expect(page).not.toContain("<script>alert(1)");
    expect(page).toContain("<code>nothing</code>");
    expect(page).toContain('<a href="/setup">Back to setup</a>');
  });

  it("answers JSON on a page route to a client that does not accept HTML, and on any other route", async () => {
    const app = pagesApp();
    const json = await app.request("/setup", { headers: { accept: "application/json" } });
    expect(json.status).toBe(404);
    expect(await json.json()).toEqual({ error: { code: "nothing", message: "No <script>alert(1)</script> here" } });
    const api = await app.request("/api", { headers: HTML });
    expect(api.headers.get("content-type")).toMatch(/^application\/json/);
  });

  it("takes the heading of the last page mark the request passed, whatever it accepts with html: always", async () => {
    const app = pagesApp();
    const forged = await app.request("http://fn.example.com/form", {
      method: "POST",
      headers: { origin: "http://evil.example", "content-type": "application/x-www-form-urlencoded" },
      body: "a=1",
    });
    expect(forged.status).toBe(403);
    expect(await forged.text()).toContain("<h1>Refused</h1>");
    const busy = await app.request("http://fn.example.com/form", {
      method: "POST",
      headers: { origin: "http://fn.example.com", "content-type": "application/x-www-form-urlencoded" },
      body: "a=1",
    });
    expect(busy.status).toBe(409);
    const page = await busy.text();
    expect(page).toContain("<h1>Not started</h1>");
    expect(page).toContain("Already running");
  });
});
