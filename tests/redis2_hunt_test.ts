/**
 * Redis, a second hunt: clients and URLs that the client would refuse, or misread, at every
 * request, refused at construction instead; a URL's password kept out of what is logged;
 * close() during a reconnection; and a given client that ignores sendCommand's options.
 */
import { Buffer } from "node:buffer";
import { deepEqual, equal, notEqual, ok, rejects, throws } from "node:assert/strict";
import { createClient, createClientPool, createCluster, createSentinel, RESP_TYPES } from "@redis/client";
import { inspect } from "node:util";
import { CachedSession } from "../mod.ts";
import { RedisBackend, type RedisClientLike, RedisStorage } from "../backends/redis.ts";
import { eventually, privateRedis, redisServerMissing } from "./_servers.ts";
import { delay, within } from "./_fixtures.ts";
import { serviceUrl } from "./_services.ts";

const redis = serviceUrl("REDIS_URL");
const missing = await redisServerMissing();
if (missing !== undefined) console.log(`redis2: the private server tests are skipped: ${missing}`);

// Was: a cluster (createCluster()) or a sentinel (createSentinel()) has a sendCommand, so it was
// taken; theirs take a key and isReadonly before the command, and every request failed ("Cannot
// read properties of undefined (reading 'forEach')"), a miss reported to onError.
Deno.test("redis: a cluster or a sentinel given as client fails at construction, naming client", () => {
  const others = {
    cluster: createCluster({ rootNodes: [{ url: "redis://127.0.0.1:6379" }] }),
    sentinel: createSentinel({ name: "primary", sentinelRootNodes: [{ host: "127.0.0.1", port: 26379 }] }),
  };
  for (const [kind, client] of Object.entries(others)) {
    throws(() => new RedisBackend({ client: client as never }), (error: Error) => {
      equal(error.name, "TypeError", kind);
      ok(
        /^Cannot create RedisBackend: client must be a @redis\/client client \(createClient\(\)\), not a cluster or a sentinel: its sendCommand takes [34] parameters/
          .test(error.message),
        error.message,
      );
      return true;
    });
  }
  // (Nothing connects at construction: neither is used.)
  for (const client of [createClient(), createClientPool()]) new RedisBackend({ client });
});

// Was: the client decodes the user and password at every connection, and a bare `%` ("pa%ss")
// does not decode: every request failed with "URI malformed", a miss reported to onError.
Deno.test("redis: a url whose password is not percent-encoded fails at construction, naming url, password masked", async () => {
  for (
    const url of ["redis://user:pa%ss@127.0.0.1:6379", "redis://:x%cdy@127.0.0.1:6379/1", "redis://%zz:p@h"]
  ) {
    throws(() => new RedisBackend({ url }), (error: Error) => {
      equal(error.name, "TypeError", url);
      ok(
        /^Cannot create RedisBackend: url must have its user and password percent-encoded \(%25 for %\): received redis:\/\/[^:]*:\*\*\*@/
          .test(error.message),
        error.message,
      );
      ok(!/pa%ss|x%cdy/.test(error.message), error.message);
      return true;
    });
  }
  // (Nothing connects at construction.)
  await new RedisBackend({ url: "redis://user:pa%25ss%40x@127.0.0.1:6379/2" }).close();
});

// Was: the storage kept its URL in a public field, password and all: logging the session or its
// cache (console.log, util.inspect, JSON.stringify, as error reporters do) showed the password.
Deno.test("redis: logging a session over Redis shows no password; storage.url still gives the URL", async () => {
  const url = "redis://user:SECRET-PASSWORD@127.0.0.1:6379/2";
  const session = new CachedSession({ backend: new RedisBackend({ url }) });
  try {
    for (const shown of [inspect(session, { depth: Infinity }), JSON.stringify(session.cache)]) {
      ok(!shown.includes("SECRET"), shown);
    }
    equal((session.cache.storage as RedisStorage).url, url);
  } finally {
    await session.close();
  }
});

// Was: close() took the client whose connection had dropped for the storage's, found it closed,
// and returned while the command after it was still connecting anew: that connection outlived
// close() (on Node it held the process open), up to the timeout.
Deno.test({
  name: "redis: close() during a reconnection returns once that connection attempt has ended",
  ignore: missing !== undefined,
  async fn() {
    const server = await privateRedis();
    const timeout = 300;
    const storage = new RedisStorage({ url: server.url, timeout });
    try {
      await eventually(() => storage.set("key", new Uint8Array([1]), Infinity));
      await server.stop();
      await rejects(storage.get("key")); // the connection drops
      await server.start();
      await server.pause(); // accepts connections, never answers
      let read = "pending";
      const reading = storage.get("key").then(
        () => read = "answered",
        (error: Error) => read = error.message,
      );
      await delay(20);
      await storage.close();
      notEqual(read, "pending", "close() returned while a connection was being made");
      await reading;
    } finally {
      await server.resume();
      await server.stop();
    }
  },
});

/** A client of the interface that drops sendCommand's options, as a logging wrapper may. */
function droppingOptions(client: RedisClientLike): RedisClientLike {
  return {
    get isOpen() {
      return client.isOpen;
    },
    sendCommand: (args) => client.sendCommand(args),
  };
}

// Was: a client that ignores the options answers GET with text, taken for an empty record: every
// hit was a "corrupt" record, deleted, and fetched again from the origin.
Deno.test({
  name: "redis: a given client that drops sendCommand's options fails reads by name, and deletes nothing",
  ignore: redis.skip !== undefined,
  async fn() {
    const client = await createClient({ url: redis.url! }).connect();
    const backend = new RedisBackend({
      client: droppingOptions(client),
      prefix: `http-cache-test:${crypto.randomUUID()}:`,
    });
    const key = (backend.storage as RedisStorage).prefix + "k";
    try {
      await backend.storage.set("k", new Uint8Array([1, 2, 3]), Infinity);
      await rejects(backend.read("k"), /GET answered with a string, not bytes/);
      equal(await client.get(key), "\x01\x02\x03", "the record is kept");
    } finally {
      await client.del(key);
      await backend.close();
      client.destroy();
    }
  },
});

// Was: SCAN's cursor, a Buffer from a client that maps bulk strings so and ignores the options,
// never equalled "0": clear(), every listing and a POST's invalidation scanned for ever.
Deno.test({
  name: "redis: a given client that drops the options and hands out Buffers lists and clears, as text",
  ignore: redis.skip !== undefined,
  async fn() {
    const client = await createClient({
      url: redis.url!,
      commandOptions: { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } },
    })
      .connect();
    const storage = new RedisStorage({
      client: droppingOptions(client),
      prefix: `http-cache-test:${crypto.randomUUID()}:`,
    });
    try {
      for (const key of ["a", "b"]) await storage.set(key, new Uint8Array([1]), Infinity);
      deepEqual((await within(5000, Array.fromAsync(storage.keys()))).sort(), ["a", "b"]);
      await within(5000, storage.clear());
      deepEqual(await within(5000, Array.fromAsync(storage.keys())), []);
    } finally {
      await storage.close();
      client.destroy();
    }
  },
});
