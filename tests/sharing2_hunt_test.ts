/**
 * Second hunt in shared caches (`shared: true`, RFC 9111): the shared-cache directives (§3.5,
 * `s-maxage`, `proxy-revalidate`, `private="field"`, `no-cache="field"`) with revalidation, `HEAD`,
 * `Set-Cookie`, and several sessions over one backend.
 */
import { equal } from "node:assert/strict";
import { reply } from "./_origin.ts";
import { scripted } from "./_scripted.ts";

for (
  const [cc, shared] of [
    ['max-age=10, no-cache="set-cookie"', false],
    ['max-age=10, private="set-cookie"', true],
  ] as const
) {
  Deno.test(`sharing2 hunt: with storeSetCookie, a 304's Set-Cookie reaches its caller when ${cc} keeps it out of storage (shared: ${shared})`, async () => {
    // The 304's cookie went into the merged fields, which the directive filtered, and a session
    // that stores cookies did not add it back: its caller lost the cookie fetch would have given.
    const s = scripted(
      (clock) => (_request, n) =>
        n === 1
          ? reply("v1", { "cache-control": cc, etag: '"a"', "set-cookie": "s=1" }, { clock })
          : reply(null, { "cache-control": cc, etag: '"a"', "set-cookie": "s=2" }, { status: 304, clock }),
      {
        storeSetCookie: true,
        shared,
      },
    );
    try {
      equal((await s.get()).response.headers.get("set-cookie"), "s=1");
      const hit = await s.get();
      equal(hit.response.fromCache, true);
      equal(hit.response.headers.get("set-cookie"), null); // the directive kept it out
      s.clock.tick(20);
      const revalidated = await s.get();
      equal(revalidated.response.revalidated, true);
      equal(revalidated.body, "v1");
      equal(revalidated.response.headers.get("set-cookie"), "s=2");
      // It is that request's own: the next hit serves none.
      const next = await s.get();
      equal(next.response.fromCache, true);
      equal(next.response.headers.get("set-cookie"), null);
      equal(s.origin.calls, 2);
    } finally {
      await s.session.close();
    }
  });
}

Deno.test("sharing2 hunt: a 304's Set-Cookie2 reaches its caller in a session that does not store cookies", async () => {
  // Only the 304's Set-Cookie was handed on: its Set-Cookie2, kept out of storage as Set-Cookie
  // is, was lost for the request it answered.
  const s = scripted(
    (clock) => (_request, n) =>
      n === 1
        ? reply("v1", { "cache-control": "max-age=10", etag: '"a"' }, { clock })
        : reply(null, { etag: '"a"', "set-cookie": "c=2", "set-cookie2": "s=2" }, { status: 304, clock }),
    {
      shared: true,
    },
  );
  try {
    await s.get();
    s.clock.tick(20);
    const revalidated = await s.get();
    equal(revalidated.response.revalidated, true);
    equal(revalidated.response.headers.get("set-cookie"), "c=2");
    equal(revalidated.response.headers.get("set-cookie2"), "s=2");
    const next = await s.get();
    equal(next.response.fromCache, true);
    equal(next.response.headers.get("set-cookie2"), null);
  } finally {
    await s.session.close();
  }
});
