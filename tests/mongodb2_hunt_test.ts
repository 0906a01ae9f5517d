/**
 * The MongoDB backend, a second hunt: the TTL index over a connection gone silent, a client its
 * user closed, deletes of many long keys, and keys with characters special to MongoDB or to
 * regular expressions.
 */
import { deepEqual, equal, ok, rejects, throws } from "node:assert/strict";
import { Binary, MongoClient } from "mongodb";
import { MongoDBBackend, MongoDBStorage, type MongoRecord } from "../backends/mongodb.ts";
import { serviceUrl } from "./_services.ts";
import { silencingProxy } from "./_servers.ts";

const mongo = serviceUrl("MONGODB_URL");
const TEST_DB = "http_cache_test";

/** A fresh collection name in the tests' database. */
function collectionName(): string {
  return `mongodb2_${crypto.randomUUID().slice(0, 8)}`;
}

/** Drops a collection through a client of the test's own. */
async function drop(name: string): Promise<void> {
  const client = await new MongoClient(mongo.url!).connect();
  try {
    await client.db(TEST_DB).collection(name).drop().catch(() => {});
  } finally {
    await client.close();
  }
}

// Was: the TTL index was asked for once per storage, and the promise kept even when the write
// waiting on it timed out. Over a client of the user's (no socket timeout) whose connection went
// silent, every later write waited on that answer and timed out (about 40 s with the driver's
// defaults, until its monitor gave up on the server), while reads went on on new connections.
Deno.test({
  name: "mongodb: after a write times out on a silent connection of a given client, the next write is stored",
  ignore: mongo.skip !== undefined,
  async fn() {
    const proxy = await silencingProxy(mongo.url!);
    // (Connected first: on a loaded machine a first connect may take longer than the timeout.)
    const client = await new MongoClient(`mongodb://127.0.0.1:${proxy.port}/?directConnection=true`)
      .connect();
    const collection = collectionName();
    const storage = new MongoDBStorage({ client, db: TEST_DB, collection, timeout: 300 });
    try {
      equal(await storage.get("k"), undefined, "the pool holds a connection");
      proxy.silence();
      // The index is asked for on that connection, which never answers.
      await rejects(storage.set("k", new Uint8Array([1]), Infinity), { name: "TimeoutError" });
      const errors: string[] = [];
      for (const start = performance.now(); performance.now() - start < 3000;) {
        const stored = await storage.set("k", new Uint8Array([2]), Infinity).then(() => true, (error) => {
          errors.push(String(error));
          return false;
        });
        if (stored) break;
      }
      deepEqual(await storage.get("k"), new Uint8Array([2]), `writes failed: ${errors.join("; ")}`);
      ok(errors.length <= 1, `writes failed: ${errors.join("; ")}`);
    } finally {
      await storage.close();
      await client.close(true);
      await proxy.close();
      await drop(collection);
    }
  },
});

// Was: the storage connected a given client itself, which opens again one its user closed (the
// driver refuses to run an operation on it): a write still pending at the user's shutdown
// reopened the client, and its connections then held the process open.
Deno.test({
  name: "mongodb: a given client its user closed is not opened again by the storage",
  ignore: mongo.skip !== undefined,
  async fn() {
    const client = await new MongoClient(mongo.url!).connect();
    const collection = collectionName();
    const storage = new MongoDBStorage({ client, db: TEST_DB, collection });
    try {
      await client.close();
      await rejects(storage.set("k", new Uint8Array([1]), Infinity), { name: "MongoNotConnectedError" });
      await rejects(storage.get("k"), { name: "MongoNotConnectedError" });
      await rejects(
        client.db("admin").command({ ping: 1 }),
        { name: "MongoNotConnectedError" },
        "still closed",
      );
    } finally {
      await storage.close();
      await client.close();
      await drop(collection);
    }
  },
});

// Was: a delete sent up to 1,000 keys in one command, whatever their length: a thousand keys of
// 20,000 characters (a `keyFn`'s holding a long URL) made a command over the 16 MiB MongoDB
// takes, and the driver failed it whole ("The value of "offset" is out of range").
Deno.test({
  name: "mongodb: a delete of a thousand 20,000-character keys deletes them all",
  ignore: mongo.skip !== undefined,
  async fn() {
    const client = await new MongoClient(mongo.url!).connect();
    const records = client.db(TEST_DB).collection<MongoRecord>(collectionName());
    // (20 MB of keys: a stand-in server on a busy machine may take more than the default 2 s.)
    const storage = new MongoDBStorage({ collection: records, timeout: 20_000 });
    try {
      const keys = Array.from({ length: 1000 }, (_, i) => `${i}`.padEnd(20_000, "x"));
      await records.insertMany(
        keys.map((_id) => ({ _id, value: new Binary(new Uint8Array([1])), deleteAt: null })),
      );
      await storage.set("kept", new Uint8Array([1]), Infinity);
      await storage.delete(keys);
      deepEqual(await Array.fromAsync(storage.keys()), ["kept"]);
    } finally {
      await storage.close();
      await records.drop().catch(() => {});
      await client.close();
    }
  },
});

// Keys are matched by range, never by a pattern: characters special to MongoDB queries or to
// regular expressions select nothing more, nor less, in a listing by prefix or in a delete.
Deno.test({
  name: "mongodb: keys with $ . \\ * ( [ ^ are listed by prefix and deleted as written",
  ignore: mongo.skip !== undefined,
  async fn() {
    const client = await new MongoClient(mongo.url!).connect();
    const records = client.db(TEST_DB).collection<MongoRecord>(collectionName());
    const storage = new MongoDBStorage({ collection: records });
    try {
      const keys = ["a$b", "a.b", "a\\b", "a*b", "a(b", "a[b", "a^b", "$", ".", "a", "ab", "a~", "b.*"];
      for (const key of keys) await storage.set(key, new Uint8Array([1]), Infinity);
      for (const prefix of ["a", "a$", "a.", "a\\", "a*", "a(", "a[", "a^", "$", ".", ".*", "b.*", "^a"]) {
        const listed = (await Array.fromAsync(storage.keys(prefix))).sort();
        deepEqual(listed, keys.filter((key) => key.startsWith(prefix)).sort(), `prefix ${prefix}`);
      }
      await storage.delete(["a$b", "a.b", "a\\b", "a*b", "a(b", ".*", "^a", "a.", "[a]"]);
      deepEqual((await Array.fromAsync(storage.keys())).sort(), [
        "$",
        ".",
        "a",
        "a[b",
        "a^b",
        "ab",
        "a~",
        "b.*",
      ]);
    } finally {
      await storage.close();
      await records.drop().catch(() => {});
      await client.close();
    }
  },
});

// Was: a collection name that starts with "." or holds ".system." was taken, and MongoDB refuses
// both at the first request ("Collection names cannot start with '.'", "Invalid namespace"; see
// its documented restrictions and SERVER-114904): every request was then a miss, and an error.
Deno.test("mongodb: a collection name starting with . or holding .system. fails at construction, naming it", async () => {
  for (const collection of [".cache", ".", "http.system.cache", "a.system."]) {
    throws(() => new MongoDBBackend({ collection }), {
      name: "TypeError",
      message:
        /^Cannot create MongoDBBackend: collection must be a name without \$ or NUL, not starting with/,
    }, collection);
  }
  // A dot elsewhere, "system" without the dots around it, and a trailing dot are names MongoDB takes.
  for (const collection of ["cache.v1", "cache.", "systems", "a.systemb", "my_system.x"]) {
    await new MongoDBBackend({ collection }).close();
  }
});
