/**
 * What another writer leaves in a storage below the record format (a damaged Deno KV manifest, a
 * Redis key of another type, a MongoDB document without bytes), and a SQLite lock another
 * connection holds: a miss, deleted and reported, or a wait that holds up nothing else; never a
 * failed fetch or scan, nor a process that stops.
 *
 * @module
 */
import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { createClient } from "@redis/client";
import { MongoClient } from "mongodb";
import { DenoKVBackend, DenoKVStorage } from "../backends/deno_kv.ts";
import { SQLiteStorage } from "../backends/sqlite.ts";
import { MongoDBBackend } from "../backends/mongodb.ts";
import { RedisBackend } from "../backends/redis.ts";
import { CachedSession } from "../mod.ts";
import type { CacheBackend } from "../backends/base.ts";
import { openKv, patterned } from "./_fixtures.ts";
import { tempDir } from "./_runtime.ts";
import { serviceUrl } from "./_services.ts";

const dir = tempDir("http_cache_durability_");
let files = 0;

const origin = (body: string) => () =>
  Promise.resolve(new Response(body, { headers: { "cache-control": "max-age=600" } }));

Deno.test("deno-kv: a manifest whose length or chunk count is damaged is corrupt: deleted, never sized into an allocation or a loop", async () => {
  const kv = await openKv(join(dir, `kv_${files++}.kv`));
  const storage = new DenoKVStorage({ kv });
  try {
    const damages: [string, (view: DataView) => void][] = [
      // A flipped high byte of the chunk count: 4,278,190,084 chunks to list, or to delete when
      // the record is replaced (the write then holds the event loop for good and runs out of memory).
      ["the chunk count's high byte", (view) => view.setUint32(16, view.getUint32(16) | 0xff000000)],
      ["a negative length", (view) => view.setFloat64(8, -5)],
      ["a length of a terabyte", (view) => view.setFloat64(8, 1e12)],
      ["a length that needs other chunks", (view) => view.setFloat64(8, view.getFloat64(8) * 3)],
    ];
    for (const [label, damage] of damages) {
      await storage.set("k", patterned(200 * 1024, 1), Infinity);
      const entryKey = [...storage.prefix, "entry", "k"];
      // A copy (on Node, `@deno/kv` hands out a Buffer, whose slice() is a view).
      const manifest = new Uint8Array((await kv.get(entryKey)).value as Uint8Array);
      damage(new DataView(manifest.buffer));
      await kv.set(entryKey, manifest);
      await rejects(storage.get("k"), SyntaxError, label);
      equal((await kv.get(entryKey)).versionstamp, null, `${label}: the manifest was deleted`);
    }
  } finally {
    await storage.close();
    kv.close();
  }
});

Deno.test("inspection: a record that the storage finds corrupt (a Deno KV manifest) is skipped, not thrown", async () => {
  const kv = await openKv(join(dir, `kv_${files++}.kv`));
  const backend = new DenoKVBackend({ kv });
  const s = new CachedSession({ backend, fetch: origin("hello"), onError: () => {} });
  try {
    for (const path of ["a", "b", "c"]) await (await s.fetch(`http://durability.test/${path}`)).text();
    const [first] = await Array.fromAsync(backend.keys());
    await kv.set([...(backend.storage as DenoKVStorage).prefix, "entry", first!], Uint8Array.of(1, 2, 3));
    equal(await backend.count({ valid: true }), 2);
    equal(await backend.count(), 2, "the corrupt manifest was deleted");
  } finally {
    await s.close();
    kv.close();
  }
});

/** A second connection that holds the write lock of a SQLite file, as a long transaction does. */
function holdLock(path: string): { release(): void } {
  const db = new DatabaseSync(path);
  db.exec("BEGIN IMMEDIATE");
  db.exec("CREATE TABLE IF NOT EXISTS other (x)");
  return {
    release() {
      db.exec("COMMIT");
      db.close();
    },
  };
}

Deno.test("sqlite: a lock held by another connection is waited for on a timer, never by holding up the event loop", async () => {
  const path = join(dir, `lock_${files++}.db`);
  const first = new SQLiteStorage({ path, busyTimeout: 2000 });
  await first.set("a", patterned(10, 1), Infinity);
  await first.close();
  const lock = holdLock(path);
  // A process that opens the file now reads at once: opening writes nothing it must wait for.
  const storage = new SQLiteStorage({ path, busyTimeout: 2000 });
  try {
    deepEqual(await storage.get("a"), patterned(10, 1));
    // The lock is released 300 ms from now, by a timer: a write that holds up the event loop for
    // its busyTimeout keeps the timer from running, and fails.
    let timerLate = Infinity;
    const due = Date.now() + 300;
    setTimeout(() => {
      timerLate = Date.now() - due;
      lock.release();
    }, 300);
    await storage.set("b", patterned(10, 2), Infinity);
    // (Held up, the timer runs once the write gives up: 1,700 ms late. A loaded machine may make
    // it some tens of ms late.)
    ok(timerLate < 1000, `the event loop was held up for ${timerLate} ms`);
    deepEqual(await storage.get("b"), patterned(10, 2));
  } finally {
    await storage.close();
  }
});

const redis = serviceUrl("REDIS_URL");
Deno.test({
  name: "redis: a key of another type under the prefix is a miss, is deleted and does not stop a scan",
  ignore: redis.skip !== undefined,
  async fn() {
    const prefix = `durability-${crypto.randomUUID()}:`;
    const client = createClient({ url: redis.url! });
    await client.connect();
    const backend = new RedisBackend({ url: redis.url!, prefix });
    await checkForeign(backend, async (key) => {
      await client.del(prefix + key);
      await client.rPush(prefix + key, ["not a record"]);
    }, async (key) => (await client.exists(prefix + key)) === 1);
    await client.quit();
  },
});

const mongo = serviceUrl("MONGODB_URL");
Deno.test({
  name: "mongodb: a document without BinData is a miss, is deleted and does not stop a scan",
  ignore: mongo.skip !== undefined,
  async fn() {
    const collection = `durability_${crypto.randomUUID().slice(0, 8)}_v1`;
    const client = await new MongoClient(mongo.url!).connect();
    const documents = client.db("http_cache_test").collection<{ _id: string }>(collection);
    for (const value of ["not bytes", undefined]) {
      const backend = new MongoDBBackend({ url: mongo.url!, db: "http_cache_test", collection });
      await checkForeign(backend, async (key) => {
        await documents.replaceOne({ _id: key }, {
          _id: key,
          ...(value === undefined ? {} : { value }),
          deleteAt: null,
        }, { upsert: true });
      }, async (key) => (await documents.findOne({ _id: key })) !== null);
    }
    await documents.drop();
    await client.close();
  },
});

/** Stores three responses, puts something that is no record under one key, and reads. */
async function checkForeign(
  backend: CacheBackend,
  damage: (key: string) => Promise<void>,
  present: (key: string) => Promise<boolean>,
): Promise<void> {
  const errors: unknown[] = [];
  const s = new CachedSession({ backend, fetch: origin("hello"), onError: (error) => errors.push(error) });
  try {
    const keys: string[] = [];
    for (const path of ["a", "b", "c"]) {
      const response = await s.fetch(`http://durability.test/${path}`);
      await response.text();
      keys.push(response.cacheKey!);
    }
    await damage(keys[0]!);
    equal(await backend.count({ valid: true }), 2, "the scan skips it");
    equal(await present(keys[0]!), false, "the scan deleted it");
    await damage(keys[0]!);
    const response = await s.fetch("http://durability.test/a");
    equal(await response.text(), "hello");
    equal(response.fromCache, false);
    equal(errors.length, 1, "the read was reported");
    await backend.clear();
  } finally {
    await s.close();
  }
}
