import { deepEqual, equal, ok, rejects, throws } from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { createClient } from "@redis/client";
import {
  RedisBackend,
  type RedisClientLike,
  type RedisCommandOptions,
  RedisStorage,
} from "../backends/redis.ts";
import type { CacheBackend } from "../backends/base.ts";
import { runStorageSuite } from "./_suite/storage_suite.ts";
import { serviceUrl } from "./_services.ts";
import { eventually, privateRedis, redisServerMissing, silencingProxy } from "./_servers.ts";

const { url, skip } = serviceUrl("REDIS_URL");
const prefixes = new WeakMap<CacheBackend, string>();

function open(prefix = `http-cache-test:${crypto.randomUUID()}:v1:`): Promise<CacheBackend> {
  const backend = new RedisBackend({ ...(url === undefined ? {} : { url }), prefix });
  prefixes.set(backend, prefix);
  return Promise.resolve(backend);
}

runStorageSuite({
  name: "redis",
  skip,
  open: () => open(),
  reopen: (previous) => open(prefixes.get(previous)),
});

type RawClient = { pExpireTime(key: string): Promise<number>; destroy(): void };

/** Runs `test` with a storage under a fresh prefix, and a raw client for checking it. */
function withStorage(
  test: (storage: RedisStorage, raw: RawClient) => Promise<void>,
): () => Promise<void> {
  return async () => {
    const storage = new RedisStorage({
      ...(url === undefined ? {} : { url }),
      prefix: `http-cache-test:${crypto.randomUUID()}:`,
    });
    const raw = await createClient({ url: url! }).connect();
    try {
      await test(storage, raw);
    } finally {
      await storage.clear();
      await storage.close();
      raw.destroy();
    }
  };
}

Deno.test({
  name: "redis: the native expiry is deleteAt (PXAT), and none for Infinity",
  ignore: skip !== undefined,
  fn: withStorage(async (storage, raw) => {
    const deleteAt = Date.now() + 3_600_000.4;
    await storage.set("expiring", new Uint8Array([1]), deleteAt);
    await storage.set("forever", new Uint8Array([2]), Infinity);
    equal(await raw.pExpireTime(storage.prefix + "expiring"), Math.ceil(deleteAt));
    equal(await raw.pExpireTime(storage.prefix + "forever"), -1);
    await storage.set("expiring", new Uint8Array([3]), Infinity);
    equal(await raw.pExpireTime(storage.prefix + "expiring"), -1, "a rewrite replaces the expiry");
  }),
});

Deno.test({
  name: "redis: every byte value round-trips, and the key prefix is a literal, not a glob",
  ignore: skip !== undefined,
  fn: withStorage(async (storage) => {
    const bytes = new Uint8Array(256 * 3).map((_, i) => (i * 7) & 0xff);
    await storage.set("bytes", bytes, Infinity);
    deepEqual(await storage.get("bytes"), bytes);
    for (const key of ["a*", "a?", "a[b]", "a\\", "ab"]) {
      await storage.set(key, bytes.subarray(0, 1), Infinity);
    }
    const found: string[] = [];
    for await (const key of storage.keys("a*")) found.push(key);
    deepEqual(found, ["a*"]);
    found.length = 0;
    for await (const key of storage.keys("a[")) found.push(key);
    deepEqual(found, ["a[b]"]);
  }),
});

Deno.test({
  name: "redis: a record larger than maxEntrySize is refused and replaces the older one",
  ignore: skip !== undefined,
  async fn() {
    const storage = new RedisStorage({
      ...(url === undefined ? {} : { url }),
      prefix: `http-cache-test:${crypto.randomUUID()}:`,
      maxEntrySize: 4,
    });
    try {
      await storage.set("key", new Uint8Array(4), Infinity);
      equal((await storage.get("key"))?.length, 4);
      await storage.set("key", new Uint8Array(5), Infinity);
      equal(await storage.get("key"), undefined);
    } finally {
      await storage.close();
    }
  },
});

Deno.test({
  name: "redis: no command arms the client's own timer (its default is 5 s per command, never cleared)",
  ignore: skip !== undefined,
  async fn() {
    const client = await createClient({ url: url! }).connect();
    const sent: string[] = [];
    const options: (RedisCommandOptions | undefined)[] = [];
    const watched: RedisClientLike = {
      get isOpen() {
        return client.isOpen;
      },
      sendCommand: (args, given) => {
        sent.push(String(args[0]));
        options.push(given);
        return client.sendCommand(args, given);
      },
    };
    const storage = new RedisStorage({ client: watched, prefix: `http-cache-test:${crypto.randomUUID()}:` });
    try {
      await storage.set("key", new Uint8Array([1]), Date.now() + 60_000);
      await storage.get("key");
      for await (const _ of storage.keys()) { /* a SCAN */ }
      await storage.clear();
      // Each kind of command, in this order; how many SCAN steps depends on what else the server holds.
      deepEqual([...new Set(sent)], ["SET", "GET", "SCAN", "UNLINK"]);
      for (const given of options) {
        equal(given?.timeout, 0);
      }
    } finally {
      await storage.close();
      client.destroy();
    }
  },
});

Deno.test("redis: options are validated at construction, each refusal naming the option", () => {
  throws(() => new RedisBackend({ timeout: 0 }), {
    name: "RangeError",
    message: /timeout must be a positive integer: received 0/,
  });
  throws(() => new RedisBackend({ maxEntrySize: 1.5 }), {
    name: "RangeError",
    message: /maxEntrySize must be a positive integer: received 1\.5/,
  });
  throws(() => new RedisBackend({ url: "http://127.0.0.1:6379" }), {
    name: "TypeError",
    message: /url must be a redis:\/\/ or rediss:\/\/ URL: received http:\/\/127\.0\.0\.1:6379/,
  });
  // (A port out of range would only fail at the first request, as a miss.)
  throws(() => new RedisBackend({ url: "redis://user:SECRET@127.0.0.1:99999" }), {
    name: "TypeError",
    message:
      /url must be a redis:\/\/ or rediss:\/\/ URL: received redis:\/\/user:\*\*\*@127\.0\.0\.1:99999$/,
  });
  // (Nothing connects at construction: the client below is never used.)
  const client = { isOpen: true, sendCommand: () => Promise.resolve(null) };
  throws(() => new RedisBackend({ url: "redis://127.0.0.1:6379", client }), {
    name: "TypeError",
    message: /give either url or client, not both/,
  });
});

const missing = await redisServerMissing();
if (missing !== undefined) console.log(`redis: the restart test is skipped: ${missing}`);

Deno.test({
  name: "redis: a hung, then stopped server fails each command within timeout; the cache resumes after",
  ignore: missing !== undefined,
  async fn() {
    const server = await privateRedis();
    const timeout = 300;
    const storage = new RedisStorage({ url: server.url, timeout });
    try {
      // (The first connect to a server just started may take longer than the timeout on a loaded
      // machine: that one is a timeout like any other, and the next command connects anew.)
      await eventually(() => storage.set("key", new Uint8Array([1, 2]), Infinity));
      deepEqual(await storage.get("key"), new Uint8Array([1, 2]));

      await server.pause(); // hung: connected, never answers
      await rejectsWithin(storage.get("key"), timeout);
      await server.resume();
      deepEqual(await storage.get("key"), new Uint8Array([1, 2]), "a late reply is not taken for a new one");

      await server.stop(); // gone: connection refused
      await rejectsWithin(storage.get("key"), timeout);
      await rejectsWithin(storage.set("key", new Uint8Array([3]), Infinity), timeout);

      await server.start();
      equal(await eventually(() => storage.get("key")), undefined, "the same instance reconnects");
      await storage.set("key", new Uint8Array([3]), Infinity);
      deepEqual(await storage.get("key"), new Uint8Array([3]));
    } finally {
      await storage.close();
      await server.stop();
    }
  },
});

Deno.test({
  name: "redis: a connection that goes silent is dropped at its deadline, and the next command connects anew",
  ignore: skip !== undefined,
  async fn() {
    const proxy = await silencingProxy(url!);
    const timeout = 300;
    const storage = new RedisStorage({
      url: `redis://127.0.0.1:${proxy.port}`,
      prefix: `http-cache-test:${crypto.randomUUID()}:`,
      timeout,
    });
    try {
      await storage.set("key", new Uint8Array([1, 2]), Infinity);
      proxy.silence();
      await rejectsWithin(storage.get("key"), timeout);
      deepEqual(await storage.get("key"), new Uint8Array([1, 2]), "answered on a new connection");
      await storage.delete(["key"]);
    } finally {
      await storage.close();
      await proxy.close();
    }
  },
});

Deno.test("redis: a server that accepts but never answers does not hang connecting", async () => {
  const sockets = new Set<Socket>();
  const silent: Server = createServer((socket) => void sockets.add(socket));
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  const port = (silent.address() as { port: number }).port;
  const storage = new RedisStorage({ url: `redis://127.0.0.1:${port}`, timeout: 200 });
  try {
    await rejectsWithin(storage.get("key"), 200);
  } finally {
    await storage.close();
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  }
});

async function rejectsWithin(promise: Promise<unknown>, timeout: number): Promise<void> {
  const start = performance.now();
  await rejects(promise);
  // Generous slack: this guards against hanging, not against a slow machine.
  ok(performance.now() - start < timeout + 1500, `rejected after ${performance.now() - start} ms`);
}
