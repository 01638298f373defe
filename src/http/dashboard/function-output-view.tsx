import type { FC } from "hono/jsx";
import type { OutputLine } from "../../contract/function-output.js";
import { projectPath } from "./format.js";
import { Page } from "./layout.js";

/** "2026-12-02 17:40:01.123Z  es-local-hello-api-1a2b3c  ! the line" (UTC; "!" marks stderr): the same for the page and its script. */
const OUTPUT_LINE_JS = `(line) => new Date(line.at).toISOString().replace("T", " ") + "  " + line.replica + "  " + (line.stream === "stderr" ? "! " : "") + line.line + "\\n"`;
const outputLine = (line: OutputLine) => `${new Date(line.at).toISOString().replace("T", " ")}  ${line.replica}  ${line.stream === "stderr" ? "! " : ""}${line.line}\n`;

/**
 * Follows a function's output on its page: every second it asks the page's
 * own URL (JSON, `?after=<seq>`) for newer lines and appends them as text,
 * never HTML, keeping the end in view unless the reader scrolled up.
 */
export const FOLLOW_OUTPUT_SCRIPT = `(() => {
  "use strict";
  const root = document.getElementById("function-output");
  if (!root) return;
  const log = document.getElementById("output"), status = document.getElementById("follow-status");
  const format = ${OUTPUT_LINE_JS};
  let after = Number(root.dataset.after) || 0;
  let delay = 1000;
  const poll = async () => {
    try {
      const response = await fetch(root.dataset.follow + "?after=" + after, { headers: { accept: "application/json" }, cache: "no-store", credentials: "same-origin" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const body = await response.json();
      if (body.output.length > 0) {
        const atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
        log.append(body.output.map(format).join(""));
        after = body.output[body.output.length - 1].seq;
        if (atEnd) log.scrollTop = log.scrollHeight;
      }
      delay = 1000;
      status.textContent = "following live";
    } catch {
      delay = Math.min(delay * 2, 15000);
      status.textContent = "lost contact with the server; retrying";
    }
    setTimeout(poll, delay);
  };
  log.scrollTop = log.scrollHeight;
  status.textContent = "following live";
  setTimeout(poll, delay);
})();`;

/**
 * An http function's own output (console.log, crash traces) from all its
 * replicas, oldest first, kept after the containers are gone; behind the
 * sign-in, since output may hold secrets. The script follows it live.
 */
export const FunctionOutputPage: FC<{ nonce: string; repository: string; name: string; url: string; path: string; output: OutputLine[] }> = ({
  nonce,
  repository,
  name,
  url,
  path,
  output,
}) => (
  <Page title={`${repository} · ${name} output`} nonce={nonce} signedIn refresh="without-script" script={FOLLOW_OUTPUT_SCRIPT}>
    <div id="function-output" data-follow={path} data-after={String(output.at(-1)?.seq ?? 0)}>
      <p class="crumbs">
        <a href="/dashboard">Dashboard</a> / <a href={projectPath(repository)}>{repository}</a> / function
      </p>
      <h1>
        {repository} · {name}
      </h1>
      <p class="meta">
        <a class="url" href={url}>
          {url}
        </a>
      </p>
      <section aria-labelledby="output-heading">
        <div class="log-head">
          <h2 id="output-heading">Output</h2>
          <span id="follow-status" class="muted" />
        </div>
        <p class="muted">What its replicas printed (time in UTC, replica, line; "!" marks stderr), the newest {output.length > 0 ? "lines" : "first"}, kept after the containers are gone.</p>
        <pre id="output" class="log" tabindex={0} aria-labelledby="output-heading">{output.map(outputLine).join("")}</pre>
      </section>
    </div>
  </Page>
);
