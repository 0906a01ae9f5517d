/**
 * The fetch cache modes, hunted a fourth time: requests that demand validation crossed with
 * request coalescing (after `modes_hunt_test.ts`, `modes2_hunt_test.ts` and `modes3_hunt_test.ts`).
 *
 * @module
 */

import { assertEquals } from "./_assert.ts";
import { CachedSession, type CacheRequestInit } from "../mod.ts";
import { until, within } from "./_fixtures.ts";
import { origin, reply } from "./_origin.ts";
import { URL_A } from "./_scripted.ts";

// A request that demands validation (the no-cache mode, `Cache-Control: no-cache`, `Pragma:
// no-cache`) can use no response that another request is fetching: it was asked for before this
// request came. Yet such a request, made while an identical one was at the origin, waited for that
// response's header fields before it asked the origin itself: as slow as both requests one after
// the other, and, against an origin that takes long to answer, held up as long.
Deno.test("a request that demands validation does not wait for an identical request at the origin", async () => {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => open = resolve);
  const o = origin(async (request, n) => {
    if (n === 1) await gate; // the first request's origin is slow to answer
    const body = n === 1 ? "first" : `${request.headers.get("cache-control")}`;
    return reply(body, { "cache-control": "max-age=600" });
  });
  const session = new CachedSession({ fetch: o.fetch });
  const ask = (init?: CacheRequestInit) => session.fetch(URL_A, init).then((response) => response.text());
  const first = ask();
  await until(() => o.calls === 1);
  const demanding = [
    ask({ cache: "no-cache" }),
    ask({ headers: { "cache-control": "no-cache" } }),
    ask({ headers: { pragma: "no-cache" } }),
  ];
  try {
    await within(5000, until(() => o.calls === 4)); // each asked the origin at once
  } finally {
    open();
  }
  const [leader, ...others] = await within(5000, Promise.all([first, ...demanding]));
  // (Each got the origin's answer to its own request: the no-cache mode's `max-age=0` say.)
  assertEquals([leader, ...others], ["first", "max-age=0", "no-cache", "null"]);
  await session.close();
});
