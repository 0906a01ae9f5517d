/**
 * RFC 9111 §3 storage rules and RFC 9110 methods, fourth pass: what the session answers for a
 * method that fetch refuses, and `must-understand` on the paths that update a stored response.
 *
 * @module
 */

import { assertEquals } from "./_assert.ts";
import { type OriginHeader, registerCases } from "./_cache_tests_engine.ts";
import { reply } from "./_origin.ts";
import { scripted, URL_A } from "./_scripted.ts";

/** Whether this runtime's `Request` constructor, which fetch calls, refuses a method. */
function refused(method: string): boolean {
  try {
    new Request(URL_A, { method });
    return false;
  } catch {
    return true;
  }
}

// Fetch refuses a forbidden method (`TRACE`, `CONNECT`, `TRACK`) or one that is no token with a
// `TypeError`, and the README promises that what fetch refuses the session refuses too. A request
// for what is stored alone (the `only-if-cached` mode or directive) with such a method got a 504
// instead: the session's parsing checked the method for nothing, and the 504 came before fetch
// was asked. (Bun's `Request` takes any method: there the 504 is right.)
Deno.test("a method fetch refuses is refused with a TypeError, also by a request for what is stored alone", async () => {
  const s = scripted((clock) => () => reply("v", { "cache-control": "max-age=60" }, { clock }));
  for (const method of ["TRACE", "CONNECT", "track", "GE T"]) {
    for (
      const init of [
        { method, cache: "only-if-cached" as const },
        { method, headers: { "cache-control": "only-if-cached" } },
      ]
    ) {
      const outcome = await s.session.fetch(URL_A, init).then(
        async (response) => {
          await response.body?.cancel();
          return response.status;
        },
        (error: unknown) => error instanceof TypeError ? "TypeError" : String(error),
      );
      assertEquals(outcome, refused(method) ? "TypeError" : 504, JSON.stringify(init));
    }
  }
  assertEquals(s.origin.calls, 0);
  await s.session.close();
});

// RFC 9111 §5.2.2.3: a cache that understands the status ignores `no-store` beside
// `must-understand`. Pinned where the stored response is updated rather than stored anew: a 304
// (§4.3.4) and a HEAD response (§4.3.5) that say so keep it stored, freshened.
const STALE_SOON: OriginHeader[] = [["Cache-Control", "max-age=1"], ["ETag", '"a"']];
const UNDERSTOOD: OriginHeader[] = [["Cache-Control", "max-age=600, no-store, must-understand"], [
  "ETag",
  '"a"',
]];
registerCases("semantics4", [
  {
    id: "a 304 with must-understand and no-store freshens the stored response",
    kind: "optimal",
    steps: [{ headers: STALE_SOON, wait: 5 }, { headers: UNDERSTOOD, expect: "etag_validated" }, {
      expect: "cached",
    }],
  },
  {
    id: "a HEAD response with must-understand and no-store freshens the stored GET response",
    kind: "optimal",
    steps: [{ headers: STALE_SOON, wait: 5 }, { method: "HEAD", headers: UNDERSTOOD }, { expect: "cached" }],
  },
]);
