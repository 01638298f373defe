import { randomBytes } from "node:crypto";
import type { Context } from "hono";
import { html } from "hono/html";
import type { Child, FC } from "hono/jsx";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** The one stylesheet of every page (dashboard, deployments, cron runs, setup): system font, a little colour. */
export const STYLE = `
:root { color-scheme: light; --text: #1f2328; --muted: #59636e; --border: #d1d9e0; --subtle: #f6f8fa; --link: #0969da; --focus: #0969da; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; color: var(--text); background: #fff; }
a { color: var(--link); text-decoration: none; } a:hover { text-decoration: underline; }
a:focus-visible, button:focus-visible, input:focus-visible, pre:focus-visible { outline: 2px solid var(--focus); outline-offset: 2px; }
.sr-only { position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0; }
.skip { position: absolute; left: -999px; top: .5rem; background: #fff; padding: .25rem .5rem; } .skip:focus { left: .5rem; }
header.top { display: flex; align-items: center; justify-content: space-between; gap: 1rem; padding: .6rem 1.5rem; border-bottom: 1px solid var(--border); background: var(--subtle); }
.brand { font-weight: 700; color: var(--text); font-size: 1.05rem; letter-spacing: -.01em; }
.brand::before { content: "λ"; display: inline-block; width: 1.5rem; height: 1.5rem; margin-right: .45rem; border-radius: 6px; background: #1f2328; color: #fff; text-align: center; line-height: 1.5rem; font-size: .95rem; }
header nav { display: flex; align-items: center; gap: 1rem; }
header nav form { margin: 0; }
main { max-width: 68rem; margin: 0 auto; padding: 1.5rem; }
h1 { font-size: 1.6rem; margin: .25rem 0 1rem; line-height: 1.25; word-break: break-word; }
h2 { font-size: 1.15rem; margin: 2rem 0 .75rem; }
.crumbs { font-size: .9rem; color: var(--muted); margin: 0; } .crumbs a { color: var(--muted); }
.muted { color: var(--muted); }
.nowrap { white-space: nowrap; }
.failing { color: #a40e26; }
.desc { font-size: .9rem; min-width: 12rem; max-width: 28rem; }
#description { white-space: pre-line; flex-basis: 100%; }
#description:empty { display: none; }
.meta { color: var(--muted); margin: 0 0 1rem; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas, "Liberation Mono", monospace; font-size: .88em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .5rem .75rem; border-bottom: 1px solid var(--border); vertical-align: top; }
thead th { font-size: .8rem; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); font-weight: 600; border-bottom-width: 2px; }
tbody th { font-weight: 600; }
.table-wrap { position: relative; overflow-x: auto; border: 1px solid var(--border); border-radius: 8px; }
.table-wrap table tr:last-child > * { border-bottom: 0; }
ul.plain { list-style: none; margin: 0; padding: 0; } ul.plain li + li { margin-top: .2rem; }
.url { overflow-wrap: anywhere; }
.badge { display: inline-block; padding: .05rem .55rem; border-radius: 999px; font-size: .82rem; font-weight: 600; white-space: nowrap; border: 1px solid transparent; }
.badge-success, .badge-succeeded { background: #dafbe1; color: #116329; border-color: #aceebb; }
.badge-failure, .badge-error, .badge-failed, .badge-timed_out { background: #ffebe9; color: #a40e26; border-color: #ffcecb; }
.badge-queued, .badge-building, .badge-starting, .badge-running { background: #fff8c5; color: #7d4e00; border-color: #f5e0a1; }
.badge-superseded, .badge-skipped, .badge-none { background: #eff2f5; color: #59636e; border-color: #d1d9e0; }
.badge-queued::before, .badge-building::before, .badge-starting::before, .badge-running::before { content: ""; display: inline-block; width: .5rem; height: .5rem; margin-right: .35rem; border-radius: 50%; background: currentColor; animation: pulse 1.2s ease-in-out infinite; vertical-align: .05rem; }
@keyframes pulse { 50% { opacity: .25; } }
@media (prefers-reduced-motion: reduce) { .badge::before { animation: none !important; } }
.status { display: flex; flex-wrap: wrap; align-items: baseline; gap: .5rem; margin: 0 0 1rem; }
pre.log { background: #0d1117; color: #e6edf3; padding: 1rem; border-radius: 8px; overflow: auto; max-height: 34rem; margin: 0; line-height: 1.45; white-space: pre-wrap; word-break: break-word; }
pre.log:empty::before { content: "No output yet."; color: #8b949e; }
.log-head { display: flex; align-items: baseline; gap: .75rem; } .log-head h2 { margin-bottom: .5rem; }
.cards { display: grid; gap: 1rem; grid-template-columns: repeat(auto-fill, minmax(min(100%, 24rem), 1fr)); }
.card { border: 1px solid var(--border); border-radius: 8px; padding: 1rem 1.1rem; }
.card h3 { margin: 0 0 .35rem; font-size: 1.05rem; word-break: break-word; }
.card p { margin: .25rem 0; }
.card ul { margin-top: .6rem; }
.notice { border: 1px solid var(--border); background: var(--subtle); border-radius: 8px; padding: .75rem 1rem; }
.note { border: 1px solid #d4a72c; background: #fff8c5; border-radius: 8px; padding: .6rem .9rem; }
pre.block { background: var(--subtle); padding: 1rem; overflow-x: auto; border-radius: 6px; margin: .25rem 0 1rem; }
dt { font-weight: 600; } dd { margin: 0 0 .5rem 0; }
.error { border: 1px solid #ffcecb; background: #ffebe9; color: #a40e26; border-radius: 8px; padding: .6rem .9rem; margin: 0 0 1rem; }
.login { max-width: 24rem; margin: 3rem auto; border: 1px solid var(--border); border-radius: 10px; padding: 1.5rem; }
.login h1 { font-size: 1.35rem; margin-top: 0; }
label { display: block; font-weight: 600; margin-bottom: .3rem; }
input[type=password] { width: 100%; font: inherit; padding: .45rem .6rem; border: 1px solid var(--border); border-radius: 6px; }
.hint { font-size: .88rem; color: var(--muted); margin: .35rem 0 1rem; }
button { font: inherit; cursor: pointer; border-radius: 6px; padding: .35rem .9rem; border: 1px solid var(--border); background: #fff; color: var(--text); }
button.primary { background: #1f883d; border-color: #1a7f37; color: #fff; font-weight: 600; width: 100%; padding: .5rem; }
button.small { font-size: .85rem; padding: .15rem .6rem; }
button.link { border: 0; background: none; color: var(--link); padding: 0; }
form.inline { display: inline; margin: 0; }
`;

/** A fresh nonce for the one inline script a page may carry. */
export function newNonce(): string {
  return randomBytes(16).toString("base64");
}

/**
 * Headers of every HTML page of the dashboard: a CSP that runs only the
 * page's own nonce'd script and fetches only from this origin, no framing
 * (the forms cannot be clickjacked), and nothing kept in caches.
 */
export function setPageHeaders(c: Context, nonce: string, options: { cache?: boolean } = {}): void {
  c.header(
    "Content-Security-Policy",
    `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
  );
  c.header("X-Content-Type-Options", "nosniff");
  c.header("Referrer-Policy", "same-origin");
  if (!options.cache) c.header("Cache-Control", "no-store");
}

export type PageStatus = ContentfulStatusCode;

/** A page as an HTML document: its doctype, then the page. */
export function htmlDocument(page: Child) {
  return html`<!doctype html>${page}`;
}

/** Renders a page with its doctype and headers. */
export function renderPage(c: Context, nonce: string, page: Child, status: PageStatus = 200) {
  setPageHeaders(c, nonce);
  return c.html(htmlDocument(page), status);
}

export interface PageProps {
  title: string;
  /** The nonce of the page's headers; needed for `script`. */
  nonce?: string;
  /** Shows the dashboard navigation and the sign-out button. */
  signedIn?: boolean;
  /** Leaves out the "Sign in" link (on the sign-in page itself). */
  hideSignIn?: boolean;
  /** Reloads the page every 2 s: always (a cron run going on), or only when scripting is off (a running deployment, which a script follows). */
  refresh?: "always" | "without-script";
  /** What links from the page tell the next site (`same-origin` by default). */
  referrer?: "same-origin" | "no-referrer";
  /** A script to run, allowed by the page's nonce. */
  script?: string;
  children?: Child;
}

/** The frame of every page: header with navigation, then the content. */
export const Page: FC<PageProps> = (props) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <meta name="referrer" content={props.referrer ?? "same-origin"} />
      {props.refresh === "always" ? <meta http-equiv="refresh" content="2" /> : null}
      {props.refresh === "without-script" ? (
        <noscript>
          <meta http-equiv="refresh" content="2" />
        </noscript>
      ) : null}
      <title>{`${props.title} · eserveless`}</title>
      <style dangerouslySetInnerHTML={{ __html: STYLE }} />
    </head>
    <body>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href={props.signedIn ? "/dashboard" : "/"}>
          eserveless
        </a>
        <nav aria-label="Main">
          {props.signedIn ? (
            <>
              <a href="/dashboard">Dashboard</a>
              <form method="post" action="/logout" class="inline">
                <button type="submit" class="small">
                  Sign out
                </button>
              </form>
            </>
          ) : props.hideSignIn ? null : (
            <a href="/login">Sign in</a>
          )}
        </nav>
      </header>
      <main id="main">{props.children}</main>
      {props.script ? <script nonce={props.nonce} dangerouslySetInnerHTML={{ __html: props.script }} /> : null}
    </body>
  </html>
);
