/**
 * Monitoring, hunted a fourth time: what `session.stats()`, the `onEvent` events and the
 * `Cache-Status` header tell of each path a request takes, checked against each other and against
 * docs/inspection.md.
 *
 * @module
 */

import { deepEqual, equal } from "node:assert/strict";
import { CachedSession, type CacheEvent, MemoryBackend } from "../mod.ts";
import { Clock, origin, reached, reply, settle } from "./_origin.ts";

// docs/inspection.md: an unsafe request's evict event names each URL it invalidated, once. A
// response whose Content-Location named the target URI again (a PUT's, a POST's), or whose Location
// and Content-Location named one URL (with a fragment, or an ignored parameter), gave two events for
// the one URL; and a target kept the fragment that neither a stored URL nor `urls()` has.
Deno.test("events: an unsafe request's evict events name each URL it invalidated once, as stored", async () => {
  const o = origin((request) => {
    if (request.method === "GET") return reply("page", { "cache-control": "max-age=60" });
    const path = new URL(request.url).pathname;
    if (path === "/self") return reply("done", { "content-location": "/self" });
    return reply("made", { location: "/made#top", "content-location": "/made?api_key=SECRET" }, {
      status: 201,
    });
  });
  const evicts: string[] = [];
  const session = new CachedSession({
    fetch: o.fetch,
    ignoredParameters: ["api_key"],
    onEvent: (event: CacheEvent) => event.type === "evict" && evicts.push(`${event.reason} ${event.target}`),
  });
  for (const path of ["/self", "/new", "/made"]) {
    await (await session.fetch(`http://127.0.0.1${path}`)).text();
  }
  await (await session.fetch("http://127.0.0.1/self", { method: "PUT", body: "x" })).text();
  await (await session.fetch("http://127.0.0.1/new#form", { method: "POST", body: "x" })).text();
  deepEqual(evicts, [
    "invalidated http://127.0.0.1/self",
    "invalidated http://127.0.0.1/new",
    "invalidated http://127.0.0.1/made",
  ]);
  deepEqual(await session.cache.urls(), []);
  await session.close();
});

// docs/inspection.md: `evict` tells of entries the session removed. A `cache: "reload"` whose
// response was not stored (its body over maxEntrySize, or its record refused by the storage) sent
// `evict unstorable` for its URL though nothing was stored there, as if the reload had not looked:
// it reads its slot (for placement), and a request in the default mode sent none.
Deno.test("events: a reload whose response is not stored evicts only what was stored", async () => {
  const o = origin((request) => {
    const size = new URL(request.url).pathname === "/declared" ? 500 : 250;
    const headers = { "cache-control": "max-age=60" };
    // (A declared length over the limit streams through; a record over it is refused.)
    return reply("x".repeat(size), size === 500 ? { ...headers, "content-length": "500" } : headers);
  });
  const evicts: string[] = [];
  const session = new CachedSession({
    fetch: o.fetch,
    backend: new MemoryBackend({ maxEntrySize: 300 }),
    onEvent: (event: CacheEvent) => event.type === "evict" && evicts.push(`${event.request} ${event.reason}`),
  });
  for (const path of ["/declared", "/refused"]) {
    await (await session.fetch(`http://127.0.0.1${path}`, { cache: "reload" })).text();
  }
  await settle();
  deepEqual(evicts, [], "nothing was stored: nothing was evicted");
  deepEqual(session.stats().stored, 0);
  await session.close();
});

// docs/inspection.md: a stored response that a newer one may not replace in storage (a body larger
// than the backend keeps) is evicted, "the older one must not outlive it". One that a URL reached
// through a redirect alias (stored in the slot of the URL whose redirect led there) stayed: the
// evict event named the URL's own slot, where nothing was stored, and once the origin failed the
// older response was served again (stale-if-error), after the newer one.
Deno.test("events: a newer response too large to store evicts the stored one a redirect alias led to", async () => {
  const clock = new Clock();
  let down = false;
  const o = origin((request) => {
    const headers = { "cache-control": "max-age=10, stale-if-error=1000" };
    if (down) return reply("down", {}, { status: 503, clock });
    // The fetch follows /old's redirect itself: its response, from /new, is stored under /old.
    if (new URL(request.url).pathname === "/old") return reached(reply("older", headers, { clock }), "/new");
    return reply("x".repeat(500), { ...headers, "content-length": "500" }, { clock });
  });
  const events: CacheEvent[] = [];
  const session = new CachedSession({
    fetch: o.fetch,
    now: clock.fn,
    backend: new MemoryBackend({ maxEntrySize: 300 }),
    onEvent: (event) => events.push(event),
  });
  const NEW = "http://127.0.0.1/new";
  await (await session.fetch("http://127.0.0.1/old")).text();
  const [stored] = events.flatMap((event) => event.type === "store" ? [event.key] : []);
  const hit = await session.fetch(NEW);
  deepEqual([await hit.text(), hit.fromCache, hit.cacheKey], ["older", true, stored]);
  clock.tick(20);
  equal((await (await session.fetch(NEW)).text()).length, 500, "the newer response, not stored");
  await settle();
  const evicts = events.flatMap((event) => event.type === "evict" ? [`${event.reason} ${event.target}`] : []);
  deepEqual(evicts, [`unstorable ${stored}`]);
  down = true;
  const after = await session.fetch(NEW);
  deepEqual([await after.text(), after.fromCache, after.status], ["down", false, 503]);
  await session.close();
});
