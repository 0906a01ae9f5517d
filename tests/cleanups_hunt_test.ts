/**
 * Small known gaps: options checked at construction (MongoDB's connection string, Redis's
 * `maxEntrySize`, SQLite's `busyTimeout: 0`), `await using` on `cachedFetch`, a failing
 * `waitUntil`, custom method names, repeated `max-stale`, and the CLI's units, prefixes and
 * corrupt records.
 */
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { deepEqual, equal, rejects, throws } from "node:assert/strict";
import { MongoDBBackend } from "../backends/mongodb.ts";
import { RedisBackend } from "../backends/redis.ts";
import { SQLiteStorage } from "../backends/sqlite.ts";
import { isLocked } from "../src/errors.ts";
import {
  CacheBackend,
  type CachedFetch,
  cachedFetch,
  CachedSession,
  type ErrorContext,
  installCache,
  uninstallCache,
} from "../mod.ts";
import { MemoryStorage } from "../backends/memory.ts";
import { origin, reply } from "./_origin.ts";
import { scripted } from "./_scripted.ts";
import { parseCacheControl } from "../src/cache_control.ts";
import { parseDuration } from "../src/cli/args.ts";
import { openCache } from "../src/cli/open.ts";
import { EXIT_FAILURE } from "../src/cli/main.ts";
import { runCli } from "./_cli.ts";
import { urlKeyPrefix } from "../src/cache_keys.ts";
import { SQLiteBackend } from "../backends/sqlite.ts";
import type { RedisStorage } from "../backends/redis.ts";
import { until, within } from "./_fixtures.ts";
import { tempDir } from "./_runtime.ts";

// Was: a malformed connection string was accepted, and every request then failed on it.
Deno.test("mongodb: a connection string the driver refuses throws at construction, naming url", () => {
  for (
    const url of ["mongodb://", "mongodb://a:b:c", "mongodb://h/?nosuchoption=1", "mongodb+srv://a.b.c:27017"]
  ) {
    throws(
      () => new MongoDBBackend({ url }),
      (error: unknown) =>
        error instanceof TypeError &&
        /^Cannot create MongoDBBackend: url must be a valid mongodb:\/\/ or mongodb\+srv:\/\/ connection string/
          .test(error.message),
      url,
    );
  }
  throws(() => new MongoDBBackend({ url: "http://x" }), /url must start with mongodb:\/\//);
  // The password never shows in the message.
  throws(
    () => new MongoDBBackend({ url: "mongodb://user:hunter2@h:99999" }),
    (error: unknown) => error instanceof TypeError && !error.message.includes("hunter2"),
  );
  // Accepted strings still connect nothing at construction.
  new MongoDBBackend({ url: "mongodb://127.0.0.1:9/?directConnection=true" });
  new MongoDBBackend({ url: "mongodb+srv://cluster.example.com" });
});

// Was: any maxEntrySize was accepted, so a record over Redis's 512 MiB string limit was collected
// whole and sent, only for the server to refuse it.
Deno.test("redis: maxEntrySize above 512 MiB, the largest Redis string, is refused at construction", () => {
  throws(
    () => new RedisBackend({ maxEntrySize: 512 * 1024 * 1024 + 1 }),
    (error: unknown) =>
      error instanceof RangeError &&
      error.message ===
        "Cannot create RedisBackend: maxEntrySize must be at most 536870912 (a Redis string holds 512 MiB): received 536870913",
  );
  equal(new RedisBackend({ maxEntrySize: 512 * 1024 * 1024 }).storage.maxEntrySize, 512 * 1024 * 1024);
});

// Was: busyTimeout: 0 (wait for no lock) was refused as not a positive integer.
Deno.test("sqlite: busyTimeout 0 is accepted, and a locked database fails the call without retrying", async () => {
  const path = join(tempDir("http_cache_busy0_"), "cache.db");
  for (const busyTimeout of [0, 1000]) {
    const storage = new SQLiteStorage({ path, busyTimeout });
    const holder = new DatabaseSync(path);
    try {
      await storage.set("warm", new Uint8Array([1]), Infinity); // opened, in WAL mode
      holder.exec("BEGIN IMMEDIATE");
      // The lock goes at the next turn of the timers: a storage that retries (on a timer) gets it.
      const released = new Promise((resolve) => setTimeout(() => resolve(holder.exec("COMMIT")), 0));
      const write = storage.set("key", new Uint8Array([2]), Infinity);
      if (busyTimeout === 0) await within(5000, rejects(write, (error) => isLocked(error)));
      else await within(5000, write);
      await released;
      equal((await storage.get("key")) !== undefined, busyTimeout !== 0);
    } finally {
      holder.close();
      await storage.close();
    }
  }
  throws(
    () => new SQLiteStorage({ busyTimeout: -1 }),
    /busyTimeout must be a non-negative integer: received -1/,
  );
});

/** A memory storage that counts its closings. */
class Closing extends MemoryStorage {
  closed = 0;
  override close(): Promise<void> {
    this.closed++;
    return super.close();
  }
}

// Was: the session had [Symbol.asyncDispose] but the fetch cachedFetch returns had not, so
// `await using fetch = cachedFetch()` did not type-check, and threw at run time.
Deno.test("cachedFetch: [Symbol.asyncDispose] closes its session, as the session's does", async () => {
  const o = origin(() => reply("v", { "cache-control": "max-age=60" }));
  const storage = new Closing();
  const fetch = cachedFetch({ backend: new CacheBackend(storage), fetch: o.fetch });
  const disposable: AsyncDisposable = fetch; // what `await using` asks of it
  await (await fetch("http://127.0.0.1/a")).text();
  await disposable[Symbol.asyncDispose]();
  equal(storage.closed, 1);
  // Closed: a request goes to the origin, past the stored answer.
  await (await fetch("http://127.0.0.1/a")).text();
  equal(o.calls, 2);
  // The fetch installCache sets as the global one closes its session too.
  const installed = new Closing();
  installCache({ backend: new CacheBackend(installed), fetch: o.fetch });
  try {
    await (globalThis.fetch as CachedFetch)[Symbol.asyncDispose]();
    equal(installed.closed, 1);
  } finally {
    uninstallCache();
  }
});

// Was: a waitUntil that threw (`ctx.waitUntil` passed without its ctx, say) was dropped without a
// word, and the background work it was meant to keep alive was kept alive by nothing.
Deno.test("a waitUntil that throws or rejects is reported to onError, and the request goes on", async () => {
  const broken = new Error("waitUntil called without its ctx");
  for (
    const waitUntil of [() => {
      throw broken;
    }, () => Promise.reject(broken)]
  ) {
    const reported: [unknown, ErrorContext][] = [];
    const session = new CachedSession({
      fetch: origin(() => reply("v", { "cache-control": "max-age=60" })).fetch,
      waitUntil,
      onError: (error, context) => void reported.push([error, context]),
    });
    try {
      const response = await session.fetch("http://127.0.0.1/a");
      equal(await response.text(), "v");
      await within(5000, until(() => reported.length > 0));
      deepEqual(reported[0], [broken, { operation: "write", request: "GET http://127.0.0.1/a" }]);
      // The write went on all the same.
      equal((await session.fetch("http://127.0.0.1/a")).fromCache, true);
    } finally {
      await session.close();
    }
  }
});

// Was: allowedMethods upper-cased every name, so ["purge"] allowed only PURGE, while fetch sends
// `purge` as written (it normalizes only DELETE GET HEAD OPTIONS POST PUT): it was never cached.
Deno.test("allowedMethods names are normalized as fetch does: purge allows purge (not PURGE), get allows GET", async () => {
  const o = origin(() => reply("v", { "cache-control": "max-age=60" }));
  const session = new CachedSession({ allowedMethods: ["purge", "get"], fetch: o.fetch });
  try {
    const fromCache = async (method: string) => {
      const response = await session.fetch("http://127.0.0.1/a", { method });
      await response.text();
      return response.fromCache;
    };
    deepEqual([await fromCache("purge"), await fromCache("purge")], [false, true]);
    // PURGE is another method (RFC 9110 §9.1: method names are case-sensitive), not allowed.
    deepEqual([await fromCache("PURGE"), await fromCache("PURGE")], [false, false]);
    deepEqual([await fromCache("GET"), await fromCache("get")], [false, true]);
  } finally {
    await session.close();
  }
});

// Was: the last max-stale won, so `max-stale=1, max-stale=2` allowed 2 s and
// `max-stale=5, max-stale` unlimited staleness. Now the least tolerant occurrence counts.
Deno.test("a repeated request max-stale allows no more staleness than its most restrictive occurrence", async () => {
  const cases: [string, number][] = [
    ["max-stale=1, max-stale=2", 1],
    ["max-stale=2, max-stale=1", 1],
    ["max-stale, max-stale=5", 5],
    ["max-stale=5, max-stale", 5],
    ["max-stale=abc, max-stale=3", 0],
    ["max-stale, max-stale", Infinity],
  ];
  for (const [value, maxStale] of cases) equal(parseCacheControl(value).maxStale, maxStale, value);
  // End to end: a response 2 s stale is not served to `max-stale=1, max-stale=5`.
  const s = scripted((clock) => (_request, n) =>
    reply(`v${n}`, { "cache-control": "max-age=10" }, { clock })
  );
  try {
    await s.get();
    s.clock.tick(12);
    const stale = (cacheControl: string) => s.get({ headers: { "cache-control": cacheControl } });
    equal((await stale("max-stale=5")).body, "v1");
    equal((await stale("max-stale=1, max-stale=5")).body, "v2");
  } finally {
    await s.session.close();
  }
});

// Was: `--older-than 7D` was refused while `7d` worked. M stays refused: minutes or months?
Deno.test("cli: --older-than takes its units in either case, but M, which is refused with the units listed", () => {
  deepEqual(["7D", "2W", "12H", "30S", "15m", "1.5d"].map(parseDuration), [
    7 * 86_400,
    2 * 604_800,
    12 * 3600,
    30,
    15 * 60,
    1.5 * 86_400,
  ]);
  throws(
    () => parseDuration("15M"),
    /--older-than must be a duration .*units s, m, h, d, w; m is minutes, M is refused/,
  );
});

// Was: the CLI read `?prefix=` as a form field, so `+` became a space: `?prefix=app+v2:` named
// the prefix "app v2:", and every command saw an empty cache.
Deno.test("cli: a ?prefix= value keeps its + (percent-encoding decoded as in a URL), and the rest of the URL as written", async () => {
  const prefixOf = async (spec: string) => {
    const { cache } = await openCache(spec);
    try {
      const storage = cache.storage as RedisStorage;
      return [storage.prefix, storage.url];
    } finally {
      await cache.close();
    }
  };
  deepEqual(await prefixOf("redis://127.0.0.1:9/0?prefix=app+v2:"), ["app+v2:", "redis://127.0.0.1:9/0"]);
  deepEqual(await prefixOf("redis://127.0.0.1:9?prefix=a%2Bb%20c%3A"), ["a+b c:", "redis://127.0.0.1:9"]);
  // The first prefix counts; a stray % stays as written.
  deepEqual(await prefixOf("redis://127.0.0.1:9?prefix=50%:&prefix=x:"), ["50%:", "redis://127.0.0.1:9"]);
});

/** Runs the CLI in-process; returns the exit code and stderr. */
async function cli(args: string[]): Promise<[number, string]> {
  const { code, stderr } = await runCli(args);
  return [code, stderr];
}

// Was: `show KEY` of a corrupt record failed with "Cannot show an entry of …: Cannot decode cache
// record: …" while `show URL` of one said "Nothing is stored for URL" (its scan skips it).
Deno.test("cli: show of a corrupt record says the same by key as by URL: nothing is stored", async () => {
  const path = join(tempDir("http_cache_corrupt_show_"), "cache.db");
  const url = "https://api.example.com/users";
  const key = await urlKeyPrefix("GET", new URL(url));
  const corrupt = async () => {
    const cache = new SQLiteBackend({ path });
    await cache.storage.set(key, new Uint8Array([1, 2, 3]), Infinity);
    await cache.close();
  };
  await corrupt();
  deepEqual(await cli([`sqlite:${path}`, "show", key]), [
    EXIT_FAILURE,
    `http-cache: Nothing is stored for ${key}\n`,
  ]);
  await corrupt();
  deepEqual(await cli([`sqlite:${path}`, "show", url]), [
    EXIT_FAILURE,
    `http-cache: Nothing is stored for ${url}\n`,
  ]);
});
