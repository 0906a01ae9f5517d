/**
 * Coalescing, hunted a second time: what a waiting request is served when the request it waited
 * on revalidated an entry that a redirect alias led it to.
 *
 * @module
 */

import { deepEqual, equal } from "node:assert/strict";
import { CachedSession } from "../mod.ts";
import { delay, until, within } from "./_fixtures.ts";
import { Clock, origin, reached, reply } from "./_origin.ts";

Deno.test("coalescing2 hunt: a waiter on a revalidation made through a redirect alias is served as the leader is: not redirected, under the entry's key", async () => {
  // The waiter got `redirected: true` (plain fetch of /new: false; the leader and a hit: false) and
  // the cache key of its own URL, where nothing is stored, rather than that of the entry's slot.
  const clock = new Clock();
  let gate: Promise<void> | undefined;
  let open = () => {};
  // A fetch that follows redirects itself: /old leads to /new, stored under /old with an alias.
  const o = origin(async (request) => {
    if (gate !== undefined) await gate;
    const headers = { "cache-control": "max-age=10", etag: '"v1"' };
    if (request.headers.get("if-none-match") === '"v1"') return reply(null, headers, { status: 304, clock });
    const response = reply("content of /new", headers, { clock });
    return new URL(request.url).pathname === "/old" ? reached(response, "/new") : response;
  });
  const session = new CachedSession({ fetch: o.fetch, now: clock.fn });
  try {
    const first = await session.fetch("http://127.0.0.1/old");
    equal(await first.text(), "content of /new");
    const hit = await session.fetch("http://127.0.0.1/new");
    await hit.text();
    deepEqual(
      [hit.fromCache, hit.redirected, hit.cacheKey],
      [true, false, first.cacheKey],
      "a hit through the alias",
    );
    clock.tick(20); // stale: revalidated
    gate = new Promise((resolve) => open = resolve);
    const leading = session.fetch("http://127.0.0.1/new");
    await until(() => o.calls === 2);
    const waiting = session.fetch("http://127.0.0.1/new");
    await delay(20); // let the waiter reach the wait
    open();
    for (const [who, pending] of [["leader", leading], ["waiter", waiting]] as const) {
      const response = await within(5000, pending);
      deepEqual(
        [response.status, response.url, response.redirected, response.cacheKey, await response.text()],
        [200, "http://127.0.0.1/new", false, first.cacheKey, "content of /new"],
        who,
      );
    }
    equal(o.calls, 2, "one revalidation");
  } finally {
    open();
    await session.close();
  }
});
