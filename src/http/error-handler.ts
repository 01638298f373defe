import type { Context, ErrorHandler, MiddlewareHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { Logger } from "pino";
import { EserveslessError } from "../errors.js";

/** How a route's errors look in a browser: a page in the dashboard's layout. */
export interface ErrorPage {
  /** The page's heading: what failed ("GitHub App setup failed"). */
  title: string;
  /** A link back to where the person can try again. */
  back?: { href: string; label: string };
  /** Shows the dashboard navigation (the route is behind the sign-in). */
  signedIn?: boolean;
  /**
   * `"accepted"` (the default): a page only when the request accepts
   * text/html, JSON otherwise. `"always"`: a page whatever it accepts (routes
   * only forms reach).
   */
  html?: "always" | "accepted";
}

declare module "hono" {
  interface ContextVariableMap {
    errorPage: ErrorPage;
  }
}

/**
 * Marks the rest of a route as a page: its errors answer with an HTML page
 * (see {@link ErrorPage}). The last one a request passed through decides, so
 * a route can give its middleware and its handler different headings.
 */
export function errorPage(page: ErrorPage | ((c: Context) => ErrorPage)): MiddlewareHandler {
  return async (c, next) => {
    c.set("errorPage", typeof page === "function" ? page(c) : page);
    await next();
  };
}

/**
 * What hono's own middleware means by the HTTPExceptions it throws without a
 * message. csrf() is the one that throws a 403 here: it guards the
 * dashboard's forms.
 */
const HTTP_EXCEPTIONS: Partial<Record<number, { code: string; message: string }>> = {
  400: { code: "bad_request", message: "The request is malformed." },
  401: { code: "unauthorized", message: "This needs credentials." },
  403: {
    code: "cross_site_request",
    message: "This form was sent from another site, so it was not acted on. Open the dashboard and try again from there.",
  },
  404: { code: "not_found", message: "There is nothing here." },
  413: { code: "payload_too_large", message: "The request body is too large." },
};

/** Hono's HTTPException as the one error type the handler answers with. */
function fromHttpException(error: HTTPException): EserveslessError {
  const known = HTTP_EXCEPTIONS[error.status];
  return new EserveslessError(error.message || known?.message || `The request failed (HTTP ${error.status}).`, {
    status: error.status,
    code: known?.code ?? (error.status >= 500 ? "internal" : "bad_request"),
    cause: error,
  });
}

/** A status a body may go with, as hono types it; anything else (a 204, a stray number) answers 500. */
function contentfulStatus(status: number): ContentfulStatusCode {
  const contentful = (s: number): s is ContentfulStatusCode => Number.isInteger(s) && s >= 200 && s <= 599 && s !== 204 && s !== 205 && s !== 304;
  return contentful(status) ? status : 500;
}

const INTERNAL = new EserveslessError("Internal server error; the server log has the details.", { status: 500, code: "internal" });

/** What an error answers with: a status a body may go with, the JSON body and the error's own headers. */
export interface ErrorAnswer {
  error: EserveslessError;
  status: ContentfulStatusCode;
  body: { error: { code: string; message: string } };
}

/**
 * How any error answers, logged as the app logs it: an {@link EserveslessError}
 * or hono's own HTTPException with its status, code and message (5xx logged);
 * anything else logged whole and answered as a 500 that gives nothing away.
 * The app's `onError` and the function router, which answers before hono, share it.
 */
export function errorAnswer(thrown: unknown, options: { log: Logger; method: string; path: string }): ErrorAnswer {
  let error: EserveslessError;
  if (thrown instanceof EserveslessError || thrown instanceof HTTPException) {
    error = thrown instanceof HTTPException ? fromHttpException(thrown) : thrown;
    if (error.status >= 500) options.log.warn({ err: error, path: options.path }, error.message);
  } else {
    options.log.error({ err: thrown, method: options.method, path: options.path }, "unhandled error");
    error = INTERNAL;
  }
  return { error, status: contentfulStatus(error.status), body: { error: { code: error.code, message: error.message } } };
}

/**
 * The app's one `onError` (see {@link errorAnswer}). Routes marked with
 * {@link errorPage} answer browsers with a page, the rest JSON
 * (`{ error: { code, message } }`).
 */
export function errorHandler(options: { log: Logger }): ErrorHandler {
  return async (thrown, c) => {
    const { error, status, body } = errorAnswer(thrown, { log: options.log, method: c.req.method, path: c.req.path });
    const page = c.get("errorPage");
    if (page && (page.html === "always" || (c.req.header("accept") ?? "").includes("text/html"))) {
      for (const [name, value] of Object.entries(error.headers)) c.header(name, value);
      // The page's templates load with the first page that needs them, not at start.
      const { renderErrorPage } = await import("./error-page.js");
      return renderErrorPage(c, page, error, status);
    }
    return c.json(body, status, error.headers);
  };
}
