/**
 * What mutation testing of the third session's fixes (redirect aliases written again, invalidation
 * and close, the memory store's sweep of expired records, backend options, the Deno KV manifest, the
 * Age cap, responses fetch made with a status outside 200–599) found no test for: each test pins
 * one behaviour a small change to those lines broke unnoticed.
 *
 * @module
 */

import { assertEquals, assertRejects } from "./_assert.ts";
import { Clock, origin, reached, reply } from "./_origin.ts";
import { armedTimers, type Loopback, loopback, until } from "./_fixtures.ts";
import { CacheBackend } from "../backends/base.ts";
import { RedisStorage } from "../backends/redis.ts";
import { DEFAULT_PREFIX, DenoKVBackend } from "../backends/deno_kv.ts";
import { CHUNK_SIZE, encodeManifest, type Manifest } from "../src/kv_manifest.ts";
import { openKv } from "@deno/kv";
import { MemoryStorage } from "../backends/memory.ts";
import { ALIAS_PREFIX } from "../src/cache_keys.ts";
import { CachedSession } from "../mod.ts";

/** Every key a storage holds. */
async function keysOf(storage: MemoryStorage): Promise<string[]> {
  return await Array.fromAsync(storage.keys());
}

/** /old redirects to /new, whose response varies on Accept-Language: English is fresh longer. */
function varyingRedirect(clock: Clock) {
  return origin((request) => {
    const language = request.headers.get("accept-language") ?? "en";
    const etag = `"${language}"`;
    const headers = {
      vary: "accept-language",
      etag,
      "cache-control": `max-age=${language === "en" ? 1000 : 10}`,
    };
    const response = request.headers.get("if-none-match") === etag
      ? reply(null, headers, { status: 304, clock })
      : reply(`v-${language}`, headers, { clock });
    return new URL(request.url).pathname === "/old" ? reached(response, "/new") : response;
  });
}

// src/cache_access.ts:335 (`found.beside ?? found.key` -> `found.key`): a 304 to a request that
// came through a redirect's alias to a Vary variant wrote the alias again pointing at the variant's
// own slot instead of the primary one beside it: the other variants were no longer found through it.
Deno.test("a 304 through a redirect's alias to a Vary variant keeps the alias leading to the primary slot", async () => {
  const clock = new Clock();
  const o = varyingRedirect(clock);
  const background: Promise<unknown>[] = [];
  const session = new CachedSession({
    fetch: o.fetch,
    now: clock.fn,
    waitUntil: (work) => background.push(work),
  });
  const get = async (path: string, language: string) => {
    const response = await session.fetch(`http://127.0.0.1${path}`, {
      headers: { "accept-language": language },
    });
    const served = `${await response.text()}:${response.fromCache}`;
    await Promise.all(background.splice(0));
    return served;
  };
  assertEquals(await get("/old", "en"), "v-en:false");
  assertEquals(await get("/old", "fr"), "v-fr:false");
  clock.tick(60); // the French variant is stale, the English one still fresh
  assertEquals([await get("/new", "fr"), o.calls], ["v-fr:true", 3]); // revalidated: a 304
  assertEquals(
    [await get("/new", "en"), await get("/old", "en"), await get("/new", "fr"), await get("/old", "fr")],
    ["v-en:true", "v-en:true", "v-fr:true", "v-fr:true"],
  );
  assertEquals(o.calls, 3);
  await session.close();
});

// src/cache_access.ts:336 (`if (key === target) return true` -> `return false`): a redirect that
// led to the URL's own key (here it drops an ignored parameter) needs no alias, and its response is
// stored all the same.
Deno.test("a redirect that leads to the same cache key is stored without an alias", async () => {
  const o = origin((request) => {
    const response = reply("v1", { "cache-control": "max-age=600" });
    return new URL(request.url).search === "" ? response : reached(response, "/page");
  });
  const session = new CachedSession({ fetch: o.fetch, ignoredParameters: ["utm"] });
  const first = await session.fetch("http://127.0.0.1/page?utm=mail");
  assertEquals([await first.text(), first.redirected, first.fromCache], ["v1", true, false]);
  const second = await session.fetch("http://127.0.0.1/page?utm=feed");
  assertEquals([await second.text(), second.fromCache, o.calls], ["v1", true, 1]);
  await session.close();
});

// src/cache_access.ts:340 (the alias's write checked against no URL): a response asked for before a
// POST to where its redirect led is not stored after it, and neither is the alias from there, which
// would lead to nothing the cache may serve.
Deno.test("a redirect's response asked for before a POST to where it led leaves no alias behind", async () => {
  let release = () => {};
  const held = new Promise<void>((resolve) => release = resolve);
  const o = origin(async (request) => {
    if (request.method === "POST") return reply("done");
    await held;
    return reached(reply("v1", { "cache-control": "max-age=600" }), "/new");
  });
  const storage = new MemoryStorage();
  const background: Promise<unknown>[] = [];
  const session = new CachedSession({
    fetch: o.fetch,
    backend: new CacheBackend(storage),
    waitUntil: (work) => background.push(work),
  });
  const asked = session.fetch("http://127.0.0.1/old");
  await until(() => o.calls === 1);
  await (await session.fetch("http://127.0.0.1/new", { method: "POST" })).text();
  release();
  assertEquals(await (await asked).text(), "v1");
  await Promise.all(background.splice(0));
  assertEquals((await keysOf(storage)).filter((key) => key.startsWith(ALIAS_PREFIX)), []);
  const again = await session.fetch("http://127.0.0.1/new");
  assertEquals([await again.text(), again.fromCache], ["v1", false]);
  await session.close();
});

// backends/memory.ts:182 (the sweep keeps no `soonest` of the records it leaves) and :162
// (`#evicted >= size >> 6` -> `>`): a record alive at the last sweep, past its deleteAt by the next
// write that finds the store full, makes room before a live one is evicted.
Deno.test("memory: a record that expires after a sweep makes room at the next one before a live record goes", async () => {
  const storage = new MemoryStorage({ maxEntries: 2 });
  const one = new Uint8Array([1]);
  await storage.set("live", one, Infinity);
  const soonAt = Date.now() + 2;
  await storage.set("soon", new Uint8Array(100), soonAt);
  await storage.set("dead", one, Date.now() - 1); // full: a sweep takes "dead"
  assertEquals(await keysOf(storage), ["live", "soon"]);
  await until(() => Date.now() > soonAt);
  await storage.set("new", one, Infinity); // full: "soon" goes, not "live", the least recently used
  assertEquals([storage.bytes, await storage.get("live"), await storage.get("new")], [2, one, one]);
});

// backends/memory.ts:165 (`#evicted++` dropped), :108 (`#evicted` starting at 0) and :162 (a sweep
// spaced by half the records, not a 64th): in a store of 128 records, sweeps come again after a
// few evictions, and the first one comes at once.
Deno.test("memory: a large full store sweeps expired records again after a few evictions", async () => {
  const storage = new MemoryStorage({ maxEntries: 128 });
  const one = new Uint8Array([1]);
  for (let i = 0; i < 127; i++) await storage.set(`live${i}`, one, Infinity);
  await storage.set("dead", one, Date.now() - 1);
  await storage.set("first", one, Infinity); // full: the first sweep takes "dead"
  const kept = await keysOf(storage);
  assertEquals([kept.includes("live0"), kept.includes("dead"), kept.length], [true, false, 128]);
  const soonAt = Date.now() + 2;
  await storage.set("soon", new Uint8Array(1000), soonAt); // full: live0 goes, "soon" is alive
  await until(() => Date.now() > soonAt);
  for (let i = 0; i < 10; i++) await storage.set(`later${i}`, one, Infinity);
  assertEquals(storage.bytes, 128, "the expired record was swept");
});

/** A memory storage whose close() fails from the second call on. */
class FailingClose extends MemoryStorage {
  closes = 0;
  override close(): Promise<void> {
    return ++this.closes === 1 ? super.close() : Promise.reject(new Error("the store would not close"));
  }
}

// src/cache_access.ts:401 (the failure of closing the store again after an invalidation made after
// close() not caught): it is reported to onError as the delete's, and the POST is answered.
Deno.test("a failure to close the store again after an invalidation made after close() is reported, not thrown", async () => {
  const storage = new FailingClose();
  const errors: string[] = [];
  const session = new CachedSession({
    fetch: () => Promise.resolve(reply("done")),
    backend: new CacheBackend(storage),
    onError: (error, context) => errors.push(`${context.operation}: ${(error as Error).message}`),
  });
  await session.close();
  const response = await session.fetch("http://127.0.0.1/thing", { method: "POST" });
  assertEquals([await response.text(), storage.closes, errors], ["done", 2, [
    "delete: Cannot close memory storage: the store would not close",
  ]]);
});

/** An upstream that answers every request with status 999, which the Response constructor refuses. */
function denying(): Promise<Loopback> {
  return loopback((_request, response) => {
    response.writeHead(999, "Request denied", { "content-length": "6" });
    response.end("denied");
  });
}

/** The status a response holds inside, which servers send (not an own `status` laid over it). */
function heldStatus(response: Response): number {
  return Object.getOwnPropertyDescriptor(Response.prototype, "status")!.get!.call(response);
}

// src/response.ts:209 (fromNetwork handing no response of fetch's to take over), :227 (none taken
// over) and :399 (clone() building its copy without the one super.clone() made): a response with a
// status outside 200–599, and its clone, hold that status as the response fetch made does, so a
// server sends it rather than 200.
Deno.test("a response with a status outside 200–599, and its clone, hold that status as fetch's response does", async () => {
  const upstream = await denying();
  const session = new CachedSession();
  try {
    const response = await session.fetch(upstream.url);
    const clone = response.clone();
    assertEquals(
      [heldStatus(response), response.ok, heldStatus(clone), clone.ok, clone.fromCache, await clone.text()],
      [999, false, 999, false, false, "denied"],
    );
    assertEquals(await response.text(), "denied");
  } finally {
    await session.close();
    await upstream.close();
  }
});

// Was (src/response.ts:227, a bug of the fix that took fetch's response over): a session whose
// fetch is another session's got a CachedResponse, which it took over and built again: "Cannot
// initialize private methods of class CachedResponse twice on the same object".
Deno.test("a session over another session's fetch passes on a status outside 200–599", async () => {
  const upstream = await denying();
  const inner = new CachedSession();
  const outer = new CachedSession({ fetch: (input, init) => inner.fetch(input, init) });
  try {
    const response = await outer.fetch(upstream.url);
    assertEquals(
      [response.status, response.ok, response.fromCache, await response.text()],
      [999, false, false, "denied"],
    );
  } finally {
    await outer.close();
    await inner.close();
    await upstream.close();
  }
});

// backends/redis.ts:217 (`/\d*` -> `/\d+`): a url that ends at the host with a slash, the client's
// database 0, is taken (nothing connects until the first command).
Deno.test("redis: a url that ends in a slash after the host is taken", async () => {
  for (const url of ["redis://127.0.0.1:6379/", "rediss://u:p@127.0.0.1:6380/"]) {
    const storage = new RedisStorage({ url });
    assertEquals(storage.url, url);
    await storage.close();
  }
});

// backends/deno_kv.ts:151 (the longest timed expiry without the chunks' margin): a record of more
// chunks than one commit holds, kept a little less than the longest timer (about 24.8 days), has its
// first chunks committed alone, with an expiry an hour later than the record's: @deno/kv's
// in-memory database (Node and Bun without a path) armed its timer past the longest one, which
// fires after 1 ms and again every millisecond.
Deno.test("deno-kv: a record of many chunks kept nearly the longest timer arms no timer past it in @deno/kv's memory", async () => {
  const kv = await openKv(undefined, { implementation: "in-memory" });
  const backend = new DenoKVBackend({ kv: kv as never });
  const timers = armedTimers();
  const armed = timers.delays;
  try {
    const value = new Uint8Array(800_000).fill(7); // 13 chunks: more than one commit holds
    await backend.storage.set("big", value, Date.now() + 2 ** 31 - 1 - 60_000);
    assertEquals(armed.filter((delay) => delay > 2 ** 31 - 1), []);
    assertEquals((await backend.storage.get("big"))?.length, value.length);
  } finally {
    timers.restore();
    await backend.close();
    kv.close();
  }
});

// src/kv_manifest.ts:72 (an inline record's manifest let through with a generation): a record that
// says it is inline (no chunks) but names a generation is damaged, and is no record, even when its
// length agrees with the bytes after the generation: the read fails, and deletes it.
Deno.test("deno-kv: an inline record whose manifest names a generation is read as corrupt", async () => {
  const kv = await openKv(undefined, { implementation: "in-memory" });
  const backend = new DenoKVBackend({ kv: kv as never });
  try {
    const body = new Uint8Array([1, 2, 3]);
    const manifest = { deleteAt: Date.now() + 60_000, length: body.length, chunks: 0 };
    await kv.set(
      [...DEFAULT_PREFIX, "entry", "sound"],
      encodeManifest({ ...manifest, generation: "" }, body),
    );
    await kv.set(
      [...DEFAULT_PREFIX, "entry", "damaged"],
      encodeManifest({ ...manifest, generation: "g" }, body),
    );
    assertEquals(await backend.storage.get("sound"), body);
    await assertRejects(() => backend.storage.get("damaged"), SyntaxError, "manifest is corrupt");
    assertEquals((await kv.get([...DEFAULT_PREFIX, "entry", "damaged"])).value, null);
  } finally {
    await backend.close();
    kv.close();
  }
});

// src/kv_manifest.ts:72 and :79, each check of a manifest dropped or loosened: the inline length,
// a whole length, a chunked record longer than one chunk, its generation, its chunk count, nothing
// inline after a chunked record's manifest. A damaged manifest fails the read and is deleted; it
// never sizes a read of chunks.
Deno.test("deno-kv: a manifest whose length, chunks and generation disagree is read as corrupt", async () => {
  const kv = await openKv(undefined, { implementation: "in-memory" });
  const backend = new DenoKVBackend({ kv: kv as never });
  const deleteAt = Date.now() + 60_000;
  const damaged: [string, Manifest, Uint8Array | undefined][] = [
    [
      "inline, shorter than its length",
      { deleteAt, length: 5, chunks: 0, generation: "" },
      new Uint8Array(3),
    ],
    ["a fractional length", { deleteAt, length: 100_000.5, chunks: 2, generation: "g" }, undefined],
    ["chunked, one chunk long", { deleteAt, length: CHUNK_SIZE, chunks: 1, generation: "g" }, undefined],
    ["chunked, no generation", { deleteAt, length: 100_000, chunks: 2, generation: "" }, undefined],
    ["chunked, a chunk too many", { deleteAt, length: 100_000, chunks: 3, generation: "g" }, undefined],
    ["chunked, bytes after it", { deleteAt, length: 100_000, chunks: 2, generation: "g" }, new Uint8Array(1)],
  ];
  try {
    for (const [name, manifest, inline] of damaged) {
      await kv.set([...DEFAULT_PREFIX, "entry", name], encodeManifest(manifest, inline));
      await assertRejects(() => backend.storage.get(name), SyntaxError, "manifest is corrupt");
      assertEquals((await kv.get([...DEFAULT_PREFIX, "entry", name])).value, null, name);
    }
  } finally {
    await backend.close();
    kv.close();
  }
});

// src/serve.ts:69 (`Math.floor` -> `Math.ceil`): a hit's Age is its current age in whole seconds
// that have passed (RFC 9111 §5.1, delta-seconds), not rounded up.
Deno.test("a hit's Age counts only whole seconds that have passed", async () => {
  const clock = new Clock();
  const o = origin(() => reply("v1", { "cache-control": "max-age=60" }, { clock }));
  const session = new CachedSession({ fetch: o.fetch, now: clock.fn });
  await (await session.fetch("http://127.0.0.1/aged")).text();
  clock.tick(2.5);
  const hit = await session.fetch("http://127.0.0.1/aged");
  assertEquals([await hit.text(), hit.fromCache, hit.headers.get("age")], ["v1", true, "2"]);
  await session.close();
});
