/**
 * Monitoring, hunted: what the `Cache-Status` header, the `onEvent` events, `session.stats()` and
 * a response's metadata tell of one request, checked against each other and against the docs.
 *
 * @module
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import { CachedSession, type CacheEvent } from "../mod.ts";
import { until } from "./_fixtures.ts";
import { Clock, origin, reply, settle } from "./_origin.ts";

const A = "http://127.0.0.1/a";

// The hit event named the request's primary key, where a Vary variant other than the primary one
// is stored under a key of its own: the key of another variant's entry, not the one served.
Deno.test("events: a hit on a Vary variant names the key its entry is stored under, as its store event did", async () => {
  const o = origin((request) =>
    reply(`for ${request.headers.get("accept")}`, { "cache-control": "max-age=60", vary: "accept" })
  );
  const events: CacheEvent[] = [];
  const session = new CachedSession({ fetch: o.fetch, onEvent: (event) => events.push(event) });
  for (const accept of ["text/a", "text/b", "text/b"]) {
    await (await session.fetch(A, { headers: { accept } })).text();
  }
  const stores = events.filter((event) => event.type === "store");
  const hits = events.filter((event) => event.type === "hit");
  equal(stores.length, 2);
  equal(hits.length, 1);
  ok(stores[0]!.key !== stores[1]!.key, "each variant has a key of its own");
  equal(hits[0]!.key, stores[1]!.key, "the entry served is the text/b variant's");
  const served = await session.cache.get(hits[0]!.key);
  equal(await served?.text(), "for text/b");
  await session.close();
});

// A request that waited on an identical one, and was served the stored response when the origin
// failed for it, said `fwd=stale` however fresh that response was; the request it waited on said
// `fwd=request` (the stored response was fresh, but the request did not take it: max-age=0).
Deno.test("Cache-Status: a request served on the error of the one it waited on says why it went as that one does", async () => {
  const clock = new Clock();
  let open!: () => void;
  const gate = new Promise<void>((resolve) => open = resolve);
  const o = origin(async (_request, n) => {
    if (n === 1) return reply("stored", { "cache-control": "max-age=60" }, { clock });
    await gate;
    return reply("down", {}, { status: 503, clock });
  });
  const session = new CachedSession({ fetch: o.fetch, now: clock.fn, cacheStatus: true, staleIfError: true });
  await (await session.fetch(A)).text();
  clock.tick(10);
  const init = { headers: { "cache-control": "max-age=0" } };
  const both = [session.fetch(A, init), session.fetch(A, init)];
  await until(() => o.calls === 2);
  await settle();
  open();
  const responses = await Promise.all(both);
  equal(o.calls, 2, "the second request waited on the first");
  const told = await Promise.all(
    responses.map(async (response) => [await response.text(), response.headers.get("cache-status")]),
  );
  deepEqual(told, [
    ["stored", "http-cache; fwd=request; fwd-status=503; ttl=50"],
    ["stored", "http-cache; fwd=request; fwd-status=503; ttl=50"],
  ]);
  await session.close();
});

// A HEAD response that freshens the stored GET response (RFC 9111 §4.3.5) has it stored again, as a
// 304 does (a store event, stats().stored), but its Cache-Status left out `stored` and `ttl`, and
// the response's expiresAt was undefined.
Deno.test("Cache-Status and expiresAt: a HEAD response that freshened the stored GET response says it is stored", async () => {
  const clock = new Clock();
  const o = origin((request) =>
    reply(request.method === "HEAD" ? null : "body", { "cache-control": "max-age=10", etag: '"e"' }, {
      clock,
    })
  );
  const stores: number[] = [];
  const session = new CachedSession({
    fetch: o.fetch,
    now: clock.fn,
    cacheStatus: true,
    onEvent: (event) => event.type === "store" && stores.push(event.expiresAt),
  });
  await (await session.fetch(A)).text();
  clock.tick(20);
  const head = await session.fetch(A, { method: "HEAD" });
  await head.text();
  deepEqual([head.status, head.fromCache], [200, false]);
  equal(head.headers.get("cache-status"), "http-cache; fwd=stale; fwd-status=200; stored; ttl=10");
  equal(head.expiresAt?.getTime(), clock.now + 10_000);
  deepEqual(stores, [clock.now - 10_000, clock.now + 10_000], "the freshened entry was stored");
  const hit = await session.fetch(A);
  deepEqual([await hit.text(), hit.headers.get("cache-status")], ["body", "http-cache; hit; ttl=10"]);
  await session.close();
});

// A response whose body the cache had whole at once (a declared length on Deno and Bun, no body, a
// HEAD's) was stored before its miss event was sent: the store came first, the miss after it.
Deno.test("events: a miss comes before the store of its response, whatever its body", async () => {
  const o = origin((request) => {
    const path = new URL(request.url).pathname;
    const headers = { "cache-control": "max-age=60" };
    if (path === "/empty") return reply(null, headers, { status: 204 });
    if (path === "/moved") return reply(null, { ...headers, location: "/sized" }, { status: 301 });
    if (path === "/sized") return reply("sized", { ...headers, "content-length": "5" });
    return reply("streamed", headers);
  });
  const events: string[] = [];
  const session = new CachedSession({
    fetch: o.fetch,
    onEvent: (event) => events.push(`${event.type} ${event.request}`),
  });
  for (const path of ["/sized", "/empty", "/streamed"]) {
    await (await session.fetch(`http://127.0.0.1${path}`)).text();
  }
  await (await session.fetch("http://127.0.0.1/head", { method: "HEAD" })).text();
  await (await session.fetch("http://127.0.0.1/moved", { cache: "reload" })).text();
  await settle();
  deepEqual(events, [
    "miss GET http://127.0.0.1/sized",
    "store GET http://127.0.0.1/sized",
    "miss GET http://127.0.0.1/empty",
    "store GET http://127.0.0.1/empty",
    "miss GET http://127.0.0.1/streamed",
    "store GET http://127.0.0.1/streamed",
    "miss HEAD http://127.0.0.1/head",
    "store HEAD http://127.0.0.1/head",
    "miss GET http://127.0.0.1/moved",
    "store GET http://127.0.0.1/moved",
    "miss GET http://127.0.0.1/sized",
    "store GET http://127.0.0.1/sized",
  ]);
  await session.close();
});
