/**
 * Backends, a second hunt: clients, databases and collections handed to a backend as their users
 * set them up (reply mappings, BSON options), and what close() waits for.
 */
import { Buffer } from "node:buffer";
import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { createClient, RESP_TYPES } from "@redis/client";
import { MongoClient } from "mongodb";
import { openKv } from "@deno/kv";
import { CachedSession } from "../mod.ts";
import type { CacheBackend } from "../backends/base.ts";
import { DenoKVBackend } from "../backends/deno_kv.ts";
import { MongoDBBackend } from "../backends/mongodb.ts";
import { RedisBackend } from "../backends/redis.ts";
import { serviceUrl } from "./_services.ts";
import { freePort } from "./_servers.ts";
import { armedTimers, within } from "./_fixtures.ts";

const redis = serviceUrl("REDIS_URL");
const mongo = serviceUrl("MONGODB_URL");
const TEST_DB = "http_cache_test";
const ORIGIN = "http://127.0.0.1:9";

/**
 * A session over `backend` whose fetch answers each request fresh for a minute, counted, and
 * whose failures are noted.
 */
function countedSession(backend: CacheBackend) {
  let calls = 0;
  const errors: unknown[] = [];
  const session = new CachedSession({
    backend,
    fetch: () => {
      calls++;
      return Promise.resolve(new Response(`v${calls}`, { headers: { "cache-control": "max-age=60" } }));
    },
    onError: (e) => void errors.push(e),
  });
  return { session, errors, calls: () => calls };
}

// Was: the commands other than GET took the client's own reply mapping; one that hands out bulk
// strings as Buffers gave SCAN a Buffer cursor, never "0": clear() scanned for ever, and every
// listing (count(), keys(), a POST's invalidation) failed on Buffers taken for keys.
for (const how of ["commandOptions", "withTypeMapping"] as const) {
  Deno.test({
    name:
      `redis: a given client that maps bulk strings to Buffers (${how}) lists, counts, invalidates and clears`,
    ignore: redis.skip !== undefined,
    async fn() {
      const mapping = { [RESP_TYPES.BLOB_STRING]: Buffer };
      const connected = how === "commandOptions"
        ? await createClient({ url: redis.url!, commandOptions: { typeMapping: mapping } }).connect()
        : await createClient({ url: redis.url! }).connect();
      const client = how === "commandOptions" ? connected : connected.withTypeMapping(mapping);
      const backend = new RedisBackend({ client, prefix: `http-cache-test:${crypto.randomUUID()}:v1:` });
      const { session, errors } = countedSession(backend);
      try {
        for (const path of ["/a", "/b"]) await (await session.fetch(`${ORIGIN}${path}`)).text();
        equal(await within(5000, backend.count()), 2);
        deepEqual(
          (await within(5000, Array.fromAsync(backend.keys()))).every((key) => typeof key === "string"),
          true,
        );
        // The POST's invalidation lists /a's keys: the next GET of /a is a miss.
        await (await within(5000, session.fetch(`${ORIGIN}/a`, { method: "POST", body: "x" }))).text();
        const again = await session.fetch(`${ORIGIN}/a`);
        deepEqual([again.fromCache, await again.text()], [false, "v4"]);
        await within(5000, backend.clear());
        equal(await within(5000, backend.count()), 0);
        deepEqual(errors, []);
      } finally {
        await session.close();
        connected.destroy();
      }
    },
  });
}

// Was: a record's value was taken for BSON Binary only; a client, database or collection set up
// with promoteBuffers (Buffers for Binary) or raw made every hit a "corrupt" record, deleted.
for (const setup of [{ promoteBuffers: true }, { raw: true }] as const) {
  Deno.test({
    name: `mongodb: a given client set up with ${JSON.stringify(setup)} serves hits and lists keys`,
    ignore: mongo.skip !== undefined,
    async fn() {
      const client = await new MongoClient(mongo.url!, setup).connect();
      const collection = `bson_${crypto.randomUUID().slice(0, 8)}`;
      const backend = new MongoDBBackend({ client, db: TEST_DB, collection });
      const { session, errors, calls } = countedSession(backend);
      try {
        await (await session.fetch(`${ORIGIN}/a`)).text();
        const hit = await session.fetch(`${ORIGIN}/a`);
        deepEqual([hit.fromCache, await hit.text()], [true, "v1"]);
        equal(calls(), 1);
        equal(await backend.count(), 1);
        deepEqual(errors, []);
      } finally {
        await session.close();
        await client.db(TEST_DB).collection(collection).drop().catch(() => {});
        await client.close();
      }
    },
  });
}

// Was: close() waited for the connection under way of a client of the user's, which gives up on
// a server that is away after its own server selection time (30 s by default), not `timeout`.
Deno.test("mongodb: close() does not wait for a given client still connecting to a server that is away", async () => {
  const client = new MongoClient(`mongodb://127.0.0.1:${await freePort()}/?directConnection=true`);
  const backend = new MongoDBBackend({ client, db: TEST_DB, timeout: 300 });
  const read = backend.storage.get("k").then(() => "answered", (error) => String(error));
  try {
    await within(5000, backend.close());
    equal(await read, "TimeoutError: Cannot read: no answer from MongoDB within 300 ms");
  } finally {
    await client.close();
  }
});

// Was: a query was let through, and the client ignores it: `?db=2` put the cache in database 0,
// beside the application's keys, without a word.
Deno.test("redis: a url with a query (?db=2) fails at construction, naming url; the database goes in the path", async () => {
  for (
    const url of [
      "redis://127.0.0.1:6379?db=2",
      "redis://u:secret@127.0.0.1:6379/?db=2",
      "rediss://h:6380/1?x",
    ]
  ) {
    throws(() => new RedisBackend({ url }), (error: Error) => {
      ok(error instanceof TypeError, url);
      ok(
        /^Cannot create RedisBackend: url must end at the host or at a database number/.test(error.message),
        url,
      );
      ok(!error.message.includes("secret"), "the password stays out of the message");
      return true;
    });
  }
  await new RedisBackend({ url: "redis://127.0.0.1:6379/2" }).close();
});

// Was: a record kept past the longest timer (about 24.8 days: a year's max-age) was given that
// expireIn, and @deno/kv's in-memory database (Node and Bun without a path) armed its expiry
// timer with it: fired after 1 ms, and again every millisecond, for ever (a fifth of a core; a
// warning each time on Bun).
Deno.test("deno-kv: @deno/kv's in-memory database arms no timer past the longest one for a record kept a year", async () => {
  const kv = await openKv(undefined, { implementation: "in-memory" });
  const backend = new DenoKVBackend({ kv: kv as never });
  const timers = armedTimers();
  const armed = timers.delays;
  try {
    const year = Date.now() + 365 * 86_400_000;
    await backend.storage.set("inline", new Uint8Array([1]), year);
    await backend.storage.set("chunked", new Uint8Array(200_000).fill(2), year);
    await backend.storage.set("hour", new Uint8Array([3]), Date.now() + 3_600_000);
    equal(armed.filter((delay) => delay > 2 ** 31 - 1).length, 0, `delays: ${armed}`);
    // A time a timer holds is still the native expiry.
    ok(armed.some((delay) => delay > 3_000_000 && delay <= 3_600_000), `delays: ${armed}`);
    deepEqual(
      [(await backend.storage.get("inline"))?.length, (await backend.storage.get("chunked"))?.length],
      [1, 200_000],
    );
  } finally {
    timers.restore();
    await backend.close();
    kv.close();
  }
});
