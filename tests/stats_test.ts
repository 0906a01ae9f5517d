import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { BackendError, CacheBackend, CachedSession, type CacheEvent } from "../mod.ts";
import { MemoryBackend, MemoryStorage } from "../backends/memory.ts";
import { Switched } from "./_fixtures.ts";
import { Clock, origin, reply, settle } from "./_origin.ts";

const A = "http://127.0.0.1/a";

async function text(response: Promise<Response>): Promise<[string | null, string]> {
  const r = await response;
  return [r.headers.get("cache-status"), await r.text()];
}

Deno.test("stats and Cache-Status: miss, hit, 304, 200, bypass, reload, method, only-if-cached", async () => {
  const clock = new Clock();
  const o = origin((request, n) => {
    if (request.headers.get("if-none-match") === '"v1"' && n === 2) {
      return reply(null, { etag: '"v1"' }, { status: 304, clock });
    }
    return reply(`body ${n}`, { "cache-control": "max-age=60", etag: n === 1 ? '"v1"' : '"v2"' }, { clock });
  });
  const session = new CachedSession({ fetch: o.fetch, now: clock.fn, cacheStatus: true });
  deepEqual(await text(session.fetch(A)), [
    "http-cache; fwd=uri-miss; fwd-status=200; stored; ttl=60",
    "body 1",
  ]);
  clock.tick(10);
  deepEqual(await text(session.fetch(A)), ["http-cache; hit; ttl=50", "body 1"]);
  clock.tick(60);
  deepEqual(await text(session.fetch(A)), [
    "http-cache; fwd=stale; fwd-status=304; stored; ttl=60",
    "body 1",
  ]);
  await settle();
  clock.tick(61);
  deepEqual(await text(session.fetch(A)), [
    "http-cache; fwd=stale; fwd-status=200; stored; ttl=60",
    "body 3",
  ]);
  deepEqual(await text(session.fetch(A, { cache: "no-store" })), [
    "http-cache; fwd=bypass; fwd-status=200",
    "body 4",
  ]);
  deepEqual(await text(session.fetch(A, { cache: "reload" })), [
    "http-cache; fwd=request; fwd-status=200; stored; ttl=60",
    "body 5",
  ]);
  deepEqual(await text(session.fetch(A, { cache: "no-cache" })), [
    "http-cache; fwd=request; fwd-status=200; stored; ttl=60",
    "body 6",
  ]);
  const only = await session.fetch("http://127.0.0.1/never", { cache: "only-if-cached" });
  deepEqual([only.status, only.headers.get("cache-status")], [504, "http-cache; detail=only-if-cached"]);
  deepEqual(await text(session.fetch(A, { method: "POST", body: "x" })), [
    "http-cache; fwd=method; fwd-status=200",
    "body 7",
  ]);
  deepEqual(session.stats(), {
    requests: 9,
    hits: 1,
    misses: 3,
    staleServed: 0,
    revalidations: { notModified: 1, modified: 2 },
    coalesced: 0,
    bypassed: 2,
    stored: 5,
    backendErrors: 0,
    bytesFromCache: 12,
  });
  await session.close();
});

Deno.test("stats and Cache-Status: stale-while-revalidate, stale-if-error and coalesced requests", async () => {
  const clock = new Clock();
  let fail = false;
  const o = origin(async (request, n) => {
    await new Promise((resolve) => setTimeout(resolve, 5));
    if (fail) return reply("down", {}, { status: 503, clock });
    if (request.headers.has("if-none-match")) return reply(null, { etag: '"e"' }, { status: 304, clock });
    return reply(`body ${n}`, { "cache-control": "max-age=10, stale-while-revalidate=30", etag: '"e"' }, {
      clock,
    });
  });
  const background: Promise<unknown>[] = [];
  const session = new CachedSession({
    fetch: o.fetch,
    now: clock.fn,
    cacheStatus: "edge cache",
    staleIfError: true,
    waitUntil: (work) => background.push(work),
  });
  const first = await Promise.all([1, 2, 3].map(() => text(session.fetch(A))));
  deepEqual(first, [
    ['"edge cache"; fwd=uri-miss; fwd-status=200; stored; ttl=10', "body 1"],
    ['"edge cache"; fwd=uri-miss; collapsed; ttl=10', "body 1"],
    ['"edge cache"; fwd=uri-miss; collapsed; ttl=10', "body 1"],
  ]);
  equal(o.calls, 1);
  clock.tick(15);
  deepEqual(await text(session.fetch(A)), ['"edge cache"; hit; ttl=-5', "body 1"], "stale-while-revalidate");
  await Promise.all(background); // the background revalidation (a 304)
  clock.tick(100);
  fail = true;
  deepEqual(await text(session.fetch(A)), ['"edge cache"; fwd=stale; fwd-status=503; ttl=-90', "body 1"]);
  const stats = session.stats();
  deepEqual(
    [stats.requests, stats.hits, stats.misses, stats.coalesced, stats.staleServed, stats.revalidations],
    [5, 1, 1, 2, 2, { notModified: 1, modified: 0 }],
  );
  equal(stats.bytesFromCache, 4 * "body 1".length);
});

Deno.test("stats: an entry served because the origin failed counts in staleServed, fresh or stale", async () => {
  const clock = new Clock();
  let status = 200;
  const o = origin(() => reply("x", { "cache-control": "max-age=60" }, { status, clock }));
  const session = new CachedSession({ fetch: o.fetch, now: clock.fn, staleIfError: 60 });
  await (await session.fetch(A)).text();
  clock.tick(5);
  status = 503;
  // Still fresh, but this request will not take it from the cache: the origin's 503 decides.
  const served = await session.fetch(A, { headers: { "cache-control": "max-age=0" } });
  deepEqual([served.status, served.fromCache, await served.text()], [200, true, "x"]);
  const { requests, hits, misses, staleServed } = session.stats();
  deepEqual({ requests, hits, misses, staleServed }, { requests: 2, hits: 0, misses: 1, staleServed: 1 });
  await session.close();
});

Deno.test("Cache-Status: off by default, appended after an upstream cache's member, validated", async () => {
  const clock = new Clock();
  const o = origin(() =>
    reply("x", { "cache-control": "max-age=60", "cache-status": "upstream; hit" }, { clock })
  );
  const plain = new CachedSession({ fetch: o.fetch, now: clock.fn });
  equal((await plain.fetch(A)).headers.get("cache-status"), "upstream; hit");
  const session = new CachedSession({ fetch: o.fetch, now: clock.fn, cacheStatus: "my-app" });
  const miss = await session.fetch(A);
  await miss.text();
  equal(
    miss.headers.get("cache-status"),
    "upstream; hit, my-app; fwd=uri-miss; fwd-status=200; stored; ttl=60",
  );
  const hit = await session.fetch(A);
  equal(hit.headers.get("cache-status"), "upstream; hit, my-app; hit; ttl=60", "nothing of ours was stored");
  for (const value of ["", "caché", 42, {}]) {
    throws(() => new CachedSession({ cacheStatus: value as string }), {
      name: "TypeError",
      message: /^Cannot create CachedSession: cacheStatus must be true, false or a cache name/,
    });
  }
  throws(() => new CachedSession({ onEvent: "log" as unknown as () => void }), /onEvent must be a function/);
});

Deno.test("onEvent: hit, miss, store, evict and error events, in order; a throwing handler is ignored", async () => {
  const events: CacheEvent[] = [];
  const o = origin((_request, n) => reply(`body ${n}`, { "cache-control": "max-age=60" }));
  const storage = new MemoryStorage();
  const session = new CachedSession({
    fetch: o.fetch,
    backend: new CacheBackend(storage),
    onError: () => {},
    onEvent(event) {
      events.push(event);
      throw new Error("a handler bug");
    },
  });
  const miss = await session.fetch(A);
  await miss.text();
  await (await session.fetch(A)).text();
  await (await session.fetch(A, { method: "POST", body: "x" })).text();
  await (await session.fetch(A)).text();
  await storage.set(miss.cacheKey!, new Uint8Array([1, 2, 3]), Infinity);
  await (await session.fetch(A)).text();
  await (await session.fetch(`${A}?never-stored`, { cache: "only-if-cached" })).text();
  const summary = events.map((event) =>
    event.type === "miss"
      ? `miss ${event.reason} ${event.status}`
      : event.type === "evict"
      ? `evict ${event.reason}`
      : event.type === "hit"
      ? `hit ${event.bytes}`
      : event.type === "store"
      ? `store ${event.bytes}`
      : `error ${event.operation}`
  );
  deepEqual(summary, [
    "miss uri-miss 200",
    "store 6",
    "hit 6",
    "evict invalidated",
    "miss method 200",
    "miss uri-miss 200",
    "store 6",
    "evict corrupt",
    "error read",
    "miss uri-miss 200",
    "store 6",
    "miss only-if-cached 504",
  ]);
  const hit = events[2];
  ok(hit?.type === "hit");
  deepEqual({ ...hit, key: "" }, {
    type: "hit",
    request: `GET ${A}`,
    key: "",
    stale: false,
    revalidated: false,
    collapsed: false,
    bytes: 6,
  });
  equal(session.stats().backendErrors, 1);
  await session.close();
});

Deno.test("stats: backendErrors counts every backend failure that reaches onError, and requests still succeed", async () => {
  const failing = new Switched(new MemoryStorage(), true);
  const errors: unknown[] = [];
  const o = origin((_request, n) => reply(`body ${n}`, { "cache-control": "max-age=60" }));
  const session = new CachedSession({
    fetch: o.fetch,
    backend: new CacheBackend(failing),
    onError: (error) => errors.push(error),
  });
  deepEqual([await (await session.fetch(A)).text(), await (await session.fetch(A)).text()], [
    "body 1",
    "body 2",
  ]);
  await session.close();
  ok(errors.length >= 4, "reads and writes of both requests failed");
  ok(errors.every((error) => error instanceof BackendError));
  const stats = session.stats();
  deepEqual([stats.backendErrors, stats.misses, stats.stored, stats.hits], [errors.length, 2, 0, 0]);
});

Deno.test("onEvent and onError: ignored parameters are left out of every event and report, on every path", async () => {
  const events: CacheEvent[] = [];
  const reports: string[] = [];
  const o = origin(() => reply("x", { "cache-control": "max-age=60" }));
  const session = new CachedSession({
    fetch: o.fetch,
    ignoredParameters: ["api_key"],
    onEvent: (event) => events.push(event),
    onError: (_error, context) => reports.push(context.request),
  });
  const url = `${A}?api_key=SECRET&page=1`;
  await (await session.fetch(url)).text(); // miss, store
  await (await session.fetch(url, { cache: "no-store" })).text(); // a bypass
  await (await session.fetch(url, { method: "POST", body: "x" })).text(); // an invalidation
  const keyed = new CachedSession({
    fetch: o.fetch,
    ignoredParameters: ["api_key"],
    keyFn: () => {
      throw new Error("keyFn bug");
    },
    onError: (_error, context) => reports.push(context.request),
  });
  await (await keyed.fetch(url)).text(); // a report without a label yet
  await session.close();
  await keyed.close();
  const shown = JSON.stringify([events, reports]);
  ok(!shown.includes("SECRET"), shown);
  ok(events.some((event) => event.type === "evict") && reports.length === 1, shown);
});

Deno.test("stats: each step of a redirect the session follows counts once in requests and in one outcome", async () => {
  const o = origin((request) =>
    new URL(request.url).pathname === "/old"
      ? reply(null, { location: "/new", "cache-control": "max-age=60" }, { status: 301 })
      : reply("new", { "cache-control": "max-age=60" })
  );
  const session = new CachedSession({ fetch: o.fetch });
  for (let i = 0; i < 2; i++) await (await session.fetch("http://127.0.0.1/old")).text();
  const { requests, hits, misses, bypassed, coalesced } = session.stats();
  deepEqual({ requests, hits, misses, bypassed, coalesced }, {
    requests: 4,
    hits: 2,
    misses: 2,
    bypassed: 0,
    coalesced: 0,
  });
  await session.close();
});

const URL_P = "http://127.0.0.1/p";

Deno.test("events: evict invalidated only when an unsafe request removed entries", async () => {
  const o = origin(() => reply("ok", { "cache-control": "max-age=60" }));
  const events: string[] = [];
  const session = new CachedSession({
    fetch: o.fetch,
    onEvent: (event: CacheEvent) => {
      if (event.type === "evict") events.push(`${event.reason} ${event.target}`);
    },
  });
  await (await session.fetch(`${URL_P}?nothing`, { method: "POST", body: "x" })).text();
  deepEqual(events, [], "nothing was stored for the URL: nothing was evicted");
  await (await session.fetch(URL_P)).text();
  await (await session.fetch(URL_P, { method: "POST", body: "x" })).text();
  deepEqual(events, [`invalidated ${URL_P}`]);
  await (await session.fetch(URL_P, { method: "DELETE" })).text();
  deepEqual(events, [`invalidated ${URL_P}`], "the second unsafe request found nothing left");
  await session.close();
});

Deno.test("events: a record over maxEntrySize that replaces a stored entry reports evict unstorable", async () => {
  const clock = new Clock();
  const o = origin((_request, n) =>
    reply("x".repeat(n === 1 ? 10 : 250), { "cache-control": "max-age=1" }, { clock })
  );
  const events: string[] = [];
  const backend = new MemoryBackend({ maxEntrySize: 300 });
  const session = new CachedSession({
    fetch: o.fetch,
    now: clock.fn,
    backend,
    onEvent: (event: CacheEvent) => {
      if (event.type === "store" || event.type === "evict") {
        events.push(`${event.type} ${event.type === "evict" ? event.reason : event.bytes}`);
      }
    },
  });
  await (await session.fetch(URL_P)).text();
  clock.tick(5);
  const body = await (await session.fetch(URL_P)).text();
  equal(body.length, 250, "the body is under maxEntrySize");
  equal(await backend.count(), 0, "its record was not, and the older entry is gone");
  deepEqual(events, ["store 10", "evict unstorable"]);
  events.length = 0;
  await (await session.fetch(`${URL_P}?first`)).text();
  deepEqual(events, [], "nothing was stored there: nothing was evicted");
  await session.close();
});
