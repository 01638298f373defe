import { expect } from "vitest";
import { ADMIN_TOKEN } from "./start-eserveless.js";

/**
 * Signs in to the dashboard of `server` with the admin token, as its login
 * form posts it (same origin); checks it was let in. Returns the session
 * cookie to send (`name=value`), its whole Set-Cookie header, and the answer.
 */
export async function signIn(server: { url: string }): Promise<{ cookie: string; setCookie: string; response: Response }> {
  const response = await fetch(`${server.url}/login`, {
    method: "POST",
    headers: { origin: server.url, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token: ADMIN_TOKEN, next: "/dashboard" }),
    redirect: "manual",
  });
  expect(response.status).toBe(303);
  const setCookie = response.headers.get("set-cookie") ?? "";
  return { cookie: setCookie.split(";")[0]!, setCookie, response };
}
