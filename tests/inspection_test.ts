import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { CacheBackend, CachedSession, type Storage } from "../mod.ts";
import { MemoryStorage } from "../backends/memory.ts";
import { DELETE_BATCH, READ_AHEAD, READ_AHEAD_BYTES } from "../src/inspection.ts";
import { type CacheEntry, encodeEntry } from "../src/record.ts";
import { Clock, origin, reply } from "./_origin.ts";
import { testEntry } from "./_entry.ts";

/** A storage that counts what is asked of it, and how many reads are in flight at once. */
class CountingStorage extends MemoryStorage {
  override readonly name = "counting";
  gets = 0;
  deletes: number[] = [];
  inFlight = 0;
  maxInFlight = 0;
  constructor() {
    super({ maxEntries: 1_000_000, maxBytes: 2 ** 40, maxEntrySize: 2 ** 30 });
  }
  override async get(key: string): Promise<Uint8Array | undefined> {
    this.gets++;
    this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
    await Promise.resolve();
    this.inFlight--;
    return super.get(key);
  }
  override delete(keys: string[]): Promise<void> {
    this.deletes.push(keys.length);
    return super.delete(keys);
  }
}

function entry(overrides: Partial<CacheEntry> = {}): CacheEntry {
  const now = Date.now();
  return testEntry({
    url: "https://example.com/x",
    headers: [],
    requestTime: now,
    responseTime: now,
    expiresAt: now + 60_000,
    body: new Uint8Array(8),
    ...overrides,
  });
}

async function fill(storage: Storage, count: number, make: (i: number) => CacheEntry): Promise<void> {
  for (let i = 0; i < count; i++) await storage.set(`k${i}`, encodeEntry(make(i)), Infinity);
}

Deno.test("inspection: responses() streams: taking one response reads one batch, not the cache", async () => {
  const storage = new CountingStorage();
  await fill(storage, 5000, (i) => entry({ url: `https://example.com/${i}` }));
  const cache = new CacheBackend(storage);
  for await (const response of cache.responses()) {
    ok(response.url.startsWith("https://example.com/"));
    break;
  }
  ok(storage.gets <= READ_AHEAD, `read ${storage.gets} records for the first response`);
  ok(storage.maxInFlight > 1, "a batch is read concurrently");
  equal(await cache.count({ valid: true }), 5000);
  ok(storage.maxInFlight <= READ_AHEAD);
});

Deno.test("inspection: large records are read fewer at a time", async () => {
  const storage = new CountingStorage();
  const size = READ_AHEAD_BYTES / 8;
  // One record stored under every key: the storage keeps the array, so this costs 1 MiB, not 48.
  const record = encodeEntry(entry({ body: new Uint8Array(size) }));
  for (let i = 0; i < READ_AHEAD + 16; i++) await storage.set(`k${i}`, record, Infinity);
  let seen = 0;
  for await (const found of new CacheBackend(storage).entries()) {
    ok(found.size > size);
    // The first batch is read before anything is known about sizes; measure what follows it.
    if (seen++ === 0) storage.maxInFlight = 0;
  }
  equal(seen, READ_AHEAD + 16);
  ok(storage.maxInFlight > 0 && storage.maxInFlight < 8, `${storage.maxInFlight} reads at once`);
});

Deno.test("inspection: a bulk delete goes out in batches while the listing goes on", async () => {
  const storage = new CountingStorage();
  const total = DELETE_BATCH * 3 + 1;
  await fill(storage, total, (i) => entry({ expiresAt: i % 2 === 0 ? 0 : Infinity }));
  const cache = new CacheBackend(storage);
  const deleted = await cache.deleteExpired();
  equal(deleted, Math.ceil(total / 2));
  ok(storage.deletes.every((size) => size <= DELETE_BATCH), `batches: ${storage.deletes}`);
  equal(storage.deletes.reduce((a, b) => a + b, 0), deleted);
  equal(await cache.count(), total - deleted);
});

Deno.test("inspection: corrupt records are skipped and deleted by every scan", async () => {
  const storage = new CountingStorage();
  await fill(storage, 3, (i) => entry({ url: `https://example.com/${i}` }));
  await storage.set("garbage", new Uint8Array([9, 9, 9]), Infinity);
  const cache = new CacheBackend(storage);
  deepEqual(await cache.urls(), ["https://example.com/0", "https://example.com/1", "https://example.com/2"]);
  equal(await storage.get("garbage"), undefined);
  equal(await cache.size(), 3 * encodeEntry(entry({ url: "https://example.com/0" })).length);
});

Deno.test("inspection: a RegExp with the g flag matches every entry it should", async () => {
  const storage = new CountingStorage();
  await fill(storage, 10, (i) => entry({ url: `https://example.com/item/${i}` }));
  equal(await new CacheBackend(storage).count({ urlPattern: /item/g }), 10);
});

Deno.test("inspection: filters are checked before anything is read or deleted", async () => {
  const storage = new CountingStorage();
  await fill(storage, 3, () => entry());
  const cache = new CacheBackend(storage);
  await rejects(cache.delete({ expird: true } as never), {
    name: "TypeError",
    message: /^Cannot delete: unknown filter field: allowed are urls, urlPattern, expired, valid, olderThan/,
  });
  await rejects(cache.count({ olderThan: new Date("nope") }), RangeError);
  await rejects(
    cache.urls({ valid: "yes" as unknown as boolean }),
    /Cannot list urls: valid must be true or false/,
  );
  await rejects(cache.delete(null as never), TypeError);
  await rejects(cache.delete(7 as never), /pass cache keys \(strings\) or one filter object/);
  const refused: [unknown, RegExp][] = [
    [null, /Cannot count: the filter must be an object: received null$/],
    [{ expired: 1 as unknown as boolean }, /Cannot count: expired must be true or false: received 1$/],
    [{ urls: "https://example.com/" as never }, /Cannot count: urls must be an array of absolute URLs/],
    [
      { urls: ["/relative"] },
      /Cannot count: urls must be an array of absolute URLs: received "\/relative"$/,
    ],
    [{ urls: [42 as never] }, /Cannot count: urls must be an array of absolute URLs: received 42$/],
    [{ urlPattern: "" }, /Cannot count: urlPattern must be a non-empty glob string or a RegExp/],
    [{ olderThan: -1 }, /Cannot count: olderThan must be seconds >= 0 or a valid Date: received -1$/],
    [{ olderThan: "7d" as never }, /Cannot count: olderThan must be seconds >= 0 or a valid Date/],
  ];
  for (const [filter, message] of refused) await rejects(cache.count(filter as never), message);
  await rejects(cache.count({ olderThan: -1 }), RangeError);
  await rejects(cache.count({ olderThan: "7d" as never }), TypeError);
  equal(storage.gets, 0);
  equal(await cache.count(), 3);
});

Deno.test("inspection: a session's cache lists, filters and deletes what the session stored", async () => {
  const clock = new Clock();
  const o = origin((request) =>
    reply(new URL(request.url).pathname, {
      "cache-control": request.url.includes("/api/") ? "max-age=10" : "max-age=3600",
    }, { clock })
  );
  const session = new CachedSession({ fetch: o.fetch, now: clock.fn });
  for (const path of ["/api/a", "/api/b", "/static/app.js", "/static/app.css"]) {
    await (await session.fetch(`http://127.0.0.1${path}`)).text();
  }
  clock.tick(60);
  // The responses it lists tell expiry by the session's clock too, not by the real one.
  const expiry: string[] = [];
  for await (const response of session.cache.responses()) {
    expiry.push(`${new URL(response.url).pathname} ${response.isExpired}`);
    await response.body?.cancel();
  }
  deepEqual(expiry.sort(), ["/api/a true", "/api/b true", "/static/app.css false", "/static/app.js false"]);
  deepEqual(await session.cache.urls({ expired: true }), [
    "http://127.0.0.1/api/a",
    "http://127.0.0.1/api/b",
  ]);
  equal(await session.cache.count({ urlPattern: "127.0.0.1/static/*" }), 2);
  equal(await session.cache.delete({ urlPattern: "127.0.0.1/api/*", expired: true }), 2);
  equal(await session.cache.delete({ urls: ["http://127.0.0.1/static/app.js"] }), 1);
  deepEqual(await session.cache.urls(), ["http://127.0.0.1/static/app.css"]);
  const hit = await session.fetch("http://127.0.0.1/static/app.css");
  await hit.body?.cancel();
  const got = await session.cache.get(hit.cacheKey!);
  await got?.body?.cancel();
  equal(got?.isExpired, false);
  clock.tick(7200);
  equal(got?.isExpired, true);
  await session.close();
});

Deno.test("inspection: a URL as a session fetched it finds what the session stored for it, its ignored parameters left out", async () => {
  const o = origin((request) => reply(new URL(request.url).search, { "cache-control": "max-age=600" }));
  const backend = new CacheBackend(new MemoryStorage());
  const session = new CachedSession({ fetch: o.fetch, backend, ignoredParameters: ["api_key"] });
  const fetched = ["http://127.0.0.1/a?api_key=s3cret&b=2", "http://127.0.0.1/a?b=3"];
  for (const url of fetched) await (await session.fetch(url)).text();
  // Stored without the parameter, and found by the URL as fetched.
  deepEqual(await backend.urls({ urls: [fetched[0]!] }), ["http://127.0.0.1/a?b=2"]);
  equal(await backend.count({ urls: [fetched[0]!] }), 1);
  await backend.deleteUrls(fetched[0]!);
  deepEqual(await backend.urls(), ["http://127.0.0.1/a?b=3"]);
  const again = await session.fetch(fetched[0]!);
  await again.text();
  equal(again.fromCache, false);
  // A second session over the backend that keeps the parameter: both forms are found.
  const other = new CachedSession({ fetch: o.fetch, backend });
  await (await other.fetch(fetched[0]!)).text();
  equal(await backend.count({ urls: [fetched[0]!] }), 2);
  equal(await backend.delete({ urls: [fetched[0]!] }), 2);
  deepEqual(await backend.urls(), ["http://127.0.0.1/a?b=3"]);
  await session.close();
});

Deno.test("inspection: deleteUrls removes the entries of every method that a session over the backend stores", async () => {
  const o = origin((request) => reply(request.method, { "cache-control": "max-age=600" }));
  const backend = new CacheBackend(new MemoryStorage());
  const session = new CachedSession({ fetch: o.fetch, backend, allowedMethods: ["GET", "POST"] });
  const url = "http://127.0.0.1/search";
  await (await session.fetch(url, { method: "POST", body: "q=1" })).text();
  await (await session.fetch(url)).text();
  equal(await backend.count({ urls: [url] }), 2);
  await backend.deleteUrls(url);
  equal(await backend.count(), 0);
  const again = await session.fetch(url, { method: "POST", body: "q=1" });
  await again.text();
  equal(again.fromCache, false);
  await session.close();
});

Deno.test("inspection: deleteUrls lists every method's entries and aliases side by side, not one after the other", async () => {
  // A storage whose listings end only once all four (GET and HEAD, entries and aliases) have
  // started: listed one after the other, as they were, the first never ends.
  class Listing extends MemoryStorage {
    started = 0;
    #all!: () => void;
    #allStarted = new Promise<void>((resolve) => this.#all = resolve);
    override async *keys(prefix = ""): AsyncIterableIterator<string> {
      if (++this.started === 4) this.#all();
      await this.#allStarted;
      yield* super.keys(prefix);
    }
  }
  const storage = new Listing();
  const cache = new CacheBackend(storage);
  const deleting = cache.deleteUrls("https://example.com/x");
  let hung: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    deleting,
    new Promise((_, reject) =>
      hung = setTimeout(() => reject(new Error("the listings ran one by one")), 5000)
    ),
  ]).finally(() => clearTimeout(hung));
  equal(storage.started, 4);
});
