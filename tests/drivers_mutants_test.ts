/**
 * The Deno KV and MongoDB storages and the CLI, checked where mutation testing found that no
 * other test would fail: KV's chunk bookkeeping under racing writers and deletes, its boundaries
 * and native expiry; MongoDB's bounds, index, batches and connection; the CLI's argument rules,
 * messages and output format. Each test names the mutant it kills (file:line as of the session
 * that wrote it, and the change).
 *
 * @module
 */

import { deepEqual, equal, match, ok, rejects, throws } from "node:assert/strict";
import { mkdirSync, realpathSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import process from "node:process";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DatabaseSync } from "node:sqlite";
import { Binary, type Collection, MongoClient } from "mongodb";
import { DenoKVBackend, DenoKVStorage, type KvKey, type KvLike } from "../backends/deno_kv.ts";
import { MongoDBBackend, MongoDBStorage, type MongoRecord } from "../backends/mongodb.ts";
import type { CacheBackend } from "../backends/base.ts";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "../src/cli/main.ts";
import { runCli } from "./_cli.ts";
import { parseDuration } from "../src/cli/args.ts";
import {
  formatBytes,
  formatDate,
  formatRelative,
  keyValues,
  previewBody,
  progressLine,
} from "../src/cli/format.ts";
import { urlKeyPrefix } from "../src/cache_keys.ts";
import type { CacheEntry } from "../src/record.ts";
import { testEntry } from "./_entry.ts";
import { type Kv, openKv, patterned, sqliteCacheFile } from "./_fixtures.ts";
import { serviceUrl } from "./_services.ts";
import { freePort } from "./_servers.ts";
import { RUNTIME, start, tempDir } from "./_runtime.ts";

const KiB = 1024;
const HOUR = 3_600_000;
const CHUNK = 63 * KiB;
const dir = tempDir("http_cache_drivers_");
let files = 0;

function same(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.length === b.length && a.every((byte, i) => byte === b[i]);
}

// --- Deno KV ------------------------------------------------------------------------------------

/** Runs `test` over a KV file of its own, and closes it. */
function withKv(test: (kv: Kv, path: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const path = join(dir, `kv_${files++}.kv`);
    const kv = await openKv(path);
    try {
      await test(kv, path);
    } finally {
      kv.close();
    }
  };
}

async function rawKeys(kv: KvLike, prefix: KvKey): Promise<KvKey[]> {
  const keys: KvKey[] = [];
  for await (const { key } of kv.list({ prefix })) keys.push(key);
  return keys;
}

/**
 * `kv` as another process sees it: right after the first read of a record's manifest, `race`
 * runs (another writer), before the reader goes on. `reads` counts the manifest reads.
 */
function racing(kv: KvLike, race: () => Promise<unknown>): KvLike & { reads: number } {
  let raced = false;
  const wrapped = {
    reads: 0,
    async get(key: KvKey) {
      const read = await kv.get(key);
      if (key.at(-2) === "entry") {
        wrapped.reads++;
        if (!raced) {
          raced = true;
          await race();
        }
      }
      return read;
    },
    list: (selector: Parameters<KvLike["list"]>[0], options?: { batchSize?: number }) =>
      kv.list(selector, options),
    atomic: () => kv.atomic(),
    close: () => {},
  };
  return wrapped;
}

/**
 * Record "k" of 200 KiB, stored by `other`, and a storage over the same database (`raced`) whose
 * first read of an entry has `other` rewrite "k" (another 200 KiB) before it goes on.
 */
async function rewrittenDuring(kv: KvLike): Promise<{ other: DenoKVStorage; raced: DenoKVStorage }> {
  const other = new DenoKVStorage({ kv });
  await other.set("k", patterned(200 * KiB, 1), Infinity);
  const raced = new DenoKVStorage({
    kv: racing(kv, () => other.set("k", patterned(200 * KiB, 2), Infinity)),
  });
  return { other, raced };
}

Deno.test(
  "deno-kv: a read whose chunks a writer replaced meanwhile reads again and gets the new record",
  // Kills backends/deno_kv.ts:189 `attempt < MAX_ATTEMPTS` -> `attempt < 1` (one read only).
  withKv(async (kv) => {
    const writer = new DenoKVStorage({ kv });
    await writer.set("k", patterned(200 * KiB, 1), Infinity);
    const reader = new DenoKVStorage({
      kv: racing(kv, () => writer.set("k", patterned(150 * KiB, 2), Infinity)),
    });
    ok(
      same(await reader.get("k"), patterned(150 * KiB, 2)),
      "the reader got the record that replaced the one it saw",
    );
  }),
);

Deno.test(
  "deno-kv: a record with a chunk lost reads as a miss after two manifest reads, not eight",
  // Kills backends/deno_kv.ts:202 dropping `if (manifest.generation === seen) return undefined`.
  withKv(async (kv) => {
    const writer = new DenoKVStorage({ kv });
    await writer.set("k", patterned(200 * KiB, 1), Infinity);
    const chunks = await rawKeys(kv, [...writer.prefix, "chunk"]);
    await kv.atomic().delete(chunks[1]!).commit();
    const counted = racing(kv, () => Promise.resolve());
    equal(await new DenoKVStorage({ kv: counted }).get("k"), undefined);
    equal(counted.reads, 2);
  }),
);

Deno.test(
  "deno-kv: a record of exactly 63 KiB stays inline in its manifest, one byte more is chunked",
  // Kills backends/deno_kv.ts:215 `value.length <= CHUNK_SIZE` -> `<` (a one-chunk record that
  // the manifest decoder refuses as corrupt).
  withKv(async (kv) => {
    const storage = new DenoKVStorage({ kv });
    await storage.set("edge", patterned(CHUNK, 3), Infinity);
    ok(same(await storage.get("edge"), patterned(CHUNK, 3)));
    deepEqual(await rawKeys(kv, [...storage.prefix, "chunk"]), []);
    await storage.set("over", patterned(CHUNK + 1, 4), Infinity);
    ok(same(await storage.get("over"), patterned(CHUNK + 1, 4)));
    equal((await rawKeys(kv, [...storage.prefix, "chunk"])).length, 2);
  }),
);

Deno.test(
  "deno-kv: a record of exactly maxEntrySize is kept",
  // Kills backends/deno_kv.ts:212 `value.length > this.maxEntrySize` -> `>=`.
  withKv(async (kv) => {
    const storage = new DenoKVStorage({ kv, maxEntrySize: 1000 });
    await storage.set("k", patterned(1000), Infinity);
    equal((await storage.get("k"))?.length, 1000);
  }),
);

Deno.test(
  "deno-kv: a deleteAt of now is past: the write deletes, a manifest due now reads as a miss and is not listed",
  // Kills backends/deno_kv.ts:212 `deleteAt <= now` -> `<`, :197 `manifest.deleteAt <= Date.now()`
  // -> `<`, and :245 (keys) `<= Date.now()` -> `<`.
  withKv(async (kv) => {
    const storage = new DenoKVStorage({ kv });
    const realNow = Date.now;
    const start = realNow();
    await storage.set("due", patterned(10), start + 60_000);
    await storage.set("replaced", patterned(10), Infinity);
    try {
      Date.now = () => start + 60_000;
      equal(await storage.get("due"), undefined, "a manifest due now");
      deepEqual(await Array.fromAsync(storage.keys()), ["replaced"]);
      await storage.set("replaced", patterned(20), start + 60_000);
    } finally {
      Date.now = realNow;
    }
    equal((await kv.get([...storage.prefix, "entry", "replaced"])).versionstamp, null);
  }),
);

Deno.test(
  "deno-kv: a write superseded by another writer's commit deletes its own chunks and leaves the other's",
  // Kills backends/deno_kv.ts:309 dropping the `.check(...)` of the manifest commit, :312
  // `landed ? previous : undefined` -> `previous`, and :227 `previous === undefined ? manifest :`
  // dropped (each leaves a generation of chunks behind, or the superseded record in place).
  withKv(async (kv) => {
    const { other, raced: writer } = await rewrittenDuring(kv);
    await writer.set("k", patterned(300 * KiB, 3), Infinity);
    ok(
      same(await other.get("k"), patterned(200 * KiB, 2)),
      "the write that committed while this one ran stands",
    );
    equal((await rawKeys(kv, [...other.prefix, "chunk"])).length, 4, "only its four chunks are left");
  }),
);

Deno.test(
  "deno-kv: a delete that races a rewrite deletes the new record's chunks too",
  // Kills backends/deno_kv.ts:324 `attempt <= MAX_ATTEMPTS ? kv.atomic().check(...) : kv.atomic()`
  // -> `kv.atomic()` (an unchecked first delete leaves the rewrite's chunks behind).
  withKv(async (kv) => {
    const { other, raced: deleter } = await rewrittenDuring(kv);
    await deleter.delete(["k"]);
    deepEqual(await rawKeys(kv, other.prefix), []);
  }),
);

Deno.test(
  "deno-kv: the manifest expires natively at deleteAt and its chunks an hour later; a record for ever never",
  // Kills backends/deno_kv.ts:290 `expireIn + CHUNK_EXPIRY_MARGIN` -> `expireIn`, and :310 the
  // manifest's `{ expireIn }` -> `{}`. (KV's own table, read as SQLite: `expiration_ms`, -1 for none.)
  async () => {
    const path = join(dir, `kv_${files++}.kv`);
    const kv = await openKv(path);
    const deleteAt = Date.now() + 10 * 60_000;
    try {
      const storage = new DenoKVStorage({ kv });
      await storage.set("timed", patterned(200 * KiB, 1), deleteAt);
      await storage.set("forever", patterned(200 * KiB, 2), Infinity);
    } finally {
      kv.close();
    }
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      const rows = db.prepare("SELECT k, expiration_ms FROM kv").all() as {
        k: Uint8Array;
        expiration_ms: number;
      }[];
      // KV encodes a string key part as 0x02, its UTF-8 bytes, 0x00.
      const part = (text: string) => `\x02${text}\x00`;
      const has = (row: { k: Uint8Array }, text: string) =>
        String.fromCharCode(...row.k).includes(part(text));
      const timedEntry = rows.filter((row) => has(row, "entry") && has(row, "timed"));
      const foreverEntry = rows.filter((row) => has(row, "entry") && has(row, "forever"));
      const chunks = rows.filter((row) => has(row, "chunk"));
      equal(timedEntry.length, 1);
      equal(chunks.length, 8);
      const expiry = timedEntry[0]!.expiration_ms;
      ok(expiry >= deleteAt, `the manifest expires at ${expiry}, before deleteAt ${deleteAt}`);
      const timedChunks = chunks.filter((row) => row.expiration_ms !== -1);
      equal(timedChunks.length, 4, "the timed record's chunks expire, the other's do not");
      for (const row of timedChunks) {
        ok(
          row.expiration_ms >= expiry + 3_000_000,
          `a chunk expires at ${row.expiration_ms}, the manifest at ${expiry}`,
        );
      }
      equal(foreverEntry[0]?.expiration_ms, -1);
    } finally {
      db.close();
    }
  },
);

Deno.test("deno-kv: a database that failed to open is opened again by the next call", async () => {
  // Kills backends/deno_kv.ts:268 dropping `this.#kv = undefined` (the failed open is kept).
  const parent = join(dir, `later_${files++}`);
  const storage = new DenoKVStorage({ path: join(parent, "cache.kv") });
  try {
    await rejects(storage.get("k"));
    mkdirSync(parent);
    equal(await storage.get("k"), undefined);
  } finally {
    await storage.close();
  }
});

Deno.test(
  "deno-kv: a delete of many keys and a clear of more than one commit holds remove them all",
  // Kills backends/deno_kv.ts:235 each batch of 16 parallel deletes cut to its first key, and :255
  // dropping the flush every 200 keys (one commit of 1,001 deletes is more than KV takes).
  withKv(async (kv) => {
    const storage = new DenoKVStorage({ kv });
    const keys = Array.from({ length: 1001 }, (_, i) => `k${i}`);
    const write = async (some: string[]) => {
      for (let i = 0; i < some.length; i += 100) {
        await Promise.all(some.slice(i, i + 100).map((key) => storage.set(key, patterned(1), Infinity)));
      }
    };
    await write(keys);
    await storage.delete(keys.slice(0, 40));
    equal((await rawKeys(kv, [...storage.prefix, "entry"])).length, 961);
    await write(keys.slice(0, 40));
    await storage.clear();
    deepEqual(await rawKeys(kv, storage.prefix), []);
  }),
);

Deno.test(
  "deno-kv: a key whose manifest is corrupt is listed, so that a scan finds it and deletes it",
  // Kills backends/deno_kv.ts:245 `?? Infinity` -> `?? 0` (a corrupt manifest was hidden from
  // keys(), and so stayed for good).
  withKv(async (kv) => {
    const backend = new DenoKVBackend({ kv });
    const storage = backend.storage as DenoKVStorage;
    await kv.set([...storage.prefix, "entry", "bad"], Uint8Array.of(1, 2, 3));
    deepEqual(await Array.fromAsync(storage.keys()), ["bad"]);
    equal(await backend.count({ valid: true }), 0);
    equal((await kv.get([...storage.prefix, "entry", "bad"])).versionstamp, null);
    await backend.close();
  }),
);

Deno.test(
  "deno-kv: a manifest whose fields disagree is corrupt: the read fails and deletes it",
  // Kills backends/deno_kv.ts:432 dropping `bytes.length - end !== manifest.length` (inline), :439
  // dropping `!Number.isSafeInteger(manifest.length)`, `manifest.length <= CHUNK_SIZE` or
  // `manifest.generation === ""`, and :440 dropping `end !== bytes.length` (each read as a miss,
  // a RangeError or a record, instead of a corrupt manifest deleted).
  withKv(async (kv) => {
    const storage = new DenoKVStorage({ kv });
    const damages: [string, number, (manifest: Uint8Array) => Uint8Array][] = [
      ["an inline body longer than its length", 100, (m) => Uint8Array.of(...m, 0)],
      ["a fractional length", 200 * KiB, (m) => (new DataView(m.buffer).setFloat64(8, 200 * KiB + 0.5), m)],
      ["one chunk of a short length", 200 * KiB, (m) => {
        const view = new DataView(m.buffer);
        view.setFloat64(8, 1000);
        view.setUint32(16, 1);
        return m;
      }],
      ["no generation", 200 * KiB, (m) => (m[20] = 0, m.subarray(0, 21))],
      ["a byte after the generation", 200 * KiB, (m) => Uint8Array.of(...m, 0)],
    ];
    for (const [label, size, damage] of damages) {
      await storage.set("k", patterned(size, 1), Infinity);
      const entryKey = [...storage.prefix, "entry", "k"];
      const manifest = new Uint8Array((await kv.get(entryKey)).value as Uint8Array);
      await kv.set(entryKey, damage(manifest));
      await rejects(storage.get("k"), SyntaxError, label);
      equal((await kv.get(entryKey)).versionstamp, null, `${label}: the manifest was deleted`);
      await storage.clear();
    }
  }),
);

// --- MongoDB ------------------------------------------------------------------------------------

const mongo = serviceUrl("MONGODB_URL");
const TEST_DB = "http_cache_test";

/** Runs `test` with a client of its own and a fresh collection name in the tests' database. */
function withMongo(
  test: (client: MongoClient, name: string, collection: Collection<MongoRecord>) => Promise<void>,
): () => Promise<void> {
  return async () => {
    const client = await new MongoClient(mongo.url!).connect();
    const name = `drivers_${crypto.randomUUID().slice(0, 8)}_v1`;
    const collection = client.db(TEST_DB).collection<MongoRecord>(name);
    try {
      await test(client, name, collection);
    } finally {
      await collection.drop().catch(() => {});
      await client.close();
    }
  };
}

Deno.test({
  name: "mongodb: a record of exactly maxEntrySize is kept; a larger one deletes the record it would replace",
  // Kills backends/mongodb.ts:245 `value.length > this.maxEntrySize` -> `>=`, and
  // `return this.delete([key])` -> `return` (the older record was left in place).
  ignore: mongo.skip !== undefined,
  fn: withMongo(async (_client, _name, collection) => {
    const storage = new MongoDBStorage({ collection, maxEntrySize: 10 });
    await storage.set("k", patterned(10), Infinity);
    equal((await storage.get("k"))?.length, 10);
    await storage.set("k", patterned(11), Infinity);
    equal(await storage.get("k"), undefined);
    equal(await collection.countDocuments(), 0);
  }),
});

Deno.test({
  name: "mongodb: a TTL index that failed to be made is made by the next write; the failed write reports it",
  // Kills backends/mongodb.ts:252 dropping `this.#indexed = undefined` (a failed index build
  // failed every later write) and :255 dropping `await this.#indexed`.
  ignore: mongo.skip !== undefined,
  fn: withMongo(async (_client, _name, collection) => {
    // The real collection, but its first createIndex fails, as one interrupted on the server does.
    let failed = false;
    const flaky = new Proxy(collection, {
      get(target, property) {
        if (property === "createIndex" && !failed) {
          failed = true;
          return () => Promise.reject(new Error("index build interrupted"));
        }
        const value = Reflect.get(target, property);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const storage = new MongoDBStorage({ collection: flaky });
    await rejects(storage.set("k", patterned(3), Infinity), /index build interrupted/);
    await storage.set("k", patterned(3), Infinity);
    equal((await storage.get("k"))?.length, 3);
    const ttl = (await collection.indexes()).find((index) => index.name === "deleteAt_ttl");
    equal(ttl?.expireAfterSeconds, 0);
  }),
});

Deno.test({
  name: "mongodb: a delete of more keys than one batch deletes them all",
  // Kills backends/mongodb.ts:268 the loop over batches of 1,000 cut to its first batch.
  ignore: mongo.skip !== undefined,
  fn: withMongo(async (_client, _name, collection) => {
    const keys = Array.from({ length: 1001 }, (_, i) => `k${i}`);
    await collection.insertMany(
      keys.map((_id) => ({ _id, value: new Binary(patterned(1)), deleteAt: null })),
    );
    const storage = new MongoDBStorage({ collection });
    await storage.delete(keys);
    equal(await collection.countDocuments(), 0);
  }),
});

Deno.test({
  name: "mongodb: a document whose deleteAt is now is a miss",
  // Kills backends/mongodb.ts:378 `deleteAt.getTime() <= Date.now()` -> `<`.
  ignore: mongo.skip !== undefined,
  fn: withMongo(async (_client, _name, collection) => {
    const at = Date.now() + 60_000;
    await collection.insertOne({ _id: "due", value: new Binary(patterned(2)), deleteAt: new Date(at) });
    const storage = new MongoDBStorage({ collection });
    equal((await storage.get("due"))?.length, 2);
    const realNow = Date.now;
    Date.now = () => at;
    try {
      equal(await storage.get("due"), undefined);
    } finally {
      Date.now = realNow;
    }
  }),
});

Deno.test({
  name: "mongodb: records go to the db option's database, and close() leaves a given client open",
  // Kills backends/mongodb.ts:357 `this.#options.db ?? DEFAULT_MONGODB_DB` -> the default, and
  // :358 `client: ours ? client : undefined` -> `client` (close() closed the user's client).
  ignore: mongo.skip !== undefined,
  fn: withMongo(async (client, name, collection) => {
    const storage = new MongoDBStorage({ client, db: TEST_DB, collection: name });
    await storage.set("k", patterned(4), Infinity);
    await storage.close();
    const found = await collection.findOne({ _id: "k" });
    ok(found !== null, `the record is not in ${TEST_DB}.${name}`);
    const owned = new MongoDBStorage({ url: mongo.url!, db: TEST_DB, collection: name });
    try {
      equal((await owned.get("k"))?.length, 4);
    } finally {
      await owned.close();
      // (A mutant that ignores db writes into the default database: leave nothing there.)
      await client.db("http_cache").collection(name).drop().catch(() => {});
    }
  }),
});

Deno.test({
  name: "mongodb: clear removes records that expire as well as those kept for ever",
  // Kills backends/mongodb.ts:290 `deleteMany({})` -> `deleteMany({ deleteAt: null })`.
  ignore: mongo.skip !== undefined,
  fn: withMongo(async (_client, _name, collection) => {
    const storage = new MongoDBStorage({ collection });
    await storage.set("timed", patterned(1), Date.now() + HOUR);
    await storage.set("forever", patterned(1), Infinity);
    await storage.clear();
    equal(await collection.countDocuments(), 0);
  }),
});

Deno.test({
  name: "mongodb: a closed storage over a given Collection refuses calls",
  // Kills backends/mongodb.ts:320 dropping `if (this.#closed) return Promise.reject(...)` (a given
  // Collection needs no connecting, so nothing else stopped a closed storage from using it).
  ignore: mongo.skip !== undefined,
  fn: withMongo(async (_client, _name, collection) => {
    const storage = new MongoDBStorage({ collection });
    await storage.set("k", patterned(1), Infinity);
    await storage.close();
    await rejects(storage.get("k"), /The storage is closed/);
    await rejects(storage.set("other", patterned(1), Infinity), /The storage is closed/);
    equal(await collection.countDocuments(), 1);
  }),
});

Deno.test({
  name: "mongodb: after a failed connection the next call connects anew",
  // Kills backends/mongodb.ts:323 dropping `this.#connected = undefined` (the failed attempt
  // was kept, and every later call failed with it).
  ignore: mongo.skip !== undefined,
  async fn() {
    const target = new URL(mongo.url!);
    const port = await freePort();
    const storage = new MongoDBStorage({
      url: `mongodb://127.0.0.1:${port}/?directConnection=true`,
      db: TEST_DB,
      collection: `drivers_${crypto.randomUUID().slice(0, 8)}_v1`,
      timeout: 500,
    });
    // Nothing listens on the port yet; then a forwarder to the test server does.
    const sockets: Socket[] = [];
    const forwarder = createServer((inbound) => {
      const outbound = connect(Number(target.port), target.hostname);
      sockets.push(inbound, outbound);
      inbound.pipe(outbound).pipe(inbound);
      for (const socket of [inbound, outbound]) socket.on("error", () => {});
      inbound.on("close", () => outbound.destroy());
      outbound.on("close", () => inbound.destroy());
    });
    try {
      // (A listing connects without the per-call guard that replaces a lost connection.)
      await rejects(Array.fromAsync(storage.keys()));
      await new Promise<void>((resolve) => forwarder.listen(port, "127.0.0.1", resolve));
      deepEqual(await Array.fromAsync(storage.keys()), []);
      await storage.set("k", patterned(2), Infinity);
      equal((await storage.get("k"))?.length, 2);
      await storage.clear();
    } finally {
      await storage.close();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => forwarder.close(resolve));
    }
  },
});

Deno.test("mongodb: a mongodb+srv:// URL is taken, a URL beside a given Collection is refused", async () => {
  // Kills backends/mongodb.ts:203 `(\+srv)?` dropped from the URL test, and :197
  // `|| typeof options.collection === "object"` dropped (a url beside a Collection was ignored).
  await new MongoDBBackend({ url: "mongodb+srv://cluster.example.com/" }).close();
  const client = new MongoClient("mongodb://127.0.0.1:9");
  try {
    const collection = client.db(TEST_DB).collection("never_used");
    throws(
      () => new MongoDBBackend({ url: "mongodb://127.0.0.1:9", collection }),
      /give either url or client \(or a Collection\), not both/,
    );
  } finally {
    await client.close();
  }
});

// --- CLI ----------------------------------------------------------------------------------------

/** A 200 of `url`, fresh for an hour, whose body names it. */
function entry(url: string, overrides: Partial<CacheEntry> = {}): CacheEntry {
  return testEntry({ url, body: new TextEncoder().encode(`body of ${url}`), ...overrides });
}

async function store(cache: CacheBackend, stored: CacheEntry): Promise<string> {
  const key = await urlKeyPrefix(stored.method, new URL(stored.url));
  await cache.write(key, stored, Infinity);
  return key;
}

/** A SQLite cache file holding `entries`. */
function sqliteFile(...entries: CacheEntry[]): Promise<string> {
  return sqliteCacheFile(join(dir, `cache_${files++}.db`), entries);
}

const cli = runCli;

const FRESH = "https://a.example/fresh";
const STALE = "https://a.example/stale";
const OLD = "https://b.example/old";

/** Three entries: one fresh, one expired, one created two days ago. */
function three(): CacheEntry[] {
  const now = Date.now();
  return [
    entry(FRESH),
    entry(STALE, { expiresAt: now - HOUR }),
    entry(OLD, { createdAt: now - 48 * HOUR, expiresAt: Infinity }),
  ];
}

Deno.test("cli: list takes --older-than and --url; delete takes --valid and --url alone", async () => {
  // Kills src/cli/args.ts:74 "older-than" dropped from list's options, :76 "valid" dropped from
  // delete's, and src/cli/run.ts:59-60 dropping `!invocation.valid &&` or
  // `invocation.urlPattern === undefined &&` (delete --valid / --url alone called a usage error).
  const path = await sqliteFile(...three());
  const old = await cli([`sqlite:${path}`, "list", "--older-than", "1d", "--json"]);
  equal(old.code, EXIT_OK, old.stderr);
  deepEqual(JSON.parse(old.stdout).map((row: { url: string }) => row.url), [OLD]);
  const byPattern = await cli([`sqlite:${path}`, "delete", "--url", "b.example/*"]);
  deepEqual([byPattern.code, byPattern.stdout, byPattern.stderr], [EXIT_OK, "Deleted 1 entry.\n", ""]);
  const fresh = await cli([`sqlite:${path}`, "delete", "--valid", "--json"]);
  deepEqual([fresh.code, fresh.stdout], [EXIT_OK, '{"deleted":1}\n']);
  const left = await cli([`sqlite:${path}`, "list", "--json"]);
  deepEqual(JSON.parse(left.stdout).map((row: { url: string }) => row.url), [STALE]);
});

Deno.test("cli: usage errors for show with two targets, --limit 1.5, a filter the cache refuses", async () => {
  // Kills src/cli/args.ts:130 `rest.length !== 1` -> `< 1`, :172 dropping
  // `!Number.isSafeInteger(limit)`, and src/cli/run.ts:81 dropping the TypeError -> usage (exit 2).
  const path = await sqliteFile(...three());
  const cases: [string[], RegExp][] = [
    [["show", FRESH, STALE], /show takes one URL or cache key/],
    [["list", "--limit", "1.5"], /--limit must be a positive integer: received "1\.5"/],
    [["delete", "not-a-url"], /urls must be an array of absolute URLs/],
  ];
  for (const [args, message] of cases) {
    const result = await cli([`sqlite:${path}`, ...args]);
    equal(result.code, EXIT_USAGE, args.join(" "));
    match(result.stderr, message);
    match(result.stderr, /Run http-cache --help for usage/);
    equal(result.stdout, "");
  }
  equal(parseDuration(" 7d "), 604_800, "a duration may be padded"); // args.ts:161 `.trim()` dropped
});

Deno.test("cli: a closed stdout ends the run with 0 (a broken pipe, as Deno and Node name it)", async () => {
  // Kills src/cli/run.ts:80 dropping `if (isBrokenPipe(error)) return EXIT_OK`, and :117 dropping
  // `code === "EPIPE"` (Node's name for it).
  const path = await sqliteFile(...three());
  const brokenPipe = () => Object.assign(new Error("Broken pipe (os error 32)"), { name: "BrokenPipe" });
  const epipe = () => Object.assign(new Error("write EPIPE"), { code: "EPIPE" });
  for (const failOut of [brokenPipe, epipe]) {
    const result = await cli([`sqlite:${path}`, "list"], { failOut });
    deepEqual([result.code, result.stderr], [EXIT_OK, ""]);
  }
});

Deno.test("cli: failure messages: nothing to show as it is, a failing command named with its verb", async () => {
  // Kills src/cli/run.ts:104 dropping `error instanceof NotFoundError` (the message was prefixed
  // "Cannot show …"), and :112 `"delete from"` -> the bare command.
  const path = await sqliteFile(...three());
  const missing = await cli([`sqlite:${path}`, "show", "https://nowhere.example/"]);
  deepEqual([missing.code, missing.stderr], [
    EXIT_FAILURE,
    "http-cache: Nothing is stored for https://nowhere.example/\n",
  ]);
  // A database with the cache's table name but not its columns: every query of it fails.
  const broken = join(dir, `broken_${files++}.db`);
  const db = new DatabaseSync(broken);
  db.exec("CREATE TABLE http_cache_v1 (unrelated INTEGER)");
  db.close();
  const deleted = await cli([`sqlite:${broken}`, "delete", "--expired"]);
  equal(deleted.code, EXIT_FAILURE);
  match(deleted.stderr, /^http-cache: Cannot delete from sqlite:\S+: /);
  const stats = await cli([`sqlite:${broken}`, "stats"]);
  equal(stats.code, EXIT_FAILURE);
  match(stats.stderr, /^http-cache: Cannot read the statistics of sqlite:\S+: /);
});

Deno.test("cli: sqlite:// before a relative path, and a file with only some of KV's tables", async () => {
  // Kills src/cli/open.ts:60 dropping `.replace(/^\/\/(?=\/|\.)/, "")` (sqlite://./x.db was read
  // as /x.db), and :187 `tables.some(...)` -> `tables.every(...)` (one KV table was enough).
  // (In a child process started in the cache's directory: the tests may not read their own.)
  const path = realpathSync(await sqliteFile());
  const [folder, name] = [dirname(path), basename(path)];
  const [command, runtimeArgs] = RUNTIME === "deno"
    ? ["deno", ["run", `--allow-read=${folder}`, `--allow-write=${folder}`, "--allow-env"]]
    : [process.execPath, process.execArgv];
  const main = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
  const relative = await start(command, [...runtimeArgs, main, `sqlite://./${name}`, "stats", "--json"], {
    capture: true,
    cwd: folder,
  }).exited;
  equal(relative.code, EXIT_OK, relative.stderr);
  equal(JSON.parse(relative.stdout).entries, 0);
  const half = join(dir, `half_${files++}.kv`);
  const db = new DatabaseSync(half);
  db.exec("CREATE TABLE kv (k BLOB PRIMARY KEY, v BLOB)");
  db.close();
  const refused = await cli([`kv:${half}`, "stats"]);
  equal(refused.code, EXIT_FAILURE);
  match(refused.stderr, /it is not a Deno KV database/);
});

Deno.test("cli: list --json of an empty cache is [], stats --json of one has no oldest, clear --json counts", async () => {
  // Kills src/cli/commands.ts:117 `count === 0 ? "[]\n" :` dropped, :74 the `Number.isFinite`
  // guard of stats' dates dropped, and :234 clear's JSON output dropped.
  const path = await sqliteFile(...three());
  const cleared = await cli([`sqlite:${path}`, "clear", "--yes", "--json"]);
  deepEqual([cleared.code, cleared.stdout], [EXIT_OK, '{"deleted":3}\n']);
  const listed = await cli([`sqlite:${path}`, "list", "--json"]);
  deepEqual([listed.code, JSON.parse(listed.stdout), listed.stderr], [EXIT_OK, [], ""]);
  const stats = await cli([`sqlite:${path}`, "stats", "--json"]);
  equal(stats.code, EXIT_OK, stats.stderr);
  deepEqual([JSON.parse(stats.stdout).oldest, JSON.parse(stats.stdout).newest], [null, null]);
});

Deno.test("cli: show of an upper-case URL, an expired redirected entry, a long text body, and by key", async () => {
  // Kills src/cli/commands.ts:131 the `i` flag of the scheme test dropped, :163 "expired " dropped
  // from the expiry, :174 the Redirected row dropped, :186 the "(first … of … bytes)" note dropped,
  // and :171 the size of a record read by key (unknown: not shown) printed as "NaN B".
  const now = Date.now();
  const url = "https://a.example/long";
  const path = await sqliteFile(
    entry(url, {
      redirected: true,
      expiresAt: now - 2 * HOUR,
      body: new TextEncoder().encode("x".repeat(2000)),
    }),
  );
  const shown = await cli([`sqlite:${path}`, "show", "HTTPS://A.EXAMPLE/long"]);
  equal(shown.code, EXIT_OK, shown.stderr);
  match(shown.stdout, /^Expires +\S+ \S+ \(expired 2h ago\)$/m);
  match(shown.stdout, /^Redirected +yes$/m);
  match(shown.stdout, /^Body \(first 1,024 of 2,000 bytes\):\nx{1024}\n/m);
  const key = await urlKeyPrefix("GET", new URL(url));
  const byKey = await cli([`sqlite:${path}`, "show", key]);
  match(byKey.stdout, /^Size +body 2\.0 KiB$/m);
});

Deno.test("cli: show of a binary body longer than its hex preview counts the bytes the preview holds", async () => {
  // A bug found by mutation testing (src/cli/format.ts:164, the 256-byte cap of a hex preview, and
  // src/cli/commands.ts:187): a 300-byte binary body was shown as "Body (first 1,024 of 300 bytes)"
  // over a dump of 256 bytes.
  const url = "https://a.example/blob";
  const path = await sqliteFile(
    entry(url, { headers: [["content-type", "image/png"]], body: new Uint8Array(300) }),
  );
  const shown = await cli([`sqlite:${path}`, "show", url]);
  equal(shown.code, EXIT_OK, shown.stderr);
  match(
    shown.stdout,
    /^Body \(first 256 of 300 bytes\):\nbinary; the first bytes in hex:\n {2}(00 ){255}00\n/m,
  );
});

Deno.test("cli: list names a method other than GET, under a header aligned with its columns", async () => {
  // Kills src/cli/format.ts:104 the method prefix dropped, and :92 the header's padding dropped.
  const url = "https://a.example/head";
  const path = await sqliteFile(entry(url, { method: "HEAD", body: new Uint8Array(0) }));
  const listed = await cli([`sqlite:${path}`, "list"]);
  equal(listed.code, EXIT_OK, listed.stderr);
  const [header, row] = listed.stdout.split("\n");
  ok(row!.endsWith(` HEAD ${url}`), row);
  equal(header!.indexOf("URL"), row!.indexOf("HEAD"), `${header}\n${row}`);
  for (const name of ["SIZE", "CREATED", "EXPIRES"]) {
    equal(row![header!.indexOf(name) - 1], " ", `${name} starts a column`);
    ok(row![header!.indexOf(name)] !== " ", `${name} starts a column`);
  }
});

Deno.test("cli: progress is drawn on a terminal only, and only once something was drawn is it cleared", async () => {
  // Kills src/cli/commands.ts:265 dropping `if (!io.interactive) return undefined` (stats drew a bar
  // off a terminal), and :276 `if (drawn)` dropped (a clear code with no bar before it).
  const path = await sqliteFile(...three());
  const plain = await cli([`sqlite:${path}`, "stats"]);
  deepEqual([plain.code, plain.stderr], [EXIT_OK, ""]);
  const empty = await sqliteFile();
  const terminal = await cli([`sqlite:${empty}`, "stats"], { interactive: true });
  deepEqual([terminal.code, terminal.stderr], [EXIT_OK, ""]);
});

Deno.test("cli formats: byte units, relative times and dates at their boundaries, aligned key-values", () => {
  // Kills src/cli/format.ts:20 `value >= 1024` -> `>`, :48-55 each `size < N` -> `<=`, :69 the date
  // cut to seconds dropped, :79 the padding dropped.
  deepEqual([1024 * 1024, 1024 ** 3].map(formatBytes), ["1.0 MiB", "1.0 GiB"]);
  const now = 1_700_000_000_000;
  const at = (seconds: number) => formatRelative(now + seconds * 1000, now);
  deepEqual([at(-1), at(60), at(-3600), at(86_400), at(-86_400 * 365)], [
    "1s ago",
    "in 1m",
    "1h ago",
    "in 1d",
    "1y ago",
  ]);
  equal(formatDate(Date.UTC(2026, 10, 23, 10, 11, 10, 500)), "2026-11-23 10:11:10Z");
  equal(keyValues([["a", "1"], ["long", "2"]]), "a     1\nlong  2\n");
});

Deno.test("cli formats: body previews of JSON-LD, untyped text, a character cut at the limit, long binary", () => {
  // Kills src/cli/format.ts:131 `+json`/`+xml` types dropped from the textual ones, :155
  // `type === ""` dropped, :158 `{ stream: truncated }` dropped (a cut character turned the
  // preview to hex), and :164 the 256-byte cap of a hex preview dropped.
  const preview = (headers: [string, string][], body: Uint8Array, limit = 1024) =>
    previewBody(entry("https://a.example/", { headers, body }), limit);
  const text = new TextEncoder().encode('{"a":1}');
  equal(preview([["content-type", "application/ld+json"]], text).encoding, "utf-8");
  equal(preview([], text).encoding, "utf-8");
  const cut = preview([], new TextEncoder().encode("aé"), 2);
  deepEqual([cut.encoding, cut.text, cut.truncated], ["utf-8", "a", true]);
  const binary = preview([["content-type", "image/png"]], new Uint8Array(2000));
  deepEqual([binary.encoding, binary.text.split(" ").length, binary.truncated], ["hex", 256, true]);
});

Deno.test("cli formats: a progress line without a total, and one past its total", () => {
  // Kills src/cli/format.ts:180 `total <= 0` -> `< 0`, and :181 `Math.min(1, …)` dropped.
  equal(progressLine(5, 0, "entries scanned", 80), "\r\x1b[K5 entries scanned");
  match(progressLine(12, 10, "entries scanned", 80), /\[#+\] 100% {2}12 \/ 10 entries scanned$/);
});

Deno.test({
  name: "cli: a mongodb:// cache URL names its database in the path and its collection as ?collection=",
  // Kills src/cli/open.ts:79 the database from the path dropped, :80 the collection dropped, and
  // :150 `params.delete(name)` dropped (the driver was handed the CLI's own parameter).
  ignore: mongo.skip !== undefined,
  fn: withMongo(async (client, name, collection) => {
    const backend = new MongoDBBackend({ client, db: TEST_DB, collection: name });
    for (const stored of three()) await store(backend, stored);
    await backend.close();
    const url = new URL(mongo.url!);
    url.pathname = `/${TEST_DB}`;
    url.searchParams.set("collection", name);
    const stats = await cli([url.href, "stats", "--json"]);
    equal(stats.code, EXIT_OK, stats.stderr);
    equal(JSON.parse(stats.stdout).entries, 3);
    equal(await collection.countDocuments(), 3);
  }),
});
