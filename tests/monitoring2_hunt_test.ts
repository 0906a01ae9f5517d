/**
 * Monitoring, hunted again: what `session.stats()`, the `onEvent` events, the `Cache-Status` header,
 * a response's metadata and `onError` tell of each path a request takes, checked against each other
 * and against the docs.
 *
 * @module
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import { CachedSession, type CacheEvent, type ErrorContext } from "../mod.ts";
import { until, within } from "./_fixtures.ts";
import { Clock, origin, reply, settle } from "./_origin.ts";

const A = "http://127.0.0.1/a";

// A request that waited on an identical one, whose response came already stale (its Age past its
// max-age) but within stale-while-revalidate, was told `hit` (RFC 9211 §2.1: not forwarded) and
// counted in `hits`, not `coalesced`; its hit event said `collapsed: false`.
Deno.test("Cache-Status, stats and events: a request that waited on one whose response came stale within stale-while-revalidate was collapsed, no hit", async () => {
  const clock = new Clock();
  let open!: () => void;
  const gate = new Promise<void>((resolve) => open = resolve);
  const o = origin(async (_request, n) => {
    if (n === 1) await gate;
    return reply(`v${n}`, { "cache-control": "max-age=10, stale-while-revalidate=100", age: "20" }, {
      clock,
    });
  });
  const hits: CacheEvent[] = [];
  const background: Promise<unknown>[] = [];
  const session = new CachedSession({
    fetch: o.fetch,
    now: clock.fn,
    cacheStatus: true,
    onEvent: (event) => event.type === "hit" && hits.push(event),
    waitUntil: (work) => background.push(work),
  });
  const both = [session.fetch(A), session.fetch(A)];
  await until(() => o.calls === 1);
  await settle();
  open();
  const told = await Promise.all(
    (await Promise.all(both)).map(async (response) => [
      await response.text(),
      response.fromCache,
      response.headers.get("cache-status"),
    ]),
  );
  deepEqual(told, [
    ["v1", false, "http-cache; fwd=uri-miss; fwd-status=200; stored; ttl=-10"],
    ["v1", true, "http-cache; fwd=uri-miss; collapsed; ttl=-10"],
  ]);
  equal(hits.length, 1);
  ok(hits[0]?.type === "hit" && hits[0].collapsed, "its hit event says it was collapsed");
  await Promise.all(background);
  const { requests, hits: hitCount, misses, coalesced } = session.stats();
  deepEqual({ requests, hits: hitCount, misses, coalesced }, {
    requests: 2,
    hits: 0,
    misses: 1,
    coalesced: 1,
  });
  await session.close();
});

// A background refresh (stale-while-revalidate) whose origin request failed was reported to
// onError, unless stale-if-error allowed the stale response: then it "served" that response to no
// one, and the failure reached neither onError nor onEvent (docs/reliability.md: the only failures
// reported to onError are the origin's and, while it is down, the store's).
Deno.test("onError and events: a background refresh that fails is reported, stale-if-error or not", async () => {
  for (
    const directives of [
      "max-age=10, stale-while-revalidate=100",
      "max-age=10, stale-while-revalidate=100, stale-if-error=100",
    ]
  ) {
    const clock = new Clock();
    const down = new TypeError("origin down");
    const o = origin((_request, n) => {
      if (n > 1) throw down;
      return reply("v", { "cache-control": directives, etag: '"e"' }, { clock });
    });
    const errors: [unknown, ErrorContext][] = [];
    const events: CacheEvent[] = [];
    const background: Promise<unknown>[] = [];
    const session = new CachedSession({
      fetch: o.fetch,
      now: clock.fn,
      onError: (error, context) => errors.push([error, context]),
      onEvent: (event) => event.type === "error" && events.push(event),
      waitUntil: (work) => background.push(work),
    });
    await (await session.fetch(A)).text();
    clock.tick(20);
    const stale = await session.fetch(A);
    deepEqual([await stale.text(), stale.fromCache], ["v", true]);
    await Promise.all(background);
    equal(o.calls, 2, directives);
    deepEqual(errors, [[down, { operation: "revalidate", request: `GET ${A}` }]], directives);
    deepEqual(
      events,
      [{ type: "error", request: `GET ${A}`, operation: "revalidate", error: down }],
      directives,
    );
    await session.close();
  }
});

// docs/http-semantics.md: a refresh is "given up (reported to onError) if it has not ended within
// 30 s". With stale-if-error (the session's staleIfError) the refresh given up served the stale
// response to no one instead, and nothing was reported.
Deno.test("onError: a refresh given up at its time limit is reported with staleIfError on too", async () => {
  // The limit is 30 s (REFRESH_TIMEOUT): AbortSignal.timeout is made to fire at once here.
  const timeout = AbortSignal.timeout;
  AbortSignal.timeout = () => timeout.call(AbortSignal, 20);
  const errors: ErrorContext[] = [];
  const background: Promise<unknown>[] = [];
  let n = 0;
  const session = new CachedSession({
    staleWhileRevalidate: 60,
    staleIfError: true,
    onError: (_error, context) => errors.push(context),
    waitUntil: (work) => background.push(work),
    fetch: (_input, init) =>
      ++n === 1
        ? Promise.resolve(new Response("v1", { headers: { "cache-control": "max-age=0" } }))
        : new Promise((_resolve, reject) =>
          init!.signal!.addEventListener("abort", () => reject(init!.signal!.reason))
        ),
  });
  try {
    await (await session.fetch(A)).text();
    equal(await (await session.fetch(A)).text(), "v1"); // stale, and a refresh
    await within(5000, Promise.all(background));
    equal(n, 2);
    deepEqual(errors, [{ operation: "revalidate", request: `GET ${A}` }]);
  } finally {
    AbortSignal.timeout = timeout;
    await session.close();
  }
});

// The miss event named the request's key where its response is stored under another: a Vary
// variant's own, a HEAD response's own. Its store event and the response's cacheKey named that one,
// and the miss event no entry at all (the hit event names the key of the entry served).
Deno.test("events: a miss names the key its response is stored under, as its store event and cacheKey do", async () => {
  const o = origin((request) =>
    reply(request.method === "HEAD" ? null : `for ${request.headers.get("accept")}`, {
      "cache-control": request.headers.get("accept") === "c" ? "no-store" : "max-age=60",
      vary: "accept",
    })
  );
  const events: CacheEvent[] = [];
  const session = new CachedSession({ fetch: o.fetch, onEvent: (event) => events.push(event) });
  const keys: (string | undefined)[] = [];
  const inits = [{ headers: { accept: "a" } }, { headers: { accept: "b" } }, { method: "HEAD" }, {
    headers: { accept: "c" },
  }];
  for (const init of inits) {
    const response = await session.fetch(A, init);
    await response.text();
    keys.push(response.cacheKey);
  }
  await settle();
  const misses = events.flatMap((event) => event.type === "miss" ? [event.key] : []);
  const stores = events.flatMap((event) => event.type === "store" ? [event.key] : []);
  equal(new Set(keys.slice(0, 3)).size, 3, "each response is stored under a key of its own");
  deepEqual(stores, keys.slice(0, 3));
  // (The no-store response is not stored: its cacheKey is the request's key.)
  deepEqual(misses, keys);
  await session.close();
});
