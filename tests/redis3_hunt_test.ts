/**
 * Redis, a third hunt (helper-202): clients given to the backend that it cannot drive, refused at
 * construction; the documented way to share a client; clear() and keys that are not UTF-8; and a
 * RESP3 client, which nothing else runs.
 */
import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";
import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { createClient, createClientPool, RESP_TYPES } from "@redis/client";
import { RedisBackend, RedisStorage } from "../backends/redis.ts";
import { serviceUrl } from "./_services.ts";
import { eventually, privateRedis, redisServerMissing } from "./_servers.ts";

const redis = serviceUrl("REDIS_URL");

// Was: a legacy-mode client (`client.legacy()`, node-redis's callback API for code written for v3)
// has a sendCommand, so it was taken. Its sendCommand returns nothing and takes every argument but
// a last function for the command: every request failed ("Cannot read properties of undefined
// (reading 'then')"), and each command sent the options object as an argument, which the client
// could not encode and emitted as an 'error' event: without a listener, the first request ended
// the process.
Deno.test("redis3: a legacy-mode client fails at construction, naming client; real clients are taken", () => {
  const client = createClient();
  throws(() => new RedisBackend({ client: client.legacy() as never }), (error: Error) => {
    equal(error.name, "TypeError");
    ok(
      /^Cannot create RedisBackend: client must be a @redis\/client client \(createClient\(\)\), not a legacy-mode one \(client\.legacy\(\)\)/
        .test(error.message),
      error.message,
    );
    return true;
  });
  // (Nothing connects at construction: none of these is used.)
  const binary = client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
  for (const given of [client, binary, client.duplicate(), createClientPool()]) {
    new RedisBackend({ client: given });
  }
});

// Was: the JSDoc example that shares a client connected it without an 'error' listener: node-redis
// emits 'error' when the connection drops, and with no listener that ends the process, so an
// application written after it died at the first Redis restart.
Deno.test("redis3: each documented client of one's own is given an error listener before it connects", () => {
  const source = readFileSync(new URL("../backends/redis.ts", import.meta.url), "utf8");
  const examples = [...source.matchAll(/```ts[^\n]*\n([\s\S]*?)```/g)].map((match) => match[1]!);
  const sharing = examples.filter((example) => example.includes("createClient("));
  ok(sharing.length > 0, "no example creates a client");
  for (const example of sharing) {
    const listens = example.search(/\.on\("error",/);
    ok(listens >= 0, `an example connects a client with no error listener:\n${example}`);
    ok(listens < example.search(/\.connect\(\)/), `the listener is added after connect():\n${example}`);
  }
});

// Was: clear() listed the keys as text and deleted them by that text: a key under the prefix whose
// name is not UTF-8 (another program's) was read as another name (U+FFFD for each bad byte), so it
// stayed, and every count() went on counting it.
Deno.test({
  name: "redis3: clear() deletes a key under the prefix whose name is not UTF-8",
  ignore: redis.skip !== undefined,
  async fn() {
    const raw = await createClient({ url: redis.url! }).connect();
    raw.on("error", () => {});
    const prefix = `http-cache-test:${crypto.randomUUID()}:`;
    const foreign = Buffer.concat([Buffer.from(prefix), Buffer.from([0xff, 0xfe, 0x41])]);
    const backend = new RedisBackend({ url: redis.url!, prefix });
    try {
      await raw.sendCommand(["SET", foreign, "x"]);
      await backend.storage.set("mine", new Uint8Array([1]), Infinity);
      await backend.clear();
      equal(await raw.sendCommand(["EXISTS", foreign]), 0, "the foreign key stayed");
      equal(await backend.count(), 0);
    } finally {
      await raw.sendCommand(["UNLINK", foreign]);
      await backend.close();
      raw.destroy();
    }
  },
});

// Pinned: no other test drives a RESP3 client (`RESP: 3`), whose replies are typed otherwise.
Deno.test({
  name: "redis3: a RESP3 client reads bytes, lists and clears as a RESP2 one does",
  ignore: redis.skip !== undefined,
  async fn() {
    const client = await createClient({ url: redis.url!, RESP: 3 }).connect();
    client.on("error", () => {});
    const storage = new RedisStorage({ client, prefix: `http-cache-test:${crypto.randomUUID()}:` });
    try {
      const bytes = new Uint8Array(256).map((_, i) => i);
      await storage.set("a", bytes, Date.now() + 60_000);
      await storage.set("b", bytes.subarray(0, 1), Infinity);
      deepEqual(await storage.get("a"), bytes);
      equal(await storage.get("missing"), undefined);
      deepEqual((await Array.fromAsync(storage.keys())).sort(), ["a", "b"]);
      await storage.clear();
      deepEqual(await Array.fromAsync(storage.keys()), []);
    } finally {
      await storage.close();
      client.destroy();
    }
  },
});

const missing = await redisServerMissing();
if (missing !== undefined) console.log(`redis3: the private server test is skipped: ${missing}`);

// Was: a second close() found nothing left to close (the first had taken the connection) and
// returned at once, while the first still waited for the connection's last replies: after it, the
// connection was still open (on Node it held the process open), up to the timeout.
Deno.test({
  name: "redis3: a second close() returns once the first one has closed the connection",
  ignore: missing !== undefined,
  async fn() {
    const server = await privateRedis();
    const storage = new RedisStorage({ url: server.url, timeout: 300 });
    try {
      await eventually(() => storage.set("key", new Uint8Array([1]), Infinity));
      await server.pause(); // connected, never answers: close() waits for the pending read
      const reading = storage.get("key").catch(() => undefined);
      let closed = false;
      const first = storage.close().then(() => closed = true);
      await storage.close();
      ok(closed, "the second close() returned while the first was closing the connection");
      await first;
      await reading;
    } finally {
      await server.resume();
      await server.stop();
    }
  },
});
