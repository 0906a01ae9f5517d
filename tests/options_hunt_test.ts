/**
 * Options at their edges: each bad one refused at construction by name with what is allowed, each
 * one at a documented bound accepted and working, and options read the same way by every entry
 * point (`new CachedSession`, `cachedFetch`, `installCache`, each backend).
 *
 * @module
 */

import { assert, assertEquals, assertThrows } from "./_assert.ts";
import { DenoKVBackend } from "../backends/deno_kv.ts";
import { MemoryBackend } from "../backends/memory.ts";
import { MongoDBBackend } from "../backends/mongodb.ts";
import { RedisBackend } from "../backends/redis.ts";
import { SQLiteBackend } from "../backends/sqlite.ts";
import { cachedFetch, CachedSession, installCache, uninstallCache } from "../mod.ts";
import { origin, reply } from "./_origin.ts";
import { openKv } from "./_fixtures.ts";
import { serviceUrl } from "./_services.ts";

const URL_A = "http://127.0.0.1/options";
/** The longest timer the runtimes arm (ms): a longer delay is armed as 1 ms. */
const LONGEST_TIMER = 2 ** 31 - 1;

const redis = serviceUrl("REDIS_URL");
const mongodb = serviceUrl("MONGODB_URL");

// MongoDBBackend took any safe integer as `timeout` and handed it to the driver, whose timers
// overflow past 2^31 - 1 ms and fire after 1 ms: every call failed with "Server selection timed
// out after 2147483648 ms" (RedisBackend's connect timeout and deadline timer overflowed the same way).
Deno.test("backend options: a timeout longer than the longest timer is refused, naming the bound", () => {
  const create = [
    ["RedisBackend", (timeout: number) => new RedisBackend({ timeout })],
    ["MongoDBBackend", (timeout: number) => new MongoDBBackend({ timeout })],
  ] as const;
  for (const [name, backend] of create) {
    for (const timeout of [LONGEST_TIMER + 1, 3_000_000_000, Number.MAX_SAFE_INTEGER]) {
      assertThrows(
        () => backend(timeout),
        RangeError,
        `Cannot create ${name}: timeout must be a positive integer of at most ${LONGEST_TIMER} ms`,
      );
    }
  }
});

Deno.test({
  name: "mongodb backend: a timeout at the longest timer is accepted and its calls work",
  ignore: mongodb.skip !== undefined,
  async fn() {
    const backend = new MongoDBBackend({
      url: mongodb.url!,
      db: "http_cache_test",
      collection: `options_${crypto.randomUUID().slice(0, 8)}_v1`,
      timeout: LONGEST_TIMER,
    });
    try {
      await backend.storage.set("key", new Uint8Array([1, 2, 3]), Date.now() + 60_000);
      assertEquals([...(await backend.storage.get("key"))!], [1, 2, 3]);
    } finally {
      await backend.clear().catch(() => {});
      await backend.close();
    }
  },
});

Deno.test({
  name: "redis backend: a timeout at the longest timer is accepted and its calls work",
  ignore: redis.skip !== undefined,
  async fn() {
    const backend = new RedisBackend({
      url: redis.url!,
      prefix: `http-cache-test:${crypto.randomUUID()}:v1:`,
      timeout: LONGEST_TIMER,
    });
    try {
      await backend.storage.set("key", new Uint8Array([1, 2, 3]), Date.now() + 60_000);
      assertEquals([...(await backend.storage.get("key"))!], [1, 2, 3]);
    } finally {
      await backend.clear().catch(() => {});
      await backend.close();
    }
  },
});

// A Deno KV prefix that left no room in KV's 2 KiB keys was accepted: every read and write then
// failed ("Key too large"), each reported to onError, and nothing was ever cached.
Deno.test("deno kv backend: a prefix that leaves no room for the cache's keys is refused at construction", async () => {
  const kv = await openKv(":memory:");
  try {
    for (const prefix of [["x".repeat(1976)], ["x".repeat(2100)], ["a".repeat(1000), "b".repeat(1000)]]) {
      assertThrows(
        () => new DenoKVBackend({ kv, prefix }),
        RangeError,
        "Cannot create DenoKVBackend: prefix must take at most 1977 bytes",
      );
    }
  } finally {
    kv.close();
  }
});

Deno.test("deno kv backend: the longest prefix accepted still stores a long key and a chunked body", async () => {
  const kv = await openKv(":memory:");
  const errors: unknown[] = [];
  // 1,975 characters and 2 bytes of framing: the 1,977 bytes allowed.
  const backend = new DenoKVBackend({ kv, prefix: ["x".repeat(1975)] });
  const o = origin(() => reply("0123456789".repeat(20_000), { "cache-control": "max-age=60" }));
  const session = new CachedSession({ backend, fetch: o.fetch, onError: (error) => errors.push(error) });
  try {
    const url = `${URL_A}/${"k".repeat(3000)}`;
    assertEquals((await (await session.fetch(url)).text()).length, 200_000);
    const again = await session.fetch(url);
    assertEquals((await again.text()).length, 200_000);
    assertEquals(again.fromCache, true);
    assertEquals(errors, []);
    assertEquals(o.calls, 1);
  } finally {
    await session.close();
    kv.close();
  }
});

// An options object that is a Map (or an array, or another iterable) was taken as an object with
// no options: every option it held was left at its default, without a word.
Deno.test("options: a Map or an array given as options is refused by every entry point", () => {
  const found = globalThis.fetch;
  try {
    for (const options of [new Map([["expireAfter", 60]]), [], new Set(["shared"])]) {
      assertThrows(
        () => new CachedSession(options as never),
        TypeError,
        "options must be an object: received a",
      );
      assertThrows(() => cachedFetch(options as never), TypeError, "options must be an object: received a");
      assertThrows(() => installCache(options as never), TypeError, "options must be an object: received a");
      assertEquals(globalThis.fetch, found);
      for (
        const [name, create] of [
          ["MemoryBackend", () => new MemoryBackend(options as never)],
          ["SQLiteBackend", () => new SQLiteBackend(options as never)],
          ["RedisBackend", () => new RedisBackend(options as never)],
          ["MongoDBBackend", () => new MongoDBBackend(options as never)],
          ["DenoKVBackend", () => new DenoKVBackend(options as never)],
        ] as const
      ) {
        assertThrows(create, TypeError, `Cannot create ${name}: options must be an object: received a`);
      }
    }
  } finally {
    uninstallCache();
    globalThis.fetch = found;
  }
});

// installCache spread its options into a new object, dropping those inherited (a class's
// getters, `Object.create(defaults)`), which new CachedSession and cachedFetch read: a bad one
// was installed unchecked, a good one ignored.
Deno.test("installCache reads inherited options as CachedSession and cachedFetch do", async () => {
  const found = globalThis.fetch;
  const o = origin((_request, n) => reply(`body ${n}`, { "cache-control": "max-age=60" }));
  try {
    const bad = Object.create({ expireAfter: -5 });
    assertThrows(() => new CachedSession(bad), RangeError, "expireAfter must be seconds >= 0");
    assertThrows(() => installCache(bad), RangeError, "expireAfter must be seconds >= 0");
    assertEquals(globalThis.fetch, found);

    class Options {
      get cacheStatus(): boolean {
        return true;
      }
    }
    const options = Object.assign(new Options(), { fetch: o.fetch });
    const session = installCache(options);
    try {
      const response = await fetch(URL_A);
      await response.text();
      assert(response.headers.get("cache-status")?.startsWith("http-cache; fwd=uri-miss"));
      assertEquals(o.calls, 1);
    } finally {
      uninstallCache();
      await session.close();
    }
  } finally {
    globalThis.fetch = found;
  }
});

// A method that is no string (`method: 1`, which fetch sends as "1") made the session reject
// with "method.toUpperCase is not a function", where plain fetch sends the request.
Deno.test("a method that is no string is converted as fetch converts it, not refused", async () => {
  const o = origin((request) => reply(request.method));
  const session = new CachedSession({ fetch: o.fetch });
  try {
    const response = await session.fetch(URL_A, { method: 1 as never });
    // ("1" on Deno and Node; Bun's Request takes such a method as GET.)
    assertEquals(await response.text(), new Request(URL_A, { method: 1 as never }).method);
    assert(!response.fromCache);
  } finally {
    await session.close();
  }
});
