/**
 * Fixtures of the `Vary` tests: request headers that vary, and an origin that revalidates.
 *
 * @module
 */

import { reply } from "./_origin.ts";
import { type Scripted, scripted } from "./_scripted.ts";

/**
 * Request headers: an `Accept` and an `Accept-Language`.
 *
 * @param accept The `Accept` value.
 * @param language The `Accept-Language` value.
 * @returns A fetch init with those headers.
 */
export function as(accept: string, language: string): { headers: Record<string, string> } {
  return { headers: { accept, "accept-language": language } };
}

/**
 * A session over an origin that answers `If-None-Match: "e2"` with a `304` (and a `HEAD` after
 * its second request with a `200`) carrying `vary.list`, and anything else with a full response
 * `#n` naming the request's headers: `#2` goes stale first (10 s), the others last 600 s.
 *
 * @param vary The `Vary` list the origin sends, as it is at the time.
 * @returns The scripted session.
 */
export function validating(vary: { list: string }): Scripted {
  return scripted((clock) => (request, n) =>
    request.headers.get("if-none-match") === '"e2"' || (request.method === "HEAD" && n > 2)
      ? reply(null, { etag: '"e2"', "cache-control": "max-age=600", vary: vary.list }, {
        status: request.method === "HEAD" ? 200 : 304,
        clock,
      })
      : reply(`#${n} ${request.headers.get("accept")} ${request.headers.get("accept-language")}`, {
        etag: `"e${n}"`,
        "cache-control": n === 2 ? "max-age=10" : "max-age=600",
        vary: vary.list,
      }, { clock })
  );
}
