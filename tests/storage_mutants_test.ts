/**
 * How entries are encoded and stored, checked where mutation testing found that no other test
 * would fail: the record codec's bounds and the records it must refuse, the decoded forms the
 * backends keep, the shared bookkeeping of `CacheBackend` (superseded keys, other versions, the
 * storage's clock, bounds), and the memory, SQLite and Redis storages. Each test names the
 * mutant it kills (file:line as of the session that wrote it, and the change).
 *
 * @module
 */

import { deepEqual, equal, ok, rejects, throws } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { BackendError } from "../src/errors.ts";
import { CacheBackend, SESSION_CLOCK_GRACE, type Storage } from "../backends/base.ts";
import { MemoryBackend, MemoryStorage } from "../backends/memory.ts";
import { SQLITE_TABLE, SQLiteBackend, SQLiteStorage } from "../backends/sqlite.ts";
import { RedisStorage } from "../backends/redis.ts";
import {
  type CacheEntry,
  decodeRecord,
  encodeAlias,
  encodeEntry,
  RECORD_VERSION,
  sealRecord,
} from "../src/record.ts";
import { COMMON } from "../src/record_strings.ts";
import { DECODED_RECORDS, DecodedRecords } from "../src/decoded_records.ts";
import { ALIAS_PREFIX } from "../src/cache_keys.ts";
import { digestBytes } from "../src/sha256.ts";
import { joined } from "../src/bytes.ts";
import { CachedSession } from "../mod.ts";
import { testEntry } from "./_entry.ts";
import { DeleteAts } from "./_scripted.ts";
import { origin, reply } from "./_origin.ts";
import { serviceUrl } from "./_services.ts";
import { tempDir } from "./_runtime.ts";

const KiB = 1024;

/** An entry with fixed times, so that its record's bytes are the same on every run. */
function fixed(overrides: Partial<CacheEntry> = {}): CacheEntry {
  return testEntry({
    requestTime: 1_700_000_000_000,
    responseTime: 1_700_000_000_100,
    createdAt: 1_700_000_000_200,
    expiresAt: 1_700_003_600_000,
    ...overrides,
  });
}

function roundTrips(entry: CacheEntry, label?: string): void {
  deepEqual(decodeRecord(encodeEntry(entry)), { kind: "entry", entry }, label);
}

function entryOf(record: Awaited<ReturnType<CacheBackend["read"]>>): CacheEntry {
  ok(record !== undefined && "entry" in record, `expected an entry, got ${JSON.stringify(record)}`);
  return record.entry;
}

function varints(values: number[]): number[] {
  const out: number[] = [];
  for (let value of values) {
    while (value >= 128) {
      out.push((value % 128) | 128);
      value = Math.floor(value / 128);
    }
    out.push(value);
  }
  return out;
}

/**
 * An intact entry record (checksum and all) written by hand, as another writer might: status 200,
 * times 0, `counts` (headers, Vary) and the string `codes` as given, then `text`.
 */
function crafted(codes: number[], text: string, counts: [number, number] = [0, 0]): Uint8Array {
  const utf8 = new TextEncoder().encode(text);
  const tail = varints([...counts, ...codes]);
  const metaLength = 43 + tail.length + utf8.length;
  const bytes = new Uint8Array(6 + metaLength + 4);
  const view = new DataView(bytes.buffer);
  bytes[0] = RECORD_VERSION;
  bytes[1] = 1;
  view.setUint32(2, metaLength);
  view.setUint16(7, 200);
  bytes.set(tail, 49);
  bytes.set(utf8, 49 + tail.length);
  return sealRecord(bytes, bytes.length);
}

/** The code of a literal string of `text`'s length; of the common strings `GET` and `OK`. */
const literal = (text: string) => 2 * text.length + 2;
const GET = 1, OK = 5;
const URL_TEXT = "https://example.com/";

// ---------------------------------------------------------------------------------------------
// The record codec (src/record.ts, src/record_strings.ts)

// Kills record.ts:426 `(code - 1) / 2 >= COMMON.length` → `>`, and the check dropped: a code past
// the common strings read as `undefined`, which passes as the token "undefined".
// Kills record.ts:439 (the check that the string lengths add up to the text, dropped) and
// record.ts:444 (a null code where a string is needed, let through: `null` passes as a token too).
Deno.test("record: a record whose string codes do not fit its strings is corrupt, though its checksum matches", () => {
  deepEqual(decodeRecord(crafted([GET, literal(URL_TEXT), OK], URL_TEXT)), {
    kind: "entry",
    entry: {
      method: "GET",
      url: URL_TEXT,
      redirected: false,
      status: 200,
      statusText: "OK",
      headers: [],
      vary: [],
      requestTime: 0,
      responseTime: 0,
      createdAt: 0,
      expiresAt: 0,
      varyGeneration: 0,
      body: new Uint8Array(0),
    },
  }, "the hand-written record is well formed");
  const last = 2 * (COMMON.length - 1) + 1;
  const date = 2 * COMMON.indexOf("date") + 1;
  deepEqual(
    (decodeRecord(crafted([GET, literal(URL_TEXT), OK, date, last], URL_TEXT, [1, 0])) as {
      entry: CacheEntry;
    })
      .entry.headers,
    [["date", COMMON.at(-1)]],
    "the last common string",
  );
  const damaged: [string, Uint8Array][] = [
    ["a code past the common strings", crafted([last + 2, literal(URL_TEXT), OK], URL_TEXT)],
    ["a header value past them", crafted([GET, literal(URL_TEXT), OK, date, last + 2], URL_TEXT, [1, 0])],
    ["a longer string than the text", crafted([GET, literal(URL_TEXT) + 2, OK], URL_TEXT)],
    ["a shorter one", crafted([GET, literal(URL_TEXT) - 2, OK], URL_TEXT)],
    ["no method", crafted([0, literal(URL_TEXT), OK], URL_TEXT)],
    ["no header name", crafted([GET, literal(URL_TEXT), OK, 0, GET], URL_TEXT, [1, 0])],
    ["no header value", crafted([GET, literal(URL_TEXT), OK, GET, 0], URL_TEXT, [1, 0])],
    ["no Vary name", crafted([GET, literal(URL_TEXT), OK, 0, 0], URL_TEXT, [0, 1])],
  ];
  for (const [label, bytes] of damaged) throws(() => decodeRecord(bytes), SyntaxError, label);
});

// Kills record.ts:246 (the check that an alias ends with its metadata, dropped).
Deno.test("record: an alias with bytes after its targets is corrupt, though its checksum matches", () => {
  const alias = encodeAlias(["target"]);
  const longer = new Uint8Array(alias.length + 3);
  longer.set(alias);
  sealRecord(longer, alias.length);
  throws(() => decodeRecord(longer), SyntaxError);
});

// Kills record.ts:322 (the NaN check of a time, dropped): a time that is not a number makes every
// freshness comparison false (and a Vary generation that is not one matches no variant's).
Deno.test("record: a time or Vary generation that is not a number makes the record corrupt", () => {
  for (const field of ["requestTime", "responseTime", "createdAt", "expiresAt", "varyGeneration"] as const) {
    throws(() => decodeRecord(encodeEntry(fixed({ [field]: NaN }))), SyntaxError, field);
  }
});

// Kills record.ts:256 `status > 599` → `>= 599` (the property test meets 599 only now and then)
// and `status < 200` → `<= 200`.
Deno.test("record: the first and last status of the range a response may have round-trip", () => {
  for (const status of [200, 599]) roundTrips(fixed({ status }), `status ${status}`);
});

// Kills record.ts:337 `unit < 0x800` → `<= 0x800`: the UTF-8 length is measured before the text is
// written, at each boundary of the encoding's lengths.
Deno.test("record: characters at each boundary of UTF-8's lengths round-trip", () => {
  const edges = [
    "\u007f",
    "\u0080",
    "\u07ff",
    "\u0800",
    "\ud7ff",
    "\ue000",
    "\uffff",
    "\u{10000}",
    "\u{10ffff}",
  ];
  for (const edge of edges) roundTrips(fixed({ vary: [["x-a", `a${edge}b`]] }), JSON.stringify(edge));
});

// Kills record.ts:338 (the test that a high surrogate is followed by a low one, dropped): a lone
// high surrogate then a two- or three-byte character was measured as one four-byte pair.
Deno.test("record: a lone high surrogate followed by a character of two or three UTF-8 bytes is stored as U+FFFD and that character", () => {
  for (const after of ["é", "✓", "\u0800"]) {
    const decoded = decodeRecord(encodeEntry(fixed({ vary: [["x-a", `a\ud800${after}z`]] })));
    deepEqual((decoded as { entry: CacheEntry }).entry.vary, [["x-a", `a\ufffd${after}z`]], after);
  }
});

// Kills record.ts:361 `value >= 128` → `value > 128` (a varint of 128 written as one byte) and
// record.ts:402 `byte < 128` → `byte <= 128` (a varint whose first byte is 0x80 read as 0): the
// code of a literal of 63 units is 128, of 127 units 256.
Deno.test("record: literal strings of every length up to 300, and 127 to 129 fields, round-trip", () => {
  for (let length = 0; length <= 300; length++) {
    roundTrips(fixed({ url: `https://${"x".repeat(length)}` }), `URL of ${length + 8}`);
    roundTrips(fixed({ statusText: "s".repeat(length) }), `status text of ${length}`);
  }
  for (const count of [127, 128, 129]) {
    const headers = Array.from({ length: count }, (_, i) => [`x-${i}`, `${i}`] as [string, string]);
    roundTrips(fixed({ headers }), `${count} fields`);
  }
});

// Kills record.ts:377 `value.length <= LONGEST_CODED` → `<`: the longest common string was
// written out in full.
Deno.test("record: every common string takes one byte, the longest too", () => {
  const empty = encodeEntry(fixed({ vary: [["x-a", ""]] })).length;
  for (const text of COMMON) {
    equal(encodeEntry(fixed({ vary: [["x-a", text]] })).length, empty, text);
  }
});

// Kills record_strings.ts:65 and :77 (two common strings swapped) and :78 (the last one dropped):
// a record holds the index of a common string, so a change to the list reads records written
// before as other strings (`gzip` as `br`) unless RECORD_VERSION is bumped. If this fails after a
// deliberate change, bump RECORD_VERSION and write the new digest here.
Deno.test("record: the common strings are part of the layout: a record of each of them is the bytes this version wrote", () => {
  // The 64 strings of this version, in an order of their own (not the list's): a string that moves
  // in the list, or goes, changes the record. (Strings appended to the list change nothing here.)
  ok(COMMON.length >= 64);
  const strings = COMMON.slice(0, 64).sort();
  const entry = fixed({ vary: strings.map((text, i) => [`v${i}`, text]) });
  equal(RECORD_VERSION, 3);
  equal(digestBytes(encodeEntry(entry)), "zhw0B2AoMkMulIZjQ1Br9g");
  roundTrips(entry);
});

// ---------------------------------------------------------------------------------------------
// Decoded records (src/decoded_records.ts)

/** A record of `length` bytes exactly. */
function recordOf(length: number, url = "https://example.com/exact"): Uint8Array {
  const head = encodeEntry(testEntry({ url, body: new Uint8Array(0) })).length;
  return encodeEntry(testEntry({ url, body: new Uint8Array(length - head).fill(3) }));
}

// Kills decoded_records.ts:82 `bytes.byteLength >= LARGE_RECORD` → `>`: a record of 64 KiB is a
// large one (Storage.keepsValues: "every large one (64 KiB or more)").
Deno.test("decoded records: a record of exactly 64 KiB is kept decoded from its first read, one byte less from its second", () => {
  const records = new DecodedRecords();
  const large = recordOf(64 * KiB);
  equal(large.length, 64 * KiB);
  ok(records.decode("large", large) === records.decode("large", large));
  const small = recordOf(64 * KiB - 1);
  ok(records.decode("small", small) !== records.decode("small", small));
});

// Kills decoded_records.ts:86 (the byte offset and length dropped from the test that a read's
// bytes are those decoded before): records side by side in one buffer, as a storage may hand
// them to `set`, are each their own.
Deno.test("memory: records that share one buffer are each read as themselves, large or small, under one key or two", async () => {
  for (const size of [100, 70 * KiB]) {
    const a = recordOf(size, "https://example.com/a");
    const b = recordOf(size, "https://example.com/b");
    const both = joined([a, b]);
    const first = both.subarray(0, a.length), second = both.subarray(a.length);
    const backend = new MemoryBackend();
    await backend.storage.set("a", first, Infinity);
    await backend.storage.set("b", second, Infinity);
    for (let read = 0; read < 3; read++) {
      equal(entryOf(await backend.read("a")).url, "https://example.com/a", `${size}: a`);
      equal(entryOf(await backend.read("b")).url, "https://example.com/b", `${size}: b`);
    }
    await backend.storage.set("a", second, Infinity);
    equal(entryOf(await backend.read("a")).url, "https://example.com/b", `${size}: a replaced`);
    await backend.close();
  }
});

// Kills decoded_records.ts:131 `this.#kept.size > DECODED_RECORDS` → `>=`: the 1,024 small
// records read last stay decoded, the first of them too.
Deno.test("decoded records: the 1,024 small records read last all stay decoded", () => {
  const records = new DecodedRecords();
  const bytes = encodeAlias(["target"]);
  const kept: unknown[] = [];
  for (let i = 0; i < DECODED_RECORDS; i++) {
    records.decode(`k${i}`, bytes);
    kept.push(records.decode(`k${i}`, bytes));
  }
  for (let i = 0; i < DECODED_RECORDS; i++) ok(records.decode(`k${i}`, bytes) === kept[i], `k${i}`);
  records.decode("one more", bytes);
  records.decode("one more", bytes);
  ok(records.decode("k0", bytes) !== kept[0], "then the one read longest ago goes");
});

// Kills decoded_records.ts:125 (a kept record replaced no longer taken off the bytes kept): one
// key rewritten over and over would count its bytes each time and push the others out.
Deno.test("decoded records: a key rewritten over and over counts the bytes of its record once against the 2 MiB kept", () => {
  const records = new DecodedRecords();
  const other = recordOf(60 * KiB, "https://example.com/other");
  const hot = recordOf(60 * KiB, "https://example.com/hot");
  records.decode("other", other);
  const kept = records.decode("other", other);
  const rewritten = recordOf(60 * KiB, "https://example.com/hot?rewritten");
  // Rewritten over and over (a read of the same bytes finds them kept, and offers nothing).
  for (let i = 0; i < 100; i++) records.decode("hot", i % 2 === 0 ? hot : rewritten);
  ok(records.decode("other", other) === kept);
});

// Kills decoded_records.ts:142 (the filter of keys read once never starting afresh): once full,
// it would take every key for one read before, and keep each from its first read.
Deno.test("decoded records: after 200,000 keys read once each, a new key is still seldom kept from its first read", () => {
  const records = new DecodedRecords();
  const bytes = encodeAlias(["target"]);
  for (let i = 0; i < 200_000; i++) records.decode(`once-${i}`, bytes);
  let early = 0;
  for (let i = 0; i < 1000; i++) {
    if (records.decode(`new-${i}`, bytes) === records.decode(`new-${i}`, bytes)) early++;
  }
  // At most 1 bit in 16 of the filter is set: a key is taken early 1 time in 16 at most.
  ok(early < 100, `${early} of 1,000 kept from their first read`);
});

// Kills decoded_records.ts:183 `bytes.slice(…)` → `bytes.subarray(…)`: on Node a streamed hit
// takes the buffer of a SQLite read (copiesValues) for its body, which detaches it; a kept head
// that was a view into it would be empty, and match every record of the same length. (The
// mutant fails this test on Node, where the body is handed over; Deno and Bun copy it.)
Deno.test("sqlite: a record replaced by one of the same length after its body was streamed is read anew", async () => {
  const o = origin(() => reply("same length", { "cache-control": "max-age=600", etag: '"v1"' }));
  const session = new CachedSession({ fetch: o.fetch, backend: new SQLiteBackend({ path: ":memory:" }) });
  const url = "http://127.0.0.1/replaced";
  try {
    await (await session.fetch(url)).text();
    let key = "";
    for (let hit = 0; hit < 3; hit++) {
      const response = await session.fetch(url);
      equal(response.fromCache, true);
      key = response.cacheKey!;
      const reader = response.body!.getReader();
      while (!(await reader.read()).done);
    }
    // Another instance stores a response of the same length, with another ETag.
    const stored = entryOf(await session.cache.read(key));
    const headers = stored.headers.map((
      [name, value],
    ): [string, string] => [name, name === "etag" ? '"v2"' : value]);
    await session.cache.write(key, { ...stored, headers, body: stored.body.slice() }, Infinity);
    const hit = await session.fetch(url);
    deepEqual([hit.fromCache, hit.headers.get("etag"), await hit.text()], [true, '"v2"', "same length"]);
  } finally {
    await session.close();
  }
});

// ---------------------------------------------------------------------------------------------
// CacheBackend (backends/base.ts)

// Kills base.ts:218 `if (record.older) await this.#deleteQuietly(key)` dropped: the read that
// finds an older record deletes it (the session test's count() deleted it too).
Deno.test("backend: a read of an older version's record deletes it at once; a newer one's is kept", async () => {
  for (const version of [RECORD_VERSION - 1, RECORD_VERSION + 1]) {
    const storage = new MemoryStorage();
    const backend = new CacheBackend(storage);
    const record = encodeEntry(testEntry());
    record[0] = version;
    await storage.set("k", record, Infinity);
    equal(await backend.read("k"), undefined);
    equal(await storage.get("k") !== undefined, version > RECORD_VERSION, `version ${version}`);
  }
});

/**
 * A memory store that hands out a new copy on every read (copiesValues), placed inside a larger
 * buffer that it keeps, as a pool of Node Buffers does.
 */
class Pooled extends MemoryStorage {
  override readonly keepsValues = false;
  readonly copiesValues = true;
  pools: Uint8Array[] = [];

  override async get(key: string): Promise<Uint8Array | undefined> {
    const stored = await super.get(key);
    if (stored === undefined) return undefined;
    const pool = new Uint8Array(stored.length + 16).fill(7);
    pool.set(stored);
    this.pools.push(pool);
    return pool.subarray(0, stored.length);
  }
}

// Kills base.ts:203 (fillsBuffer dropped from the test of an owned record): only bytes that fill
// their buffer are handed to the caller; on Node a streamed hit would take (detach) the buffer of
// a pool, and with it what else the pool holds. (The mutant fails this test on Node only.)
Deno.test("backend: a copied record that shares its buffer is never handed over whole to the caller", async () => {
  const storage = new Pooled();
  const o = origin(() => reply("pooled body", { "cache-control": "max-age=600" }));
  const session = new CachedSession({ fetch: o.fetch, backend: new CacheBackend(storage) });
  const url = "http://127.0.0.1/pooled";
  try {
    await (await session.fetch(url)).text();
    for (let hit = 0; hit < 2; hit++) {
      const response = await session.fetch(url);
      equal(response.fromCache, true);
      const reader = response.body!.getReader();
      let text = "";
      for (let read = await reader.read(); !read.done; read = await reader.read()) {
        text += new TextDecoder().decode(read.value);
      }
      equal(text, "pooled body");
    }
    ok(storage.pools.length >= 2);
    for (const pool of storage.pools) deepEqual(pool.subarray(pool.length - 16), new Uint8Array(16).fill(7));
  } finally {
    await session.close();
  }
});

// Kills base.ts:251 `bytes.length > max` → `>=` (memory.ts:140 and sqlite.ts:215 `>` → `>=` fail
// memory_test and sqlite_test as well): a record of exactly maxEntrySize bytes is kept.
Deno.test("backends: a record of exactly maxEntrySize bytes is kept, one byte more is not", async () => {
  const max = encodeEntry(testEntry()).length;
  for (
    const backend of [
      new MemoryBackend({ maxEntrySize: max }),
      new SQLiteBackend({ path: ":memory:", maxEntrySize: max }),
    ]
  ) {
    equal(await backend.write("k", testEntry(), Infinity), true, backend.name);
    ok(await backend.read("k"), backend.name);
    equal(await backend.write("k", testEntry({ body: new Uint8Array(5) }), Infinity), false, backend.name);
    equal(await backend.read("k"), undefined, backend.name);
    await backend.close();
  }
  for (
    const storage of [
      new MemoryStorage({ maxEntrySize: max }),
      new SQLiteStorage({ path: ":memory:", maxEntrySize: max }),
    ]
  ) {
    await storage.set("k", new Uint8Array(max), Infinity);
    equal((await storage.get("k"))?.length, max, storage.name);
    await storage.set("k", new Uint8Array(max + 1), Infinity);
    equal(await storage.get("k"), undefined, storage.name);
    await storage.close();
  }
});

/**
 * A memory storage, shared with other backends, whose writes and deletes fail on demand (as on a
 * full disk), while reads work.
 */
class Failing implements Storage {
  readonly name = "failing";
  writes = true;
  deletes = true;
  readonly shared: MemoryStorage;

  constructor(shared: MemoryStorage) {
    this.shared = shared;
  }
  get maxEntrySize(): number {
    return this.shared.maxEntrySize;
  }
  get(key: string): Promise<Uint8Array | undefined> {
    return this.shared.get(key);
  }
  set(key: string, value: Uint8Array, deleteAt: number): Promise<void> {
    return this.writes ? this.shared.set(key, value, deleteAt) : Promise.reject(new Error("disk full"));
  }
  delete(keys: string[]): Promise<void> {
    return this.deletes ? this.shared.delete(keys) : Promise.reject(new Error("disk full"));
  }
  keys(prefix?: string): AsyncIterable<string> {
    return this.shared.keys(prefix);
  }
  clear(): Promise<void> {
    return this.shared.clear();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Two backends over one memory store (two processes sharing a store): `failing` can fail. */
function sharedStore(options: { maxEntrySize?: number } = {}) {
  const shared = new MemoryStorage(options);
  const failing = new Failing(shared);
  return { failing, mine: new CacheBackend(failing), theirs: new CacheBackend(shared) };
}

const OLD = testEntry({ statusText: "old" });
const NEW = testEntry({ statusText: "new" });
const THEIRS = testEntry({ statusText: "theirs" });

// Kills base.ts:265 (a write that succeeds no longer clearing its key from the superseded ones):
// every read of the key would be a miss, and delete what was just written.
Deno.test("backend: once a write of a superseded key succeeds, the key is read again", async () => {
  const { failing, mine } = sharedStore();
  await mine.write("k", OLD, Infinity);
  failing.writes = failing.deletes = false;
  await rejects(mine.write("k", NEW, Infinity), BackendError);
  equal(await mine.read("k"), undefined, "the older entry is not served");
  failing.writes = failing.deletes = true;
  await mine.write("k", NEW, Infinity);
  equal(entryOf(await mine.read("k")).statusText, "new");
});

// Kills base.ts:262 `if (!await this.#deleteQuietly(key)) this.#supersede(key)` → supersede
// always: a failed write whose delete succeeded leaves nothing to retire, and another instance's
// later entry is served, not deleted.
Deno.test("backend: after a failed write whose delete succeeded, another instance's entry for the key is served", async () => {
  const { failing, mine, theirs } = sharedStore();
  await mine.write("k", OLD, Infinity);
  failing.writes = false;
  await rejects(mine.write("k", NEW, Infinity), BackendError);
  equal(await failing.shared.get("k"), undefined, "the older entry went");
  await theirs.write("k", THEIRS, Infinity);
  equal(entryOf(await mine.read("k")).statusText, "theirs");
});

// Kills base.ts:282 `if (await this.#deleteQuietly(key)) this.#superseded.delete(key)` → the
// delete alone: once the retried delete succeeds, the key is no longer superseded.
Deno.test("backend: a superseded key whose delete succeeds on a read is read again after", async () => {
  const { failing, mine, theirs } = sharedStore();
  await mine.write("k", OLD, Infinity);
  failing.writes = failing.deletes = false;
  await rejects(mine.write("k", NEW, Infinity), BackendError);
  failing.writes = failing.deletes = true;
  equal(await mine.read("k"), undefined, "the read deletes the older entry");
  equal(await failing.shared.get("k"), undefined);
  await theirs.write("k", THEIRS, Infinity);
  equal(entryOf(await mine.read("k")).statusText, "theirs");
});

// Kills base.ts:255 (a refused write whose delete succeeded no longer clearing the superseded key).
Deno.test("backend: a superseded key whose record a refused write deleted is read again after", async () => {
  const max = encodeEntry(OLD).length + 100;
  const { failing, mine, theirs } = sharedStore({ maxEntrySize: max });
  await mine.write("k", OLD, Infinity);
  failing.writes = failing.deletes = false;
  await rejects(mine.write("k", NEW, Infinity), BackendError);
  failing.deletes = true;
  equal(await mine.write("k", testEntry({ body: new Uint8Array(max) }), Infinity), false);
  await theirs.write("k", THEIRS, Infinity);
  equal(entryOf(await mine.read("k")).statusText, "theirs");
});

// Kills base.ts:252 (a refused write whose delete fails no longer superseding the key): the older
// entry would outlive the newer response.
Deno.test("backend: a refused write whose delete fails leaves the older entry unserved", async () => {
  const max = encodeEntry(OLD).length + 100;
  const { failing, mine } = sharedStore({ maxEntrySize: max });
  await mine.write("k", OLD, Infinity);
  failing.deletes = false;
  await rejects(mine.write("k", testEntry({ body: new Uint8Array(max) }), Infinity), BackendError);
  ok(await failing.shared.get("k"), "the older record is still stored");
  equal(await mine.read("k"), undefined, "and not served");
});

// A delete by key that fails leaves the record stored: it is not served while it stays, and a
// read tries the delete again. Likewise a withdrawal (a write an invalidation overtook).
Deno.test("backend: an entry whose delete or withdrawal failed is not served, and goes once a read's delete succeeds", async () => {
  const { failing, mine, theirs } = sharedStore();
  for (const remove of [(key: string) => mine.delete(key), (key: string) => mine.withdraw(key)]) {
    await mine.write("k", OLD, Infinity);
    failing.deletes = false;
    await rejects(remove("k"), BackendError);
    ok(await failing.shared.get("k"), "the record is still stored");
    equal(await mine.read("k"), undefined, "and not served");
    failing.deletes = true;
    equal(await mine.read("k"), undefined, "a read deletes it");
    equal(await failing.shared.get("k"), undefined);
    await theirs.write("k", THEIRS, Infinity);
    equal(entryOf(await mine.read("k")).statusText, "theirs", "the key is read again after");
  }
});

// Kills base.ts:275 `size > SUPERSEDED_KEPT` → `> 1` and base.ts:273 (a key superseded again not
// moved to the newest): the last 4,096 keys are remembered, counted from their last failure.
Deno.test("backend: the 4,096 keys superseded last are remembered, each from its last failure", async () => {
  const { failing, mine } = sharedStore();
  await mine.write("a", OLD, Infinity);
  await mine.write("b", OLD, Infinity);
  failing.writes = failing.deletes = false;
  const fail = (key: string) => rejects(mine.write(key, NEW, Infinity), BackendError);
  await fail("a");
  await fail("b");
  equal(await mine.read("b"), undefined);
  equal(await mine.read("a"), undefined, "two keys are remembered");
  for (let i = 0; i < 4094; i++) await fail(`other-${i}`);
  await fail("a"); // "a" is the newest again, "b" the oldest
  await fail("other-4094"); // one key too many: "b" goes
  equal(await mine.read("a"), undefined, "a key superseded again is kept as the newest");
  equal(entryOf(await mine.read("b")).statusText, "old", "the oldest key is forgotten");
});

// Kills base.ts:304 (an alias's deleteAt not put on the storage's clock), base.ts:318 (the clocks'
// difference taken the wrong way round) and base.ts:319 (the difference not counted in whole
// seconds): with a session clock an hour and 1 ms behind, the storage keeps an entry and its
// alias an hour and a second longer, plus the grace, both alike.
Deno.test("backend: with a session clock behind the real one, an entry and its alias are kept the difference longer, in whole seconds", async () => {
  const storage = new DeleteAts();
  const backend = new CacheBackend(storage);
  // (1 ms past the hour: the rounded difference stays the same for the next 999 ms.)
  const then = Date.now() - 3_600_001;
  backend.now = () => then;
  const deleteAt = then + 60_000;
  await backend.write("k", testEntry(), deleteAt);
  await backend.writeAlias("alias", "k", deleteAt);
  const entry = storage.written("entry")!, alias = storage.written("alias")!;
  equal(alias, entry, "the alias is kept as long as its entry");
  const shift = entry - deleteAt - SESSION_CLOCK_GRACE;
  equal(shift % 1000, 0, `whole seconds: ${shift}`);
  ok(shift >= 3_601_000 && shift < 3_700_000, `the difference, rounded up: ${shift}`);
});

/** A memory storage whose reads, or deletes, throw instead of rejecting (as a careless one may). */
class Throwing extends MemoryStorage {
  reads = false;
  deletes = false;
  override get(key: string): Promise<Uint8Array | undefined> {
    if (this.reads) throw new Error("thrown");
    return super.get(key);
  }
  override delete(keys: string[]): Promise<void> {
    if (this.deletes) throw new Error("thrown");
    return super.delete(keys);
  }
}

// Kills base.ts:186 (the try/catch around storage.get dropped): read() rejects, never throws.
Deno.test("backend: a storage whose get throws makes read() reject with a BackendError", async () => {
  const storage = new Throwing();
  storage.reads = true;
  const backend = new CacheBackend(storage);
  let read: Promise<unknown> | undefined;
  try {
    read = backend.read("k");
  } catch (error) {
    throw new Error(`read() threw instead of rejecting: ${error}`);
  }
  await rejects(read, (error: unknown) => error instanceof BackendError && error.backend === "memory");
});

// Kills base.ts:550 (the delete of a corrupt record called outside the promise chain): a storage
// whose delete throws still gets the corrupt record reported as corrupt.
Deno.test("backend: a corrupt record is reported as corrupt where the storage's delete throws", async () => {
  const storage = new Throwing();
  const backend = new CacheBackend(storage);
  await storage.set("k", new Uint8Array(20).fill(1), Infinity);
  storage.deletes = true;
  await rejects(
    backend.read("k"),
    (error: unknown) => error instanceof BackendError && error.cause instanceof SyntaxError,
  );
});

// Kills base.ts:440 (urls() no longer sorted).
Deno.test("backend: urls() lists the URLs sorted, whatever order they were stored in", async () => {
  const backend = new MemoryBackend();
  for (const path of ["c", "a", "b"]) {
    await backend.write(path, testEntry({ url: `https://example.com/${path}` }), Infinity);
  }
  deepEqual(await backend.urls(), [
    "https://example.com/a",
    "https://example.com/b",
    "https://example.com/c",
  ]);
});

// Kills base.ts:299 (the catch dropped from writeAlias's read of the alias it replaces): a corrupt
// alias record is written over, not a failure to store the redirect.
Deno.test("backend: an alias is written over a corrupt alias record", async () => {
  const backend = new MemoryBackend();
  await backend.storage.set(ALIAS_PREFIX + "a", new Uint8Array(20).fill(1), Infinity);
  await backend.writeAlias("a", "target", Infinity);
  deepEqual(await backend.read(ALIAS_PREFIX + "a"), { targets: ["target"] });
});

// ---------------------------------------------------------------------------------------------
// MemoryStorage (backends/memory.ts)

// Kills memory.ts:144 (a record kept as its whole buffer when it is a view of part of one).
Deno.test("memory: a record that is a view of part of a buffer is kept as that view", async () => {
  const storage = new MemoryStorage();
  const buffer = new Uint8Array([9, 1, 2, 3, 9]);
  await storage.set("k", buffer.subarray(1, 4), Infinity);
  deepEqual(await storage.get("k"), new Uint8Array([1, 2, 3]));
});

// Kills memory.ts:177 (clear() not remaking the view of the neighbours over the new buffer),
// memory.ts:179 (the order of use not emptied), memory.ts:180 (the free slots kept) and
// memory.ts:181 (the byte count kept): a cleared store behaves as a new one, past its first 64
// slots too.
Deno.test("memory: a cleared store evicts, counts bytes and lists keys as a new one", async () => {
  for (const before of [1, 70]) {
    const storage = new MemoryStorage({ maxEntries: 80, maxBytes: 1000 });
    for (let i = 0; i < before; i++) await storage.set(`old-${i}`, new Uint8Array(10), Infinity);
    for (let i = 0; i < before; i += 2) await storage.delete([`old-${i}`]);
    await storage.clear();
    equal(storage.bytes, 0);
    await storage.set("big", new Uint8Array(990), Infinity);
    ok(await storage.get("big"), `${before}: a record as large as maxBytes allows`);
    await storage.delete(["big"]);
    for (let i = 0; i < 120; i++) await storage.set(`new-${i}`, new Uint8Array(5), Infinity);
    const keys: string[] = [];
    for await (const key of storage.keys()) keys.push(key);
    deepEqual(
      keys.sort(),
      Array.from({ length: 80 }, (_, i) => `new-${i + 40}`).sort(),
      `${before}: the 80 newest`,
    );
    for (let i = 40; i < 120; i++) equal((await storage.get(`new-${i}`))?.length, 5, `${before}: new-${i}`);
    equal(storage.bytes, 400);
  }
});

// ---------------------------------------------------------------------------------------------
// SQLiteStorage (backends/sqlite.ts)

const sqliteDir = tempDir("http_cache_storage_mutants_");
let sqliteFiles = 0;

/** The rows of a database file, expired or not, as `key delete_at`. */
function rows(path: string): string[] {
  const db = new DatabaseSync(path);
  try {
    return (db.prepare(`SELECT key, delete_at FROM ${SQLITE_TABLE} ORDER BY key`).all() as {
      key: string;
      delete_at: number | null;
    }[]).map((row) => `${row.key} ${row.delete_at}`);
  } finally {
    db.close();
  }
}

// Kills sqlite.ts:219 `Math.ceil(deleteAt)` → `Math.floor`: a row is never deleted before its
// deleteAt, rounded up to the millisecond the column holds.
Deno.test("sqlite: a deleteAt between two milliseconds is kept to the later one", async () => {
  const path = `${sqliteDir}/ceil_${sqliteFiles++}.db`;
  const storage = new SQLiteStorage({ path });
  const deleteAt = Date.now() + 3_600_000;
  try {
    await storage.set("k", new Uint8Array(1), deleteAt + 0.25);
    await storage.set("never", new Uint8Array(1), Infinity);
  } finally {
    await storage.close();
  }
  deepEqual(rows(path), [`k ${deleteAt + 1}`, "never null"]);
});

// Kills sqlite.ts:220 (the purge every 500 writes dropped): expired rows are purged now and then
// by an instance that stays open, not only when one opens the file.
Deno.test("sqlite: rows past deleteAt are purged by an instance that keeps writing, without reopening", async () => {
  const path = `${sqliteDir}/purge_${sqliteFiles++}.db`;
  const storage = new SQLiteStorage({ path });
  try {
    await storage.set("gone", new Uint8Array(1), Date.now() - 1);
    ok(rows(path).some((row) => row.startsWith("gone ")), "a write does not purge at once");
    for (let i = 0; i < 499; i++) await storage.set(`k${i}`, new Uint8Array(1), Infinity);
    equal(rows(path).some((row) => row.startsWith("gone ")), false);
  } finally {
    await storage.close();
  }
});

// ---------------------------------------------------------------------------------------------
// RedisStorage (backends/redis.ts)

const redis = serviceUrl("REDIS_URL");

/** Runs `test` with a Redis storage under a fresh prefix that ends with `suffix`, then clears it. */
function withRedis(suffix: string, test: (storage: RedisStorage) => Promise<void>) {
  return async () => {
    const storage = new RedisStorage({
      url: redis.url!,
      prefix: `http-cache-test:${crypto.randomUUID()}:${suffix}`,
    });
    try {
      await test(storage);
    } finally {
      await storage.clear();
      await storage.close();
    }
  };
}

async function listed(storage: Storage, prefix?: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of storage.keys(prefix)) keys.push(key);
  return keys.sort();
}

// Kills redis.ts:235 `Math.max(1, Math.ceil(deleteAt))` → `Math.ceil(deleteAt)`: Redis refuses a
// PXAT of 0 or less; a deleteAt that long past is a record gone at once, not a failed write.
Deno.test({
  name: "redis: a deleteAt at or before the epoch stores a record that is gone at once",
  ignore: redis.skip !== undefined,
  fn: withRedis("", async (storage) => {
    for (const deleteAt of [0, -5, 0.5]) {
      await storage.set("k", new Uint8Array([1]), deleteAt);
      equal(await storage.get("k"), undefined, `deleteAt ${deleteAt}`);
    }
  }),
});

// Kills redis.ts:241 (a batch of UNLINK one key short): a delete of more keys than one batch
// deletes them all.
Deno.test({
  name: "redis: a delete of more keys than one batch deletes every one",
  ignore: redis.skip !== undefined,
  fn: withRedis("", async (storage) => {
    const keys = Array.from({ length: 2001 }, (_, i) => `k${i}`);
    await Promise.all(keys.map((key) => storage.set(key, new Uint8Array([1]), Infinity)));
    await storage.set("kept", new Uint8Array([2]), Infinity);
    await storage.delete(keys);
    deepEqual(await listed(storage), ["kept"]);
  }),
});

// Kills redis.ts:379 (a backslash left unescaped in the SCAN pattern) and redis.ts:267 (the
// storage's prefix left unescaped): a prefix with glob characters lists, and clears, its own keys.
Deno.test({
  name: "redis: a prefix with a backslash and glob characters lists and clears exactly its own keys",
  ignore: redis.skip !== undefined,
  fn: withRedis("a\\b[c]*?:", async (storage) => {
    const sibling = new RedisStorage({
      url: redis.url!,
      prefix: storage.prefix.replace("a\\b[c]*?:", "ab[c]xy:"),
    });
    try {
      await storage.set("k", new Uint8Array([1]), Infinity);
      await storage.set("x\\y", new Uint8Array([1]), Infinity);
      await sibling.set("k", new Uint8Array([2]), Infinity);
      deepEqual(await listed(storage), ["k", "x\\y"]);
      deepEqual(await listed(storage, "x\\"), ["x\\y"]);
      await storage.clear();
      deepEqual(await listed(storage), []);
      deepEqual(await sibling.get("k"), new Uint8Array([2]), "another prefix's keys are left");
    } finally {
      await sibling.clear();
      await sibling.close();
    }
  }),
});

// Kills redis.ts:232 (the whole buffer of a view stored): a record that is a view of part of a
// buffer is stored as that view.
Deno.test({
  name: "redis: a record that is a view of part of a buffer is stored as that view",
  ignore: redis.skip !== undefined,
  fn: withRedis("", async (storage) => {
    await storage.set("k", new Uint8Array([9, 1, 2, 3, 9]).subarray(1, 4), Infinity);
    deepEqual(await storage.get("k"), new Uint8Array([1, 2, 3]));
  }),
});
