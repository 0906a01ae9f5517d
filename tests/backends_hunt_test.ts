/**
 * Storage semantics of the backends: listings bounded by the timeout, and options that the
 * server or the driver would refuse at every request refused at construction instead.
 */
import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { Binary, MongoClient } from "mongodb";
import { CachedSession } from "../mod.ts";
import { MongoDBBackend, MongoDBStorage, type MongoRecord } from "../backends/mongodb.ts";
import { RedisBackend } from "../backends/redis.ts";
import { serviceUrl } from "./_services.ts";
import { silencingProxy } from "./_servers.ts";
import { within } from "./_fixtures.ts";

const mongo = serviceUrl("MONGODB_URL");
const TEST_DB = "http_cache_test";

// Was: keys() read its cursor outside the per-call deadline, so over a client of the user's (no
// socket timeout) a connection gone silent held the listing, and the POST whose invalidation
// made it, for ever.
Deno.test({
  name:
    "mongodb: a listing over a given client whose connection goes silent settles within the timeout, as a POST does",
  ignore: mongo.skip !== undefined,
  async fn() {
    const proxy = await silencingProxy(mongo.url!);
    // (Connected first: on a loaded machine a first connect may take longer than the timeout.)
    const client = await new MongoClient(`mongodb://127.0.0.1:${proxy.port}/?directConnection=true`)
      .connect();
    const collection = `silent_${crypto.randomUUID().slice(0, 8)}`;
    const timeout = 300;
    const backend = new MongoDBBackend({ client, db: TEST_DB, collection, timeout });
    const errors: string[] = [];
    const session = new CachedSession({
      backend,
      fetch: () => Promise.resolve(new Response("v", { headers: { "cache-control": "max-age=60" } })),
      onError: (error) => void errors.push(String(error)),
    });
    try {
      await (await session.fetch("http://127.0.0.1:9/a")).text();
      equal(await backend.count(), 1);
      proxy.silence();
      // The POST's invalidation lists the URL's keys on the silent connection: it fails, reported.
      const posted = await within(5000, session.fetch("http://127.0.0.1:9/a", { method: "POST", body: "x" }));
      equal(await posted.text(), "v");
      ok(errors.some((error) => /Cannot list mongodb storage/.test(error)), `errors: ${errors}`);
      // The next listing is answered on a new connection; the entry the failed delete left is in it.
      equal((await within(5000, Array.fromAsync(backend.storage.keys()))).length, 1);
    } finally {
      await session.close();
      await client.db(TEST_DB).collection(collection).drop().catch(() => {});
      await client.close(true);
      await proxy.close();
    }
  },
});

// The listing above is now read a page at a time: every key is still listed, once, past a page.
Deno.test({
  name: "mongodb: keys past one page (1,000) are each listed once, with a prefix and without, live ones only",
  ignore: mongo.skip !== undefined,
  async fn() {
    const client = await new MongoClient(mongo.url!).connect();
    const records = client.db(TEST_DB).collection<MongoRecord>(`pages_${crypto.randomUUID().slice(0, 8)}`);
    const storage = new MongoDBStorage({ collection: records });
    try {
      const keys = Array.from({ length: 2_345 }, (_, i) => `${i % 2 === 0 ? "a" : "b"}${i}`);
      const value = new Binary(new Uint8Array([1]));
      await records.insertMany(keys.map((_id) => ({ _id, value, deleteAt: null })));
      await records.insertOne({ _id: "a-gone", value, deleteAt: new Date(Date.now() - 1000) });
      const all = await Array.fromAsync(storage.keys());
      deepEqual(all.sort(), [...keys].sort());
      const a = await Array.fromAsync(storage.keys("a"));
      deepEqual(a.sort(), keys.filter((key) => key.startsWith("a")).sort());
      const b10 = await Array.fromAsync(storage.keys("b10"));
      deepEqual(b10.sort(), keys.filter((key) => key.startsWith("b10")).sort());
    } finally {
      await records.drop().catch(() => {});
      await storage.close();
      await client.close();
    }
  },
});

// Was: a path other than a database number was taken, and the client refused it ("Invalid
// pathname") at every connection: every request failed instead of the construction.
Deno.test("redis: a url whose path is no database number fails at construction, naming url", async () => {
  for (
    const url of ["redis://127.0.0.1:6379/cache", "redis://127.0.0.1:6379/1/2", "redis://127.0.0.1:6379/-1"]
  ) {
    throws(() => new RedisBackend({ url }), {
      name: "TypeError",
      message:
        /^Cannot create RedisBackend: url must end at the host or at a database number .*: received redis:/,
    }, url);
  }
  for (const url of ["redis://127.0.0.1:6379", "redis://127.0.0.1:6379/", "redis://u:p@127.0.0.1:6379/3"]) {
    await new RedisBackend({ url }).close();
  }
  // (The password stays out of the message.)
  throws(() => new RedisBackend({ url: "redis://u:secret@127.0.0.1:6379/x" }), (error: Error) => {
    ok(!error.message.includes("secret"), error.message);
    return true;
  });
});

// Was: a client or db beside a Collection was ignored without a word (a url beside it is refused).
Deno.test("mongodb: a client or db beside a given Collection fails at construction, naming it", async () => {
  const client = new MongoClient("mongodb://127.0.0.1:9");
  try {
    const collection = client.db(TEST_DB).collection<MongoRecord>("never_used");
    throws(() => new MongoDBBackend({ collection, db: "other" }), {
      name: "TypeError",
      message: "Cannot create MongoDBBackend: give either db or a Collection as collection, not both",
    });
    throws(() => new MongoDBBackend({ collection, client }), {
      name: "TypeError",
      message: "Cannot create MongoDBBackend: give either client or a Collection as collection, not both",
    });
    await new MongoDBBackend({ collection }).close();
    await new MongoDBBackend({ client, db: "other", collection: "named" }).close();
  } finally {
    await client.close();
  }
});

// Was: a collection name that makes `<db>.<collection>` longer than MongoDB's 255 bytes was taken,
// and the server refused every write and read of it.
Deno.test("mongodb: a collection whose namespace passes 255 bytes fails at construction, naming collection", async () => {
  const at = (db: string) => 255 - db.length - 1;
  await new MongoDBBackend({ collection: "c".repeat(at("http_cache")) }).close();
  await new MongoDBBackend({ db: "d".repeat(63), collection: "c".repeat(at("d".repeat(63))) }).close();
  throws(() => new MongoDBBackend({ collection: "c".repeat(at("http_cache") + 1) }), {
    name: "TypeError",
    message: /^Cannot create MongoDBBackend: collection must leave "<db>\.<collection>" within 255 bytes: /,
  });
  throws(() => new MongoDBBackend({ db: "d".repeat(63), collection: "c".repeat(at("d".repeat(63)) + 1) }), {
    name: "TypeError",
    message: /collection must leave .* within 255 bytes: .*\(256 bytes with db "d{63}"\)$/,
  });
  // Bytes, not characters.
  throws(() => new MongoDBBackend({ collection: "é".repeat(130) }), /within 255 bytes/);
});
