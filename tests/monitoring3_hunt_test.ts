/**
 * Monitoring, hunted a third time: what `session.stats()`, the `onEvent` events and the
 * `Cache-Status` header tell of each path a request takes, among them the requests with their own
 * `If-None-Match`, which now go through the cache to the origin.
 *
 * @module
 */

import { deepEqual, equal, rejects } from "node:assert/strict";
import { CachedSession, type CacheEvent, type CacheStats } from "../mod.ts";
import { Clock, origin, reply, settle } from "./_origin.ts";

const A = "http://127.0.0.1/a";

/** The counters that name a request's outcome, as one object. */
function outcomes(stats: CacheStats) {
  const { requests, hits, misses, bypassed, coalesced, staleServed, revalidations } = stats;
  return { requests, hits, misses, bypassed, coalesced, staleServed, ...revalidations };
}

// A request whose signal had aborted already, that takes only a stored response (the
// only-if-cached directive) and that the cache does not handle (a method it does not store, a
// closed session), was answered with a 504, counted as a miss and reported as a `miss` event,
// where plain fetch rejects with an AbortError and session.stats() says such a request counts in
// `requests` alone; a GET of the same kind rejected.
Deno.test("stats and events: an aborted only-if-cached request rejects and counts in requests alone, whatever the cache does with it", async () => {
  const o = origin(() => reply("x", { "cache-control": "max-age=60" }));
  const events: CacheEvent[] = [];
  const session = new CachedSession({
    fetch: o.fetch,
    cacheStatus: true,
    onEvent: (event) => events.push(event),
  });
  const aborted = AbortSignal.abort();
  const onlyIfCached = { "cache-control": "only-if-cached" };
  for (const init of [{}, { method: "POST", body: "x" }]) {
    await rejects(
      session.fetch(A, { ...init, headers: onlyIfCached, signal: aborted }),
      { name: "AbortError" },
      JSON.stringify(init),
    );
  }
  await session.close();
  await rejects(
    session.fetch(A, { headers: onlyIfCached, signal: aborted }),
    { name: "AbortError" },
    "closed",
  );
  deepEqual(outcomes(session.stats()), {
    requests: 3,
    hits: 0,
    misses: 0,
    bypassed: 0,
    coalesced: 0,
    staleServed: 0,
    notModified: 0,
    modified: 0,
  });
  deepEqual(events, []);
  equal(o.calls, 0);
});

// Pins what the monitoring tells of a request with its own If-None-Match (CHANGELOG, [Unreleased]
// Fixed: such requests now go through the cache to the origin): each counts in one outcome, as
// its Cache-Status and events say.
Deno.test("stats, events and Cache-Status: a request with its own If-None-Match, on each of its paths", async () => {
  const clock = new Clock();
  let down = false;
  const o = origin((request, n) => {
    if (down) throw new TypeError("origin down");
    const fields = { "cache-control": "max-age=10, stale-if-error=600", etag: '"v1"' };
    if (request.headers.get("if-none-match") === '"v1"') return reply(null, fields, { status: 304, clock });
    return reply(`body ${n}`, fields, { clock });
  });
  const events: CacheEvent[] = [];
  const session = new CachedSession({
    fetch: o.fetch,
    now: clock.fn,
    cacheStatus: true,
    onEvent: (event) => events.push(event),
  });
  const told: string[] = [];
  /** `storeMayLag`: a write whose store event may come before or after the body is read. */
  const ask = async (etag?: string, storeMayLag = false) => {
    const before = outcomes(session.stats());
    events.length = 0;
    const response = await session.fetch(A, etag === undefined ? {} : { headers: { "if-none-match": etag } });
    const body = await response.text();
    const after = outcomes(session.stats()) as Record<string, number>;
    const counted = Object.entries(before).filter(([name, value]) => after[name] !== value)
      .map(([name, value]) => `${name}+${after[name]! - value}`);
    const kinds = events.filter((event) => !storeMayLag || event.type !== "store").map((event) =>
      event.type === "hit"
        ? `hit${event.stale ? " stale" : ""} ${event.bytes}`
        : event.type === "miss"
        ? `miss ${event.reason} ${event.status}`
        : event.type
    );
    const status = response.headers.get("cache-status");
    told.push(`${response.status} ${body} | ${status} | ${counted.join()} | ${kinds.join()}`);
  };
  await ask();
  await ask('"v1"'); // fresh, and the copy the request names: the cache answers
  await ask('"v0"'); // fresh, another copy: the origin answers (its 200 stored)
  clock.tick(20);
  await ask('"v1"', true); // stale, and the copy the request names: revalidated, the origin's 304 freshens it
  await settle(); // (its write's store event, should it come after the body was read)
  await ask('"v0"'); // fresh again, another copy: the origin answers
  clock.tick(20);
  down = true;
  await ask('"v1"'); // the origin down: stale-if-error, a 304 for the copy named
  await ask('"v0"'); // … and the stored response for another
  deepEqual(told, [
    "200 body 1 | http-cache; fwd=uri-miss; fwd-status=200; stored; ttl=10 | requests+1,misses+1 | miss uri-miss 200,store",
    "304  | http-cache; hit; ttl=10 | requests+1,hits+1 | hit 0",
    "200 body 2 | http-cache; fwd=request; fwd-status=200; stored; ttl=10 | requests+1,misses+1 | miss request 200,store",
    "304  | http-cache; fwd=stale; fwd-status=304; stored; ttl=10 | requests+1,notModified+1 | hit 0",
    "200 body 4 | http-cache; fwd=request; fwd-status=200; stored; ttl=10 | requests+1,misses+1 | miss request 200,store",
    "304  | http-cache; fwd=stale; ttl=-10 | requests+1,staleServed+1 | hit stale 0",
    "200 body 4 | http-cache; fwd=stale; ttl=-10 | requests+1,staleServed+1 | hit stale 6",
  ]);
  await session.close();
});
