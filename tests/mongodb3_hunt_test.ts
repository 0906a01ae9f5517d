/**
 * The MongoDB backend, a third hunt: a TTL index the server refuses to create, and records within
 * `maxEntrySize` whose key makes their document pass the 16 MiB MongoDB holds.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { BSON, type Collection, MongoClient } from "mongodb";
import { DEFAULT_MONGODB_MAX_ENTRY_SIZE, MongoDBStorage, type MongoRecord } from "../backends/mongodb.ts";
import { serviceUrl } from "./_services.ts";

const mongo = serviceUrl("MONGODB_URL");
const TEST_DB = "http_cache_test";

/** Runs `test` over a fresh collection of a client the test owns, dropped after. */
async function withCollection(
  test: (records: Collection<MongoRecord>, name: string) => Promise<void>,
): Promise<void> {
  const client = await new MongoClient(mongo.url!).connect();
  const name = `mongodb3_${crypto.randomUUID().slice(0, 8)}`;
  const records = client.db(TEST_DB).collection<MongoRecord>(name);
  try {
    await test(records, name);
  } finally {
    await records.drop().catch(() => {});
    await client.close();
  }
}

// Was: the TTL index was asked for before every write until it was made, and a refusal failed the
// write: where the collection already held an index named `deleteAt_ttl` on other keys (or, on
// MongoDB, one on `deleteAt` under another name, created by hand as its documentation shows),
// every write failed, and nothing was ever cached. The index only reclaims space: reads check
// `deleteAt` themselves.
Deno.test({
  name: "mongodb: writes are stored where the server refuses the TTL index for a conflicting one",
  ignore: mongo.skip !== undefined,
  fn: () =>
    withCollection(async (records, collection) => {
      await records.createIndex({ deleteAt: 1, _id: 1 }, { name: "deleteAt_ttl" });
      const storage = new MongoDBStorage({ url: mongo.url!, db: TEST_DB, collection });
      try {
        for (const value of [1, 2]) {
          await storage.set("key", new Uint8Array([value]), Date.now() + 60_000);
          deepEqual(await storage.get("key"), new Uint8Array([value]));
        }
      } finally {
        await storage.close();
      }
    }),
});

// Was: a record was measured alone, not with its key: at `maxEntrySize` a 70,000-character key (a
// `keyFn`'s) made a document over the 16 MiB MongoDB holds, which MongoDB refuses (the stand-in
// took it), and a 600,000-character one a command the driver failed to serialise ("offset is out of
// bounds"): a failed write, reported, and counted by the session's circuit breaker, where a record
// too large for the storage is to be refused quietly (the response served, not stored).
Deno.test({
  name:
    "mongodb: a record whose key makes its document pass 16 MiB is refused quietly, the older one deleted",
  ignore: mongo.skip !== undefined,
  fn: () =>
    withCollection(async (records) => {
      const storage = new MongoDBStorage({ collection: records });
      try {
        for (const length of [70_000, 600_000]) {
          const key = "k".repeat(length);
          await storage.set(key, new Uint8Array([1]), Infinity);
          await storage.set(key, new Uint8Array(DEFAULT_MONGODB_MAX_ENTRY_SIZE), Infinity);
          equal(await storage.get(key), undefined, `a ${length}-character key`);
        }
        // The largest record that fits beside its key is still stored.
        const key = "k".repeat(30_000);
        await storage.set(key, new Uint8Array(DEFAULT_MONGODB_MAX_ENTRY_SIZE), Infinity);
        equal((await storage.get(key))?.length, DEFAULT_MONGODB_MAX_ENTRY_SIZE);
        const document = await records.findOne({ _id: key });
        ok(BSON.calculateObjectSize(document!) <= 16 * 1024 * 1024);
      } finally {
        await storage.close();
      }
    }),
});

// Was: a second close(), made while the first waited for the client to close, returned at once,
// the connection still open (Redis's did the same, tests/redis3_hunt_test.ts).
Deno.test({
  name: "mongodb: a second close() returns once the first one has closed the client",
  ignore: mongo.skip !== undefined,
  async fn() {
    const storage = new MongoDBStorage({ url: mongo.url!, db: TEST_DB, collection: "mongodb3_close" });
    await storage.get("key");
    let closed = false;
    const first = storage.close().then(() => closed = true);
    await storage.close();
    ok(closed, "the second close() returned before the first");
    await first;
  },
});
