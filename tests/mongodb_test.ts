import { deepEqual, equal, ok, rejects, throws } from "node:assert/strict";
import { Binary, type Collection, MongoClient } from "mongodb";
import type { CacheBackend } from "../backends/base.ts";
import {
  DEFAULT_MONGODB_MAX_ENTRY_SIZE,
  MongoDBBackend,
  MongoDBStorage,
  type MongoRecord,
} from "../backends/mongodb.ts";
import { runStorageSuite } from "./_suite/storage_suite.ts";
import { serviceUrl } from "./_services.ts";
import { silencingProxy } from "./_servers.ts";

const { url, skip } = serviceUrl("MONGODB_URL");
const collections = new WeakMap<CacheBackend, string>();

function open(collection = `responses_${crypto.randomUUID().slice(0, 8)}_v1`): Promise<CacheBackend> {
  const backend = new MongoDBBackend({
    ...(url === undefined ? {} : { url }),
    db: "http_cache_test",
    collection,
  });
  collections.set(backend, collection);
  return Promise.resolve(backend);
}

runStorageSuite({
  name: "mongodb",
  skip,
  maxEntrySize: DEFAULT_MONGODB_MAX_ENTRY_SIZE,
  open: () => open(),
  reopen: (previous) => open(collections.get(previous)),
});

/** Runs `test` with a storage over an injected collection of a client the test owns. */
function withCollection(
  test: (storage: MongoDBStorage, collection: Collection<MongoRecord>) => Promise<void>,
): () => Promise<void> {
  return async () => {
    const client = await new MongoClient(url!).connect();
    const collection = client.db("http_cache_test").collection<MongoRecord>(`quirks_${crypto.randomUUID()}`);
    const storage = new MongoDBStorage({ collection });
    try {
      await test(storage, collection);
    } finally {
      await collection.drop().catch(() => {});
      await storage.close();
      await client.close();
    }
  };
}

Deno.test({
  name: "mongodb: records are BSON binary with a TTL index on deleteAt (null for never)",
  ignore: skip !== undefined,
  fn: withCollection(async (storage, collection) => {
    const deleteAt = Date.now() + 3_600_000;
    await storage.set("expiring", new Uint8Array([0, 255, 1]), deleteAt);
    await storage.set("forever", new Uint8Array([2]), Infinity);
    const expiring = await collection.findOne({ _id: "expiring" });
    deepEqual([...expiring!.value.value()], [0, 255, 1]);
    equal(expiring!.deleteAt?.getTime(), deleteAt);
    equal((await collection.findOne({ _id: "forever" }))!.deleteAt, null);
    const ttl = (await collection.indexes()).find((index) => index.name === "deleteAt_ttl");
    deepEqual(ttl?.key, { deleteAt: 1 });
    equal(ttl?.expireAfterSeconds, 0);
  }),
});

Deno.test({
  name: "mongodb: a document past deleteAt is a miss and is not listed, before the TTL monitor runs",
  ignore: skip !== undefined,
  fn: withCollection(async (storage, collection) => {
    const past = new Date(Date.now() - 1000);
    await collection.insertOne({ _id: "gone", value: new Binary(new Uint8Array([1])), deleteAt: past });
    equal(await storage.get("gone"), undefined);
    const keys: string[] = [];
    for await (const key of storage.keys()) keys.push(key);
    deepEqual(keys, []);
  }),
});

Deno.test({
  name: "mongodb: an injected collection is used as it is, and close() leaves its client open",
  ignore: skip !== undefined,
  fn: withCollection(async (storage, collection) => {
    await storage.set("key", new Uint8Array([7]), Infinity);
    await storage.close();
    equal(await collection.countDocuments(), 1, "the client still answers");
  }),
});

Deno.test("mongodb: options are validated at construction, naming the option", () => {
  throws(() => new MongoDBBackend({ maxEntrySize: DEFAULT_MONGODB_MAX_ENTRY_SIZE + 1 }), {
    name: "RangeError",
    message: /maxEntrySize must be at most 16711680 \(a document holds 16 MiB\)/,
  });
  throws(() => new MongoDBBackend({ timeout: 0 }), /timeout must be a positive integer: received 0/);
  throws(() => new MongoDBBackend({ url: "redis://127.0.0.1" }), /url must start with mongodb:\/\//);
  // Names MongoDB refuses would fail every request (each a miss) rather than the constructor.
  for (const db of ["", "a.b", "a b", "a/b", "a$b", "x".repeat(64)]) {
    throws(() => new MongoDBBackend({ db }), {
      name: "TypeError",
      message: /db must be 1 to 63 bytes, without/,
    });
  }
  for (const collection of ["", "a$b", "system.cache"]) {
    throws(() => new MongoDBBackend({ collection }), /collection must be a name without \$ or NUL/);
  }
  throws(
    () => new MongoDBBackend({ url: "mongodb://127.0.0.1", client: new MongoClient("mongodb://127.0.0.1") }),
    /give either url or client/,
  );
});

Deno.test("mongodb: an unreachable server fails within the timeout, and the cache never connects early", async () => {
  const storage = new MongoDBStorage({ url: "mongodb://127.0.0.1:9/?directConnection=true", timeout: 200 });
  const start = performance.now();
  let failed = false;
  try {
    await storage.get("key");
  } catch {
    failed = true;
  } finally {
    await storage.close();
  }
  ok(failed, "the read rejects");
  // Generous slack: this guards against hanging, not against a slow machine.
  ok(performance.now() - start < 3000, `rejected after ${performance.now() - start} ms`);
});

Deno.test({
  name: "mongodb: when its connections go silent, each call settles within the timeout and at most one fails",
  ignore: skip !== undefined,
  async fn() {
    const proxy = await silencingProxy(url!);
    const timeout = 300;
    const storage = new MongoDBStorage({
      // The driver's monitoring connection checks the server every 500 ms (10 s by default).
      url: `mongodb://127.0.0.1:${proxy.port}/?directConnection=true&heartbeatFrequencyMS=500`,
      db: "http_cache_test",
      collection: `silent_${crypto.randomUUID().slice(0, 8)}`,
      timeout,
    });
    try {
      // (The first connect may take longer than the timeout on a loaded machine: tried again.)
      for (let attempt = 1;; attempt++) {
        const stored = await storage.set("key", new Uint8Array([1, 2]), Infinity).then(
          () => true,
          () => false,
        );
        if (stored || attempt === 5) break;
      }
      deepEqual(await storage.get("key"), new Uint8Array([1, 2]));
      proxy.silence();
      // Each call settles within the timeout. One may fail: the first, unless the driver retries
      // it on a new connection in time, or else the one its monitoring connection (silent too)
      // fails when it next checks the server. Calls after that are answered on new connections.
      let failed = 0;
      for (const start = performance.now(); performance.now() - start < 2000;) {
        const call = performance.now();
        const value = await storage.get("key").catch(() => failed++);
        // Generous slack: this guards against hanging, not against a slow machine.
        ok(performance.now() - call < timeout + 1500, `settled after ${performance.now() - call} ms`);
        if (typeof value !== "number") deepEqual(value, new Uint8Array([1, 2]));
      }
      ok(failed <= 1, `${failed} calls failed`);
      deepEqual(await storage.get("key"), new Uint8Array([1, 2]), "answered on a new connection");
      await storage.clear();
    } finally {
      await storage.close();
      await proxy.close();
    }
  },
});

Deno.test("mongodb: a client of the user's that fails to connect is not closed by the cache", async () => {
  // A real client, to a port where nothing listens: it cannot connect.
  const client = new MongoClient("mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=200&connectTimeoutMS=200");
  let closed = 0;
  const close = client.close.bind(client);
  client.close = (...args: Parameters<MongoClient["close"]>) => (closed++, close(...args));
  const storage = new MongoDBStorage({ client, timeout: 2000 });
  try {
    await rejects(storage.get("key"));
    await storage.close();
    equal(closed, 0, "the user's client is the user's to close");
  } finally {
    await close();
  }
});
