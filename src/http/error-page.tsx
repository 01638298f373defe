import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { EserveslessError } from "../errors.js";
import { newNonce, Page, renderPage } from "./dashboard/layout.js";
import type { ErrorPage } from "./error-handler.js";

/** An error as a page in the dashboard's layout, for routes marked with `errorPage`. */
export function renderErrorPage(c: Context, page: ErrorPage, error: EserveslessError, status: ContentfulStatusCode) {
  const nonce = newNonce();
  return renderPage(
    c,
    nonce,
    <Page title={page.title} nonce={nonce} signedIn={page.signedIn}>
      <h1>{page.title}</h1>
      <p class="error">{error.message}</p>
      <p>
        <code>{error.code}</code>
        {page.back ? (
          <>
            {" · "}
            <a href={page.back.href}>{page.back.label}</a>
          </>
        ) : null}
      </p>
    </Page>,
    status,
  );
}
