/**
 * The conformance suite every backend passes: it drives {@linkcode CacheBackend} over the
 * backend's `Storage` and checks round trips, expiry, inspection, aliases, prefix listing,
 * invalidation by URL, concurrency, corrupt records and persistence.
 *
 * A backend's test file registers it with one call and adds only its quirks:
 *
 * ```ts ignore
 * runStorageSuite({ name: "memory", open: async () => new MemoryBackend() });
 * ```
 *
 * Quirks are declared on the {@linkcode SuiteTarget} (`maxEntrySize`, `reopen`, `skip`), never
 * tested by backend name.
 *
 * @module
 */

import { deepEqual, equal, fail, ok, rejects } from "node:assert/strict";
import type { CacheBackend } from "../../backends/base.ts";
import { ALIAS_PREFIX, urlKeyPrefix } from "../../src/cache_keys.ts";
import { BackendError } from "../../src/errors.ts";
import { ALIAS_TARGETS, type CacheEntry, encodeEntry } from "../../src/record.ts";
import { runInspectionSuite } from "./inspection_suite.ts";
import { testEntry } from "../_entry.ts";

/** A backend under test. */
export interface SuiteTarget {
  /** Short name, the prefix of every test name (`"sqlite"`). */
  name: string;
  /** Opens a fresh, empty cache (a unique namespace or file per call). */
  open(): Promise<CacheBackend>;
  /**
   * Opens a new instance over the data of `previous`, closed or still open (two processes that
   * share one store).
   */
  reopen?(previous: CacheBackend): Promise<CacheBackend>;
  /** When set, the tests are registered as ignored and this reason is printed once. */
  skip?: string | undefined;
  /** Largest record the backend accepts, in bytes, if bounded: a larger one must be refused (a miss). */
  maxEntrySize?: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const HOUR = 3_600_000;

/**
 * Registers the suite's `Deno.test` cases, named `${target.name}: …`.
 *
 * @param target The backend under test.
 */
export function runStorageSuite(target: SuiteTarget): void {
  if (target.skip !== undefined) console.log(`${target.name}: storage suite skipped: ${target.skip}`);

  function test(name: string, fn: (cache: CacheBackend) => Promise<void>): void {
    Deno.test({
      name: `${target.name}: ${name}`,
      ignore: target.skip !== undefined,
      async fn() {
        const cache = await target.open();
        try {
          await fn(cache);
        } finally {
          await cache.close();
        }
      },
    });
  }

  for (
    const [label, size] of [["empty", 0], ["1 byte", 1], ["64 KiB + 1", 64 * KiB + 1], ["1 MiB", MiB], [
      "20 MiB",
      20 * MiB,
    ]] as const
  ) {
    test(`round trip of a ${label} body`, async (cache) => {
      const stored = entry({ body: binary(size, size % 256) });
      const refused = target.maxEntrySize !== undefined && encodeEntry(stored).length > target.maxEntrySize;
      await cache.write("key", stored, Infinity);
      const record = await cache.read("key");
      if (refused) return equal(record, undefined, "a record above maxEntrySize is refused");
      assertEntry(record, stored);
    });
  }

  test("round trip of every field, with non-ASCII header values", async (cache) => {
    // Headers are ByteStrings: a non-ASCII value arrives from fetch as Latin-1 or as UTF-8 bytes
    // read one per character. Vary values are stored as given, so they carry real Unicode.
    const utf8 = String.fromCharCode(...text("東京 🚀"));
    const stored = entry({
      method: "PATCH",
      url: "https://example.com/caf%C3%A9?q=%E2%9C%93",
      redirected: true,
      status: 203,
      statusText: "Non-Authoritative Inf\u00f6rmation",
      headers: [["content-disposition", 'attachment; filename="r\u00e9sum\u00e9.pdf"'], ["x-utf8", utf8], [
        "x-empty",
        "",
      ]],
      vary: [["accept-language", "zh-Hant-TW, ü 東京 🚀"], ["cookie", null]],
      requestTime: 1_700_000_000_000.5,
      responseTime: 1_700_000_000_123,
      createdAt: 1_700_000_000_124,
      expiresAt: Infinity,
    });
    await cache.write("key", stored, Infinity);
    assertEntry(await cache.read("key"), stored);
    const response = await cache.get("key");
    ok(response !== undefined);
    equal(response.headers.get("x-utf8"), utf8);
    equal(response.headers.get("content-disposition"), 'attachment; filename="r\u00e9sum\u00e9.pdf"');
    equal(response.statusText, stored.statusText);
    equal(response.url, stored.url);
    equal(response.cacheKey, "key");
    equal(response.expiresAt, undefined);
    equal(await response.text(), "body");
  });

  test("an expiry beyond what a Date or a 64-bit integer holds keeps the entry, as for ever", async (cache) => {
    // (`expireAfter` takes any number of seconds: 1e13 s is 1e16 ms, past a Date's 8.64e15.)
    for (const deleteAt of [8.64e15 + 1, 1e16, 1e21, Number.MAX_VALUE]) {
      const stored = entry({ body: text(String(deleteAt)) });
      await cache.write(`key ${deleteAt}`, stored, deleteAt);
      assertEntry(await cache.read(`key ${deleteAt}`), stored);
    }
    equal(await cache.count(), 4);
  });

  test("write replaces the entry under the same key", async (cache) => {
    await cache.write("key", entry({ body: text("first") }), Infinity);
    const second = entry({ url: "https://example.com/second", body: text("second, longer") });
    await cache.write("key", second, Infinity);
    assertEntry(await cache.read("key"), second);
    equal(await cache.count(), 1);
  });

  test("delete removes only the given keys", async (cache) => {
    for (const key of ["a", "b", "c"]) await cache.write(key, entry(), Infinity);
    await cache.delete("a", "c", "missing");
    await cache.delete();
    equal(await cache.read("a"), undefined);
    equal(await cache.read("c"), undefined);
    ok(await cache.read("b"));
    deepEqual(await list(cache.keys()), ["b"]);
  });

  test("clear removes this cache's records and nothing else", async (cache) => {
    const other = await target.open();
    try {
      await cache.write("key", entry(), Infinity);
      await cache.writeAlias("alias", "key", Infinity);
      await other.write("key", entry(), Infinity);
      await cache.clear();
      equal(await cache.read("key"), undefined);
      equal(await cache.read(ALIAS_PREFIX + "alias"), undefined);
      deepEqual(await list(cache.storage.keys()), []);
      ok(await other.read("key"), "another cache keeps its records");
    } finally {
      await other.close();
    }
  });

  test("a future deleteAt keeps an entry that is no longer fresh", async (cache) => {
    const now = Date.now();
    const stale = entry({ createdAt: now - 2 * HOUR, expiresAt: now - HOUR });
    await cache.write("stale", stale, now + HOUR);
    await cache.writeAlias("alias", "stale", now + HOUR);
    assertEntry(await cache.read("stale"), stale);
    deepEqual(await cache.read(ALIAS_PREFIX + "alias"), { targets: ["stale"] });
    const response = await cache.get("stale");
    ok(response?.isExpired, "served as expired, for revalidation");
    await response.body?.cancel();
  });

  test("deleteExpired removes only entries whose expiresAt <= now()", async (cache) => {
    const start = Date.now();
    let now = start;
    cache.now = () => now;
    await cache.write("past", entry({ expiresAt: start - 1 }), Infinity);
    await cache.write("soon", entry({ expiresAt: start + 1000 }), Infinity);
    await cache.write("later", entry({ expiresAt: start + 5000 }), Infinity);
    await cache.write("never", entry({ expiresAt: Infinity }), Infinity);
    equal(await cache.deleteExpired(), 1);
    deepEqual(await list(cache.keys()), ["later", "never", "soon"]);
    now = start + 1000;
    equal(await cache.deleteExpired(), 1, "expiresAt === now is expired");
    deepEqual(await list(cache.keys()), ["later", "never"]);
    now = start + 1e12;
    equal(await cache.deleteExpired(), 1);
    deepEqual(await list(cache.keys()), ["never"]);
    equal(await cache.deleteExpired(), 0);
  });

  test("keys, urls, responses and count, with expired and valid filters", async (cache) => {
    const now = Date.now();
    cache.now = () => now;
    const a = "https://example.com/a", b = "https://example.com/b";
    await cache.write("a1", entry({ url: a, expiresAt: now - 1, body: text("a1") }), Infinity);
    await cache.write("a2", entry({ url: a, expiresAt: now + HOUR, body: text("a2") }), Infinity);
    await cache.write("b1", entry({ url: b, expiresAt: Infinity, body: text("b1") }), Infinity);
    await cache.writeAlias("a3", "a2", Infinity);
    deepEqual(await list(cache.keys()), ["a1", "a2", "b1"]);
    deepEqual(await cache.urls(), [a, b]);
    deepEqual(await cache.urls({ expired: true }), [a]);
    deepEqual(await cache.urls({ valid: true }), [a, b]);
    equal(await cache.count(), 3);
    equal(await cache.count({ expired: true }), 1);
    equal(await cache.count({ valid: true }), 2);
    const bodies: string[] = [];
    for await (const response of cache.responses({ valid: true })) {
      equal(response.fromCache, true);
      equal(response.isExpired, false);
      bodies.push(`${response.cacheKey}=${await response.text()}`);
    }
    deepEqual(bodies.sort(), ["a2=a2", "b1=b1"]);
    const expired: string[] = [];
    for await (const response of cache.responses({ expired: true })) {
      equal(response.isExpired, true);
      expired.push(`${response.cacheKey}=${await response.text()}`);
    }
    deepEqual(expired, ["a1=a1"]);
  });

  test("inspection of an empty cache", async (cache) => {
    deepEqual(await list(cache.keys()), []);
    deepEqual(await cache.urls(), []);
    deepEqual(await list(cache.responses()), []);
    equal(await cache.count(), 0);
    equal(await cache.deleteExpired(), 0);
    equal(await cache.read("missing"), undefined);
    equal(await cache.get("missing"), undefined);
  });

  test("aliases are read back and never listed as entries", async (cache) => {
    await cache.write("target", entry(), Infinity);
    await cache.writeAlias("alias", "target", Infinity);
    await cache.writeAlias("dangling", "nothing", Infinity);
    deepEqual(await cache.read(ALIAS_PREFIX + "alias"), { targets: ["target"] });
    deepEqual(await cache.read(ALIAS_PREFIX + "dangling"), { targets: ["nothing"] });
    equal(await cache.get(ALIAS_PREFIX + "alias"), undefined, "get() serves entries only");
    deepEqual(await list(cache.keys()), ["target"]);
    equal(await cache.count(), 1);
    // Another URL whose redirect led to the same place goes first; the one before keeps its way.
    await cache.writeAlias("alias", "other", Infinity);
    deepEqual(await cache.read(ALIAS_PREFIX + "alias"), { targets: ["other", "target"] });
    await cache.writeAlias("alias", "target", Infinity);
    deepEqual(await cache.read(ALIAS_PREFIX + "alias"), { targets: ["target", "other"] }, "no target twice");
    for (let i = 0; i < ALIAS_TARGETS; i++) await cache.writeAlias("alias", `more-${i}`, Infinity);
    const { targets } = await cache.read(ALIAS_PREFIX + "alias") as { targets: string[] };
    equal(targets.length, ALIAS_TARGETS, "the newest are kept");
    equal(targets[0], `more-${ALIAS_TARGETS - 1}`);
  });

  test("storage.keys(prefix) lists exactly the keys with that prefix", async (cache) => {
    const keys = [
      "pre",
      "pre+x",
      "pre.y",
      "pre~",
      "pre~z",
      "prf",
      "prd~",
      "pr",
      "PRE",
      "p",
      "a~b",
      "a~",
      "a",
      "b",
    ];
    for (const key of keys) await cache.storage.set(key, text(key), Infinity);
    const sorted = (prefix?: string) => list(cache.storage.keys(prefix)).then((found) => found.sort());
    deepEqual(await sorted("pre"), ["pre", "pre+x", "pre.y", "pre~", "pre~z"]);
    deepEqual(await sorted("pre~"), ["pre~", "pre~z"]);
    deepEqual(await sorted("a~"), ["a~", "a~b"]);
    deepEqual(await sorted("pr"), ["pr", "prd~", "pre", "pre+x", "pre.y", "pre~", "pre~z", "prf"]);
    deepEqual(await sorted("zzz"), []);
    deepEqual(await sorted(""), [...keys].sort());
    deepEqual(await sorted(), [...keys].sort());
  });

  test("deleteUrls removes every entry and alias of the URL, and nothing else", async (cache) => {
    const url = "https://example.com/page?b=2&a=1";
    const gone = await urlKeyPrefix("GET", new URL(url));
    const head = await urlKeyPrefix("HEAD", new URL(url));
    const kept = await urlKeyPrefix("GET", new URL("https://example.com/other"));
    const post = await urlKeyPrefix("POST", new URL(url));
    for (
      const key of [gone, `${gone}+abc`, `${gone}.v1`, `${gone}+abc.v2`, head, kept, `${kept}+abc`, post]
    ) {
      await cache.write(key, entry(), Infinity);
    }
    await cache.writeAlias(`${gone}+r`, kept, Infinity);
    await cache.writeAlias(`${kept}+r`, gone, Infinity);
    await cache.deleteUrls("https://example.com/page?a=1&b=2#fragment");
    deepEqual(await list(cache.keys()).then((keys) => keys.sort()), [kept, `${kept}+abc`, post].sort());
    equal(await cache.read(ALIAS_PREFIX + `${gone}+r`), undefined);
    deepEqual(await cache.read(ALIAS_PREFIX + `${kept}+r`), { targets: [gone] });
    await cache.deleteUrls(new URL("https://example.com/never-stored"));
    equal(await cache.count(), 3);
  });

  test("50 concurrent writers and readers of one key never see a mix", async (cache) => {
    const writers = Array.from({ length: 50 }, (_, i) => stamped(i));
    const seen: (CacheEntry | undefined)[] = [];
    await Promise.all(writers.flatMap((stored, i) => [
      cache.write("shared", stored, Infinity),
      cache.read("shared").then((record) => void seen.push(entryOf(record))),
      i % 2 === 0 ? cache.get("shared").then((response) => response?.arrayBuffer()) : undefined,
    ]));
    for (const found of [...seen, entryOf(await cache.read("shared"))]) {
      if (found !== undefined) assertStamped(found);
    }
    ok(entryOf(await cache.read("shared")), "the last write is stored");
    equal(await cache.count(), 1);
  });

  test("50 concurrent writers and readers of different keys", async (cache) => {
    const writers = Array.from({ length: 50 }, (_, i) => stamped(i));
    await Promise.all(writers.flatMap((stored, i) => [
      cache.write(`key-${i}`, stored, Infinity),
      cache.read(`key-${(i * 7) % 50}`).then((record) => {
        const found = entryOf(record);
        if (found !== undefined) assertStamped(found, (i * 7) % 50);
      }),
    ]));
    await Promise.all(writers.map(async (_, i) => assertStamped(entryOf(await cache.read(`key-${i}`)), i)));
    equal(await cache.count(), 50);
  });

  test("a corrupt record is a BackendError caused by a SyntaxError, and is deleted", async (cache) => {
    await cache.storage.set(
      "corrupt",
      new Uint8Array([1, 1, 0xff, 0xff, 0xff, 0xff, 0, 1, 2, 3, 4]),
      Infinity,
    );
    await cache.storage.set("garbage", binary(300, 7), Infinity);
    await cache.write("good", entry(), Infinity);
    await rejects(cache.read("corrupt"), (error: unknown) => {
      ok(error instanceof BackendError, `expected a BackendError, got ${error}`);
      ok(error.cause instanceof SyntaxError, `expected a SyntaxError cause, got ${error.cause}`);
      equal(error.backend, cache.name);
      return true;
    });
    equal(await cache.storage.get("corrupt"), undefined, "the corrupt record is deleted");
    equal(await cache.read("corrupt"), undefined);
    equal(await cache.count({ valid: true }), 1, "inspection skips corrupt records");
    equal(await cache.storage.get("garbage"), undefined, "and deletes them");
    ok(await cache.read("good"));
  });

  runInspectionSuite(test);

  if (target.reopen !== undefined) {
    const reopen = target.reopen.bind(target);
    test("a new instance finds what was stored", async (first) => {
      const big = entry({ body: binary(MiB + 3, 9) });
      await first.write("big", big, Infinity);
      await first.write("stale", entry({ expiresAt: Date.now() - 1 }), Date.now() + HOUR);
      await first.writeAlias("alias", "big", Infinity);
      await first.close();
      const second = await reopen(first);
      try {
        assertEntry(await second.read("big"), big);
        ok(await second.read("stale"));
        deepEqual(await second.read(ALIAS_PREFIX + "alias"), { targets: ["big"] });
        deepEqual(await list(second.keys()).then((keys) => keys.sort()), ["big", "stale"]);
        await second.delete("stale");
      } finally {
        await second.close();
      }
    });

    test("two instances at once, as two processes have, write large records side by side and lose none", async (first) => {
      const second = await reopen(first);
      try {
        const written = new Map<string, CacheEntry[]>();
        for (let round = 0; round < 8; round++) {
          await Promise.all([first, second, first, second].map((cache, i) => {
            // Two keys of their own per round, and one that both instances write at once.
            const key = i < 2 ? `shared-${round}` : `own-${round}-${i}`;
            const record = entry({ body: binary(100 * KiB + i, 4 * round + i) });
            written.set(key, [...written.get(key) ?? [], record]);
            return cache.write(key, record, Infinity);
          }));
        }
        for (const [key, records] of written) {
          for (const cache of [first, second]) {
            const found = entryOf(await cache.read(key));
            ok(found !== undefined, `${key} was lost`);
            const match = records.find((record) => record.body.length === found.body.length);
            ok(match !== undefined, `${key} holds a record nobody wrote`);
            assertEntry({ entry: found }, match);
          }
        }
      } finally {
        await second.close();
      }
    });
  }
}

/** An entry with sensible defaults. */
function entry(overrides: Partial<CacheEntry> = {}): CacheEntry {
  return testEntry({ headers: [["content-type", "application/octet-stream"]], ...overrides });
}

/** Bytes in which, from 256 bytes on, every byte value occurs (7 is coprime to 256). */
function binary(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 7 + seed) & 0xff;
  return out;
}

function text(value: string): Uint8Array {
  return new TextEncoder().encode(value);
}

/** An entry whose every part names writer `i`, so a mix of two writes is detectable. */
function stamped(i: number): CacheEntry {
  return entry({
    url: `https://example.com/writer/${i}`,
    headers: [["x-writer", String(i)]],
    statusText: `writer ${i}`,
    body: new Uint8Array(i * 3 * KiB + i).fill(i),
  });
}

function assertStamped(found: CacheEntry | undefined, writer?: number): void {
  ok(found !== undefined, `entry of writer ${writer} is missing`);
  const i = Number(found.url.slice(found.url.lastIndexOf("/") + 1));
  if (writer !== undefined) equal(i, writer);
  deepEqual(found.headers, [["x-writer", String(i)]]);
  equal(found.statusText, `writer ${i}`);
  equal(found.body.length, i * 3 * KiB + i, `body length of writer ${i}`);
  ok(found.body.every((byte) => byte === i), `body of writer ${i} is intact`);
}

function entryOf(record: Awaited<ReturnType<CacheBackend["read"]>>): CacheEntry | undefined {
  if (record === undefined) return undefined;
  ok("entry" in record, "expected an entry, got an alias");
  return record.entry;
}

function assertEntry(record: Awaited<ReturnType<CacheBackend["read"]>>, expected: CacheEntry): void {
  const found = entryOf(record);
  ok(found !== undefined, "the entry is missing");
  const { body, ...meta } = found;
  const { body: expectedBody, ...expectedMeta } = expected;
  deepEqual(meta, expectedMeta);
  assertBytes(body, expectedBody);
}

/** Compares bytes without deepEqual's per-element cost (the 20 MiB case stays fast). */
function assertBytes(actual: Uint8Array, expected: Uint8Array): void {
  equal(actual.length, expected.length, "body length");
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) fail(`body differs at byte ${i}: ${actual[i]} !== ${expected[i]}`);
  }
}

async function list<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out.sort();
}
