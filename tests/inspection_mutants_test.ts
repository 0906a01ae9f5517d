/**
 * The inspection scans and bulk deletes (`src/inspection.ts`), the circuit breaker
 * (`src/breaker.ts`) and `installCache` (`src/install.ts`), checked where mutation testing found
 * that no other test would fail. The scans run over the `Storage` contract, so most of them are
 * checked over the memory and SQLite storages both. Each test names the mutant it kills (file:line
 * as of the session that wrote it, before the fixes of the two bugs it found, and the change).
 *
 * @module
 */

import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { CacheBackend, type DeleteProgress, type Storage } from "../backends/base.ts";
import { MemoryStorage } from "../backends/memory.ts";
import { SQLiteStorage } from "../backends/sqlite.ts";
import { BackendError, CorruptRecordError } from "../src/errors.ts";
import { ALIAS_PREFIX, urlKeyPrefix } from "../src/cache_keys.ts";
import { invalidationsOf } from "../src/invalidations.ts";
import { encodeEntry, RECORD_VERSION } from "../src/record.ts";
import { type CachedFetch, cachedFetch, installCache, uninstallCache } from "../mod.ts";
import { origin, reply } from "./_origin.ts";
import { storeDown, Switched } from "./_fixtures.ts";
import { testEntry } from "./_entry.ts";

/**
 * A storage (memory or SQLite) that counts the reads it is asked for, how many are in flight at
 * once, and the deletes it gets; it can go down ({@linkcode Switched}).
 */
class Watched extends Switched {
  gets = 0;
  inFlight = 0;
  maxInFlight = 0;
  deletes: string[][] = [];
  override async get(key: string): Promise<Uint8Array | undefined> {
    this.gets++;
    this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
    try {
      await Promise.resolve(); // every read of a batch has started before the first ends
      return await super.get(key);
    } finally {
      this.inFlight--;
    }
  }
  override delete(keys: string[]): Promise<void> {
    this.deletes.push([...keys]);
    return super.delete(keys);
  }
}

/** The storages the scans are checked over: memory and SQLite. */
const STORAGES: [string, () => Storage][] = [
  ["memory", () => new MemoryStorage()],
  ["sqlite", () => new SQLiteStorage({ path: ":memory:" })],
];

/** Runs a check over each of {@linkcode STORAGES}, watched (by a {@linkcode Watched} of a kind). */
async function overEach<S extends Watched>(
  check: (storage: S, cache: CacheBackend) => Promise<void>,
  Kind: new (storage: Storage) => S = Watched as new (storage: Storage) => S,
): Promise<void> {
  for (const [name, open] of STORAGES) {
    const storage = new Kind(open());
    const cache = new CacheBackend(storage);
    try {
      await check(storage, cache);
    } catch (error) {
      throw new Error(`over ${name}: ${(error as Error).message}`, { cause: error });
    } finally {
      await cache.close();
    }
  }
}

/** Stores `count` entries of distinct URLs, keys `k0`, `k1`, … */
async function fill(cache: CacheBackend, count: number, expiresAt = Date.now() + 3_600_000): Promise<void> {
  const record = (i: number) => encodeEntry(testEntry({ url: `https://example.com/${i}`, expiresAt }));
  for (let first = 0; first < count; first += 100) {
    const batch = Array.from({ length: Math.min(100, count - first) }, (_, i) => first + i);
    await Promise.all(batch.map((i) => cache.storage.set(`k${i}`, record(i), Infinity)));
  }
}

// Kills inspection.ts:25 `READ_AHEAD = 32` → 2000 (the tests that read it compare with the
// constant, whatever it is): docs/inspection.md promises batches "of at most 32".
Deno.test("inspection: a scan reads 32 records at once, as documented", async () => {
  await overEach(async (storage, cache) => {
    await fill(cache, 100);
    for await (const _ of cache.responses()) break;
    equal(storage.gets, 32, "taking one response reads one batch");
    storage.maxInFlight = 0;
    equal(await cache.count({ valid: true }), 100);
    equal(storage.maxInFlight, 32);
  });
});

// Kills inspection.ts:27 `READ_AHEAD_BYTES = 8 MiB` → 64 MiB (the test of large records sizes them
// by the constant) and :296 (the size of a whole batch taken for the size of a record): records
// of 2 MiB are read 3 at a time, "about 8 MiB per batch".
Deno.test("inspection: records of 2 MiB are read three at a time once their size is known", async () => {
  const storage = new Watched(new MemoryStorage({ maxBytes: 2 ** 40, maxEntrySize: 2 ** 30 }));
  // One record stored under every key: the memory storage keeps the array, so this costs 2 MiB.
  const record = encodeEntry(testEntry({ body: new Uint8Array(2 * 1024 * 1024) }));
  for (let i = 0; i < 40; i++) await storage.set(`k${i}`, record, Infinity);
  // The records read by the time each entry comes: 32 for the first batch, read before anything
  // is known about sizes, then 3 at a time.
  const read: number[] = [];
  for await (const _ of new CacheBackend(storage).entries()) {
    if (read.push(storage.gets) === 1) storage.maxInFlight = 0;
  }
  deepEqual([read.length, read[0], read[32], read[35], read[38]], [40, 32, 35, 38, 40]);
  equal(storage.maxInFlight, 3);
});

// Kills inspection.ts:31 `PROGRESS_EVERY = 1000` → 100000, :148 `% PROGRESS_EVERY === 0` →
// `=== 1`, and the removal of the report at :148-150: a bulk delete that finds nothing to delete
// (no batch to report) still reports every 1,000 entries scanned, and once at the end.
Deno.test("inspection: a bulk delete reports progress every 1,000 entries scanned, and once at the end", async () => {
  await overEach(async (_storage, cache) => {
    await fill(cache, 2500);
    const progress: DeleteProgress[] = [];
    equal(await cache.delete({ expired: true }, { onProgress: (step) => progress.push(step) }), 0);
    deepEqual(progress, [
      { scanned: 1000, deleted: 0 },
      { scanned: 2000, deleted: 0 },
      { scanned: 2500, deleted: 0 },
    ]);
  });
});

// Kills inspection.ts:131 `batch.length > 0` → `>= 0`: a delete that selects nothing asks the
// storage to delete nothing (a custom storage need not take an empty list).
Deno.test("inspection: a bulk delete that selects nothing makes no delete call", async () => {
  await overEach(async (storage, cache) => {
    await fill(cache, 10);
    equal(await cache.delete({ expired: true }), 0);
    equal(await cache.delete({ urls: ["https://example.com/none"] }), 0);
    deepEqual(storage.deletes, []);
    equal(await cache.count(), 10);
  });
});

// Kills inspection.ts:148 `found.kind === "entry" &&` dropped: a redirect alias is no entry
// scanned, and reports no progress of its own (it came first, at 0 entries scanned).
Deno.test("inspection: deleting a URL whose only record is an orphan alias deletes it and reports once", async () => {
  await overEach(async (_storage, cache) => {
    const url = "https://example.com/page";
    const prefix = urlKeyPrefix("GET", new URL(url));
    await cache.writeAlias(prefix, "gone", Infinity);
    const progress: DeleteProgress[] = [];
    equal(await cache.delete({ urls: [url] }, { onProgress: (step) => progress.push(step) }), 0);
    deepEqual(progress, [{ scanned: 0, deleted: 0 }]);
    equal(await cache.storage.get(ALIAS_PREFIX + prefix), undefined);
  });
});

// Kills inspection.ts:186 (the listing's failure thrown as it came, not as a BackendError): every
// scan reports a storage that cannot list as the backend's failure, with the storage's error.
Deno.test("inspection: a storage that cannot list makes every scan reject with a BackendError", async () => {
  await overEach(async (storage, cache) => {
    await fill(cache, 3);
    storage.down = true;
    const failed = (error: unknown) => error instanceof BackendError && storeDown(error);
    await rejects(cache.size(), failed);
    await rejects(cache.urls(), failed);
    await rejects(cache.count({ valid: true }), failed);
    await rejects(cache.delete({ expired: true }), failed);
    await rejects(cache.delete({ urls: ["https://example.com/1"] }), failed);
  });
});

// Kills inspection.ts:198 (the scan of every entry reading the redirect aliases too): an entry
// scan reads entries only.
Deno.test("inspection: a scan of every entry reads no redirect alias", async () => {
  await overEach(async (storage, cache) => {
    await fill(cache, 2);
    await cache.writeAlias("elsewhere", "k0", Infinity);
    await cache.writeAlias("further", "k1", Infinity);
    storage.gets = 0; // (a write of an alias reads the one it replaces)
    equal(await cache.count({ valid: true }), 2);
    equal(storage.gets, 2);
  });
});

const PAGE = "https://example.com/page";
const OTHER = "https://example.com/other";
/** The URL as the writes of a session are checked by ({@linkcode Invalidations.since}). */
const written = (url: string) => () => [urlKeyPrefix("GET", new URL(url))];

// Kills inspection.ts:121 with `expired`, `valid` or `olderThan` dropped from `invalidating`, and
// :123 `if (invalidating)` → `if (true)`: a delete by state invalidates nothing — a response on
// its way is newer than anything it selects, and is stored (docs/inspection.md).
Deno.test("inspection: a delete by state of a URL's entries keeps no response on its way from being stored", async () => {
  await overEach(async (storage, cache) => {
    const invalidations = invalidationsOf(storage);
    for (const state of [{ expired: true }, { valid: true }, { olderThan: 60 }]) {
      const asked = invalidations.mark();
      await cache.delete({ urls: [PAGE], ...state });
      await cache.delete({ urlPattern: "example.com/*", ...state });
      equal(invalidations.since(written(PAGE), asked), false, JSON.stringify(state));
    }
  });
});

// Kills inspection.ts:135 `urls` kept for a delete by state (a failed one would be made again
// later as a delete of every entry of the URL), and :154/:157 with the methods given as `["GET"]`:
// a delete of a URL that fails is remembered for every method it was to delete, until one
// succeeds; a delete by state that fails is not.
Deno.test("inspection: a failed delete of a URL is remembered for each method until one succeeds; one by state is not", async () => {
  await overEach(async (storage, cache) => {
    const invalidations = invalidationsOf(storage);
    const key = (method: string) => urlKeyPrefix(method, new URL(PAGE));
    await cache.write(key("GET"), testEntry({ url: PAGE, expiresAt: 0 }), Infinity);
    storage.down = true;
    await rejects(cache.delete({ urls: [PAGE], expired: true }), storeDown);
    equal(invalidations.undoing, false, "a delete by state that failed");
    await rejects(cache.delete({ urls: [PAGE] }), storeDown);
    deepEqual(invalidations.undoneOf(key("GET"), undefined)?.methods, ["GET", "HEAD"]);
    deepEqual(invalidations.undoneOf(key("HEAD"), undefined)?.url.href, PAGE);
    storage.down = false;
    equal(await cache.delete({ urls: [PAGE] }), 1);
    equal(invalidations.undoing, false, "deleted since");
  });
});

// A bug: `expired: false` and `valid: false` select nothing of their own (`delete({ expired:
// false })` is refused as selecting everything), so `delete({ urls, expired: false })` deletes
// every entry of the URLs, as `delete({ urls })` does; yet inspection.ts:121 took it for a delete
// by state, which invalidates nothing: a response on its way was stored after the delete.
Deno.test("inspection: a delete by URL with expired or valid false invalidates the URL, as without them", async () => {
  await overEach(async (storage, cache) => {
    const invalidations = invalidationsOf(storage);
    for (const state of [{ expired: false }, { valid: false }]) {
      await cache.write(urlKeyPrefix("GET", new URL(PAGE)), testEntry({ url: PAGE }), Infinity);
      const asked = invalidations.mark();
      equal(await cache.delete({ urls: [PAGE], ...state }), 1, "every entry of the URL");
      equal(invalidations.since(written(PAGE), asked), true, JSON.stringify(state));
    }
  });
});

// Kills inspection.ts:231 and :245 (`scope.now()` → `Date.now()` for the entries of a URL, and for
// the entry a redirect to it led to): a URL's entries are expired or not by the cache's clock, as
// every other entry is.
Deno.test("inspection: the entries of a URL, and where a redirect to it led, are expired by the cache's clock", async () => {
  await overEach(async (_storage, cache) => {
    const later = Date.now() + 86_400_000;
    cache.now = () => later;
    const start = urlKeyPrefix("GET", new URL(OTHER)), page = urlKeyPrefix("GET", new URL(PAGE));
    const inAnHour = Date.now() + 3_600_000;
    await cache.write(page, testEntry({ url: PAGE, expiresAt: inAnHour }), Infinity);
    // A response to OTHER that a redirect led to PAGE: stored under OTHER, aliased from PAGE.
    await cache.write(start, testEntry({ url: PAGE, redirected: true, expiresAt: inAnHour }), Infinity);
    await cache.writeAlias(page, start, Infinity);
    equal(await cache.count({ urls: [PAGE], expired: true }), 2);
    equal(await cache.count({ urls: [PAGE], valid: true }), 0);
  });
});

// A bug: each URL of a filter was scanned on its own, so an entry found under two of them (the
// entry of a redirect from one to the other, or one URL given twice, or with and without a
// fragment) was listed, counted and deleted once for each. (With one record of what a scan of
// the URLs found, this also kills inspection.ts:230 and :244 with `seen.has(key)` dropped.)
Deno.test("inspection: an entry found under two URLs of a filter is listed, counted and deleted once", async () => {
  await overEach(async (storage, cache) => {
    const start = urlKeyPrefix("GET", new URL(OTHER)), page = urlKeyPrefix("GET", new URL(PAGE));
    await cache.write(start, testEntry({ url: PAGE, redirected: true }), Infinity);
    await cache.writeAlias(page, start, Infinity);
    const keys = async (urls: string[]) =>
      (await Array.fromAsync(cache.entries({ urls }))).map(({ key }) => key);
    deepEqual(await keys([PAGE, OTHER]), [start]);
    deepEqual(await keys([OTHER, PAGE]), [start]);
    equal(await cache.count({ urls: [OTHER, `${OTHER}#top`] }), 1);
    equal(await cache.delete({ urls: [PAGE, OTHER] }), 1);
    equal(storage.deletes.flat().filter((key) => key === start).length, 1, "deleted once");
    equal(await cache.count(), 0);
  });
});

// Kills inspection.ts:243 `seen.get(key) ?? false` → `?? true`: an entry that a URL's redirect
// alias names but that is another URL's (a Vary variant fetched without the redirect) is not
// selected for that URL, and does not make the alias an orphan: the alias stays while the entry
// the redirect led to stays, and that entry is served only while its alias holds.
Deno.test("inspection: a delete by URL and state keeps the alias of a kept entry, whatever else its slot holds", async () => {
  await overEach(async (_storage, cache) => {
    const start = urlKeyPrefix("GET", new URL(OTHER)), page = urlKeyPrefix("GET", new URL(PAGE));
    await cache.write(start, testEntry({ url: PAGE, redirected: true }), Infinity);
    await cache.write(`${start}.variant`, testEntry({ url: OTHER }), Infinity);
    await cache.writeAlias(page, start, Infinity);
    equal(await cache.delete({ urls: [PAGE], expired: true }), 0);
    deepEqual(await cache.read(ALIAS_PREFIX + page), { targets: [start] });
    equal(await cache.count(), 2);
  });
});

// Kills inspection.ts:251 `!anyEntry ||` dropped: a redirect alias whose entry is gone is deleted
// with the URL's entries by a delete by state as well, though it selects nothing.
Deno.test("inspection: a delete by URL and state deletes the URL's alias to an entry that is gone", async () => {
  await overEach(async (_storage, cache) => {
    const page = urlKeyPrefix("GET", new URL(PAGE));
    await cache.writeAlias(page, urlKeyPrefix("GET", new URL(OTHER)), Infinity);
    equal(await cache.delete({ urls: [PAGE], expired: true }), 0);
    equal(await cache.read(ALIAS_PREFIX + page), undefined);
  });
});

// Kills inspection.ts:251 `anySelected ||` dropped and :249 `anySelected ||= selected` dropped: the
// alias of an entry that a delete by URL and state selects goes with the entry.
Deno.test("inspection: a delete by URL and state deletes the alias of the entry it deletes", async () => {
  await overEach(async (_storage, cache) => {
    const start = urlKeyPrefix("GET", new URL(OTHER)), page = urlKeyPrefix("GET", new URL(PAGE));
    await cache.write(start, testEntry({ url: PAGE, redirected: true, expiresAt: 0 }), Infinity);
    await cache.writeAlias(page, start, Infinity);
    equal(await cache.delete({ urls: [PAGE], expired: true }), 1);
    equal(await cache.read(ALIAS_PREFIX + page), undefined);
    equal(await cache.count(), 0);
  });
});

/** A storage that finds one record corrupt below the record format, as Deno KV does a manifest. */
class Manifests extends Watched {
  override get(key: string): Promise<Uint8Array | undefined> {
    return key === "broken" ? Promise.reject(new CorruptRecordError("a broken manifest")) : super.get(key);
  }
}

// Kills inspection.ts:273 (the storage's CorruptRecordError thrown, or only one that is no
// BackendError skipped): a record the storage finds corrupt is skipped by every scan, as a record
// that does not decode is.
Deno.test("inspection: a record the storage itself finds corrupt is skipped by every scan", async () => {
  await overEach(async (storage, cache) => {
    await fill(cache, 3);
    await storage.set("broken", encodeEntry(testEntry()), Infinity);
    equal(await cache.count({ valid: true }), 3);
    equal((await cache.urls()).length, 3);
    equal(await cache.size(), 3 * encodeEntry(testEntry({ url: "https://example.com/0" })).length);
    equal(await cache.delete({ expired: true }), 0);
  }, Manifests);
});

// Kills inspection.ts:289 with `|| error.older` dropped: a scan deletes a record of an older
// version, and keeps one of a newer version for the code that reads it.
Deno.test("inspection: a scan deletes the records of an older version and keeps those of a newer one", async () => {
  await overEach(async (storage, cache) => {
    await fill(cache, 1);
    for (const version of [RECORD_VERSION - 1, RECORD_VERSION + 1]) {
      const record = encodeEntry(testEntry());
      record[0] = version;
      await storage.set(`v${version}`, record, Infinity);
    }
    equal(await cache.count({ valid: true }), 1);
    equal(await storage.get(`v${RECORD_VERSION - 1}`), undefined, "the older one");
    ok(await storage.get(`v${RECORD_VERSION + 1}`), "the newer one");
  });
});

/** A storage whose reads or deletes fail on demand, while it lists. */
class Refusing extends Watched {
  refuseReads = false;
  refuseDeletes = false;
  /** Keys it lists though it holds no record under them (deleted since by someone else). */
  phantoms: string[] = [];
  override get(key: string): Promise<Uint8Array | undefined> {
    return this.refuseReads ? Promise.reject(new Error("read refused")) : super.get(key);
  }
  override delete(keys: string[]): Promise<void> {
    return this.refuseDeletes ? Promise.reject(new Error("delete refused")) : super.delete(keys);
  }
  override async *keys(prefix?: string): AsyncIterable<string> {
    yield* this.phantoms;
    yield* super.keys(prefix);
  }
}

// Kills inspection.ts:294 (the delete of corrupt records no longer made safe): a scan that cannot
// delete the corrupt records it finds still skips them, and answers.
Deno.test("inspection: a scan that cannot delete the corrupt records it finds still answers", async () => {
  await overEach(async (storage, cache) => {
    await fill(cache, 2);
    await storage.set("garbage", new Uint8Array([9, 9, 9]), Infinity);
    storage.refuseDeletes = true;
    equal(await cache.count({ valid: true }), 2);
    ok(await storage.get("garbage"), "still there");
    storage.refuseDeletes = false;
    equal(await cache.count({ valid: true }), 2);
    equal(await storage.get("garbage"), undefined);
  }, Refusing);
});

// Kills inspection.ts:310 (a failed read or delete thrown as it came, not as a BackendError).
Deno.test("inspection: a storage that cannot read or delete makes the scans reject with a BackendError", async () => {
  await overEach(async (storage, cache) => {
    await fill(cache, 3);
    await cache.write(urlKeyPrefix("GET", new URL(PAGE)), testEntry({ url: PAGE }), Infinity);
    const failed = (message: string) => (error: unknown) =>
      error instanceof BackendError && (error.cause as Error).message === message;
    storage.refuseReads = true;
    await rejects(cache.count({ valid: true }), failed("read refused"));
    await rejects(cache.size(), failed("read refused"));
    storage.refuseReads = false;
    storage.refuseDeletes = true;
    await rejects(cache.delete({ valid: true }), failed("delete refused"));
    await rejects(cache.delete({ urls: [PAGE] }), failed("delete refused"));
  }, Refusing);
});

// Kills inspection.ts:282 `continue` → `return` for a record that is gone: a key listed whose record
// was deleted before it was read (by another process, or by expiry) is skipped, and the scan goes
// on with the rest of its batch.
Deno.test("inspection: a key listed whose record is gone by the time it is read is skipped", async () => {
  await overEach(async (storage, cache) => {
    await fill(cache, 3);
    storage.phantoms = ["gone"];
    equal(await cache.count({ valid: true }), 3);
    deepEqual(await cache.urls(), [
      "https://example.com/0",
      "https://example.com/1",
      "https://example.com/2",
    ]);
    equal(await cache.delete({ valid: true }), 3);
  }, Refusing);
});

// Kills inspection.ts:147 `await flush()` → `void flush()`: each batch's report comes once its
// delete is done, and tells what was scanned and deleted up to that batch, not later.
Deno.test("inspection: a bulk delete reports each batch of 500 as it is deleted", async () => {
  await overEach(async (_storage, cache) => {
    await fill(cache, 1200, 0);
    const progress: DeleteProgress[] = [];
    equal(await cache.delete({ expired: true }, { onProgress: (step) => progress.push(step) }), 1200);
    deepEqual(progress, [
      { scanned: 500, deleted: 500 },
      { scanned: 1000, deleted: 1000 },
      { scanned: 1200, deleted: 1200 },
    ]);
  });
});

// Kills install.ts:89 `|| key in entry` dropped: what the fetch it replaces carries is copied
// onto the installed fetch, but never over the installed fetch's own `session` (the fetch
// replaced may be a `cachedFetch`, whose `session` is another one).
Deno.test("installCache over a cachedFetch set as the global fetch: the global fetch's session is the one installed", async () => {
  const o = origin((_request, n) => reply(`body ${n}`, { "cache-control": "max-age=60" }));
  const saved = globalThis.fetch;
  const under = cachedFetch({ fetch: o.fetch });
  globalThis.fetch = under as typeof fetch;
  try {
    const session = installCache();
    equal((globalThis.fetch as CachedFetch).session, session);
    ok(session !== under.session);
    await (await fetch("http://127.0.0.1/a")).text();
    equal(session.stats().misses, 1);
    uninstallCache();
    await session.close();
  } finally {
    uninstallCache();
    globalThis.fetch = saved;
    await under.session.close();
  }
});

// Kills install.ts:104 `|| chosen === installed?.entry` dropped: a fetch option that is the
// installed cached fetch means the fetch that the new installation wraps: with a wrapper set over
// the first installation since, that wrapper, which then sees the session's requests.
Deno.test("installCache with the installed cached fetch as its fetch option, under a wrapper: the session's requests go through the wrapper", async () => {
  const o = origin((_request, n) => reply(`body ${n}`, { "cache-control": "max-age=60" }));
  const saved = globalThis.fetch;
  globalThis.fetch = o.fetch;
  const sessions = [];
  try {
    sessions.push(installCache());
    const first = globalThis.fetch;
    let wrapped = 0;
    globalThis.fetch = ((input, init) => {
      wrapped++;
      return first(input, init);
    }) as typeof fetch;
    sessions.push(installCache({ fetch: first }));
    await (await fetch("http://127.0.0.1/a")).text();
    deepEqual([wrapped, o.calls, sessions[1]!.stats().misses, sessions[0]!.stats().requests], [1, 1, 1, 0]);
  } finally {
    uninstallCache();
    globalThis.fetch = saved;
    for (const session of sessions) await session.close();
  }
});
