/**
 * Fail open: a backend that is down, hung or returns garbage never fails a request. Reads that
 * fail are misses, writes that fail are skipped, corrupt records are deleted, every such event
 * reaches `onError`, and caching resumes by itself once the backend is back. Run against private
 * `redis-server` and MongoDB stand-in processes that the tests stop, freeze and restart.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { createClient } from "@redis/client";
import { CacheBackend, type Storage } from "../backends/base.ts";
import { MongoDBBackend } from "../backends/mongodb.ts";
import { MemoryStorage } from "../backends/memory.ts";
import { RedisBackend, RedisStorage } from "../backends/redis.ts";
import { SQLiteBackend } from "../backends/sqlite.ts";
import { BackendError, CachedSession, type CachedSessionOptions, type ErrorContext } from "../mod.ts";
import { FIRST_REST } from "../src/breaker.ts";
import {
  BACKENDS,
  delay,
  dispose,
  freshOrigin,
  type Loopback,
  loopback,
  scratch,
  Switched,
  until,
} from "./_fixtures.ts";
import {
  mongoServerMissing,
  privateMongo,
  privateRedis,
  type PrivateServer,
  redisServerMissing,
} from "./_servers.ts";

/** Backend calls give up after this long here (the default is 2,000 ms). */
const TIMEOUT = 300;

/** A session that records what reaches onError. */
function session(backend: CacheBackend, options: CachedSessionOptions = {}) {
  const errors: { error: unknown; context: ErrorContext }[] = [];
  const cached = new CachedSession({
    ...options,
    backend,
    onError: (error, context) => errors.push({ error, context }),
  });
  return { session: cached, errors };
}

/** Fetches and reads the whole body; a failure here is a failed user request. */
async function get(session: CachedSession, url: string) {
  const response = await session.fetch(url);
  return { fromCache: response.fromCache, body: await response.text() };
}

/** Requests `url` until it is served from the cache (the backend had to come back first). */
async function untilCached(session: CachedSession, url: string, attempts = 100): Promise<number> {
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if ((await get(session, url)).fromCache) return attempt;
    await delay(50);
  }
  throw new Error(`${url} was never served from the cache again`);
}

/**
 * The whole life of a remote backend: up, stopped, restarted, frozen, thawed. The session is
 * created once; no request fails at any point.
 */
async function outage(server: PrivateServer, backend: CacheBackend, name: string): Promise<void> {
  const o = await freshOrigin();
  const { session: s, errors } = session(backend);
  try {
    // (The first write also connects, and a MongoDB one makes the collection's index: on a loaded
    // machine that may outlast the timeout, and then the reads rest a while.)
    await untilCached(s, `${o.url}/warm`);
    const warm = o.hits;
    const warmErrors = errors.length;
    equal((await get(s, `${o.url}/a`)).fromCache, false);
    equal((await get(s, `${o.url}/a`)).fromCache, true, "cached while the backend is up");

    await server.stop();
    for (let i = 0; i < 3; i++) equal((await get(s, `${o.url}/a`)).fromCache, false);
    equal(o.hits - warm, 4, "while the backend is down, every request goes to the origin");
    const read = errors.slice(warmErrors).find(({ context }) => context.operation === "read");
    ok(read, "a failed read reached onError");
    ok(read.error instanceof BackendError && read.error.backend === name, String(read.error));
    equal(read.context.request, `GET ${o.url}/a`);
    ok(
      errors.slice(warmErrors).some(({ context }) => context.operation === "write"),
      "a skipped write reached onError",
    );

    await server.start();
    await untilCached(s, `${o.url}/b`);

    await server.pause();
    const before = errors.length;
    const frozen = await Promise.all([1, 2, 3].map(() => get(s, `${o.url}/c`)));
    ok(frozen.every(({ body }) => body.startsWith("response ")), "a hung backend is given up on");
    ok(errors.length > before, "the timeouts reached onError");
    await server.resume();
    await untilCached(s, `${o.url}/d`);
  } finally {
    await server.resume();
    await s.close();
    await o.close();
  }
}

/**
 * Runs `run` with a session over a private `redis-server` (through a {@linkcode Switched} that
 * counts the calls made to it) and an origin, all stopped after.
 */
async function onPrivateRedis(
  run: (
    server: PrivateServer,
    o: Loopback,
    recorded: ReturnType<typeof session> & { storage: Switched },
  ) => Promise<void>,
): Promise<void> {
  const server = await privateRedis();
  const o = await freshOrigin();
  const storage = new Switched(new RedisStorage({ url: server.url, timeout: TIMEOUT }));
  const recorded = { ...session(new CacheBackend(storage)), storage };
  try {
    await run(server, o, recorded);
  } finally {
    await server.resume();
    await recorded.session.close();
    await o.close();
    await server.stop();
  }
}

const noRedis = await redisServerMissing();
if (noRedis !== undefined) console.log(`fail open: the Redis outage test is skipped: ${noRedis}`);

Deno.test({
  name: "fail open: Redis stopped, restarted, frozen and thawed under one session; no request fails",
  ignore: noRedis !== undefined,
  async fn() {
    const server = await privateRedis();
    try {
      await outage(server, new RedisBackend({ url: server.url, timeout: TIMEOUT }), "redis");
    } finally {
      await server.stop();
    }
  },
});

Deno.test({
  name:
    "fail open: a frozen Redis is left alone after three failed calls; no request waits for it, a probe finds it back",
  ignore: noRedis !== undefined,
  fn: () =>
    onPrivateRedis(async (server, o, { session: s, errors, storage }) => {
      for (const path of ["warm", "posted"]) await untilCached(s, `${o.url}/${path}`);
      await server.pause();
      // Each request's read and write time out, until the third read: three reads in a row.
      for (const path of ["a", "b", "c"]) equal((await get(s, `${o.url}/${path}`)).fromCache, false);
      deepEqual(errors.map(({ context }) => context.operation), ["read", "write", "read", "write", "read"]);

      const resting = performance.now();
      const calls = storage.calls;
      for (let i = 0; i < 5; i++) equal((await get(s, `${o.url}/c${i}`)).fromCache, false);
      equal(storage.calls, calls, "no request reached the frozen backend");
      equal(errors.length, 5, "calls not made are not reported");

      // Once the rest is over, a request sets off a probe and goes on without waiting for it.
      await delay(FIRST_REST - (performance.now() - resting));
      equal((await get(s, `${o.url}/d`)).fromCache, false);
      equal(storage.calls, calls + 1, "one read went, as the probe");
      equal(storage.pending, 1, "the request was answered while its probe waited on the frozen backend");
      await until(() => errors.length === 6); // the failed probe is reported

      // A POST's invalidation is tried all the same (another process learns of it from the delete
      // alone): it fails with the frozen backend's timeout, is reported and remembered.
      await (await s.fetch(`${o.url}/posted`, { method: "POST" })).text();
      equal(errors.at(-1)?.context.operation, "delete");

      await server.resume();
      await untilCached(s, `${o.url}/e`);
      equal((await get(s, `${o.url}/warm`)).fromCache, true, "what was stored before is served again");
      equal((await get(s, `${o.url}/posted`)).fromCache, false, "but not what the POST invalidated");
    }),
});

Deno.test({
  name:
    "fail open: a full Redis (maxmemory, noeviction) refuses writes: what it holds is still served, and writes rest",
  ignore: noRedis !== undefined,
  fn: () =>
    onPrivateRedis(async (server, o, { session: s, errors }) => {
      const admin = await createClient({ url: server.url }).connect();
      const hot = [...Array(8)].map((_, i) => `${o.url}/hot${i}`);
      try {
        for (const url of hot) await get(s, url);
        await admin.sendCommand(["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
        await admin.sendCommand(["CONFIG", "SET", "maxmemory", "1"]);
        let hits = 0;
        for (let round = 0; round < 5; round++) {
          const fresh = [...Array(4)].map((_, i) => `${o.url}/new${round}-${i}`);
          const served = await Promise.all([...hot, ...fresh].map((url) => get(s, url)));
          hits += served.slice(0, hot.length).filter(({ fromCache }) => fromCache).length;
        }
        equal(hits, 5 * hot.length, "every request for a stored response is a hit");
        ok(errors.every(({ context }) => context.operation === "write"), "reads never failed");
        ok(
          errors.length >= 3 && errors.length < 5 * 4,
          `${errors.length} failed writes reported, not one per miss`,
        );

        await admin.sendCommand(["CONFIG", "SET", "maxmemory", "0"]);
        await untilCached(s, `${o.url}/room-again`, Math.ceil(FIRST_REST / 50) + 20);
      } finally {
        admin.destroy();
      }
    }),
});

/** An origin whose `/revalidated` is stale at once and answers its validator with a 304. */
function revalidatingOrigin(): Promise<Loopback> {
  return loopback(async (request, response) => {
    if (request.method === "GET" && request.url === "/slow") await delay(200);
    const stale = request.url === "/revalidated";
    const headers = { etag: '"v1"', "cache-control": stale ? "max-age=0" : "max-age=600" };
    if (request.headers["if-none-match"] === '"v1"') return void response.writeHead(304, headers).end();
    response.writeHead(200, headers).end("body");
  });
}

Deno.test("fail open: while writes rest, Cache-Status says stored neither for a miss nor for a 304, nor a miss's expiresAt", async () => {
  const o = await revalidatingOrigin();
  const storage = new Switched(new MemoryStorage());
  const { session: s } = session(new CacheBackend(storage), { cacheStatus: true });
  try {
    await get(s, `${o.url}/revalidated`);
    storage.full = true;
    for (let i = 0; i < 3; i++) await get(s, `${o.url}/${i}`);
    storage.full = false; // (the session's writes rest all the same)
    for (const path of ["/miss", "/revalidated"]) {
      const response = await s.fetch(`${o.url}${path}`);
      await response.text();
      equal(response.revalidated, path === "/revalidated");
      const status = response.headers.get("cache-status") ?? "";
      ok(!status.includes("stored"), status);
      // (Nor do a miss's createdAt and expiresAt, which are those of an entry stored.)
      if (path === "/miss") deepEqual([response.createdAt, response.expiresAt], [undefined, undefined]);
    }
    equal((await s.fetch(`${o.url}/miss`, { cache: "only-if-cached" })).status, 504, "nothing was written");
  } finally {
    await s.close();
    await o.close();
  }
});

Deno.test("fail open: a write probe that an invalidation leaves unmade does not keep writes resting", async () => {
  const o = await revalidatingOrigin();
  const storage = new Switched(new MemoryStorage());
  const { session: s } = session(new CacheBackend(storage));
  try {
    storage.full = true;
    for (let i = 0; i < 3; i++) await get(s, `${o.url}/${i}`);
    storage.full = false;
    await delay(FIRST_REST + 50);
    // The first write after the rest (the probe) is of a response its URL's POST outdated meanwhile.
    const slow = get(s, `${o.url}/slow`);
    await delay(50);
    await (await s.fetch(`${o.url}/slow`, { method: "POST" })).text();
    await slow;
    // The next write goes as the probe, and the store works again: the one after it is written.
    await get(s, `${o.url}/after`);
    await get(s, `${o.url}/after-probe`);
    equal((await s.fetch(`${o.url}/after-probe`, { cache: "only-if-cached" })).status, 200);
  } finally {
    await s.close();
    await o.close();
  }
});

Deno.test("fail open: a backend that keeps failing is reported until three reads have failed, not for each request", async () => {
  const o = await freshOrigin();
  const storage = new Switched(new MemoryStorage(), true);
  const { session: s, errors } = session(new CacheBackend(storage));
  try {
    for (let i = 0; i < 20; i++) ok((await get(s, `${o.url}/${i}`)).body.startsWith("response "));
    equal(o.hits, 20);
    deepEqual(errors.map(({ context }) => context.operation), ["read", "write", "read", "write", "read"]);
    storage.down = false;
    await untilCached(s, `${o.url}/back`, Math.ceil(FIRST_REST / 50) + 20);
    equal(errors.length, 5);
  } finally {
    await s.close();
    await o.close();
  }
});

const noMongo = await mongoServerMissing();
if (noMongo !== undefined) console.log(`fail open: the MongoDB outage test is skipped: ${noMongo}`);

Deno.test({
  name: "fail open: MongoDB stopped, restarted, frozen and thawed under one session; no request fails",
  ignore: noMongo !== undefined,
  async fn() {
    const server = await privateMongo();
    try {
      const backend = new MongoDBBackend({ url: server.url, db: "fail_open", timeout: TIMEOUT });
      await outage(server, backend, "mongodb");
    } finally {
      await server.stop();
    }
  },
});

const GARBAGE: Record<string, (valid: Uint8Array) => Uint8Array> = {
  "random bytes": () => crypto.getRandomValues(new Uint8Array(64)),
  "no bytes": () => new Uint8Array(0),
  "a truncated record": (valid) => valid.subarray(0, valid.length >> 1),
  "a flipped metadata byte": (valid) => valid.map((byte, i) => i === 20 ? byte ^ 0x10 : byte),
};

Deno.test("fail open: a corrupt record on any backend is a miss, is deleted and is reported", async (t) => {
  const o = await freshOrigin();
  for (const backend of BACKENDS) {
    await t.step({
      name: backend.name,
      ignore: backend.skip !== undefined,
      async fn() {
        const cache = await backend.open();
        const { session: s, errors } = session(cache);
        try {
          const url = `${o.url}/${backend.name}`;
          const first = await s.fetch(url);
          await first.text(); // the body has ended: it is in the cache
          const key = first.cacheKey!;
          const valid = (await cache.storage.get(key))!;
          ok(valid !== undefined, "the response was stored");
          for (const [kind, damage] of Object.entries(GARBAGE)) {
            errors.length = 0;
            await cache.storage.set(key, damage(valid.slice()), Infinity);
            const response = await get(s, url);
            equal(response.fromCache, false, `${kind} is a miss`);
            ok(response.body.startsWith("response "), kind);
            const { error, context } = errors[0]!;
            ok(error instanceof BackendError && error.cause instanceof SyntaxError, `${kind}: ${error}`);
            equal(context.operation, "read");
            equal((await get(s, url)).fromCache, true, `after ${kind}, the fresh response is stored again`);

            await cache.storage.set(key, damage(valid.slice()), Infinity);
            const failed = await cache.read(key).then(() => undefined, (error: unknown) => error);
            ok(failed instanceof BackendError, `${kind}: reading it directly is a BackendError`);
            equal(await cache.storage.get(key), undefined, `${kind}: the record was deleted`);
          }
        } finally {
          await s.close();
          await dispose(cache);
        }
      },
    });
  }
  await o.close();
});

/** A storage that returns whatever it is told to, bytes or not. */
class LyingStorage extends MemoryStorage implements Storage {
  override readonly name = "lying";
  answer: unknown;
  override get(): Promise<Uint8Array | undefined> {
    return Promise.resolve(this.answer as Uint8Array);
  }
}

Deno.test("fail open: a storage that answers with something other than bytes is a miss", async () => {
  const o = await freshOrigin();
  try {
    // (A session for each: such an answer fails the read, and three in a row rest reads.)
    for (const answer of ["text", 42, { length: 99 }, [1, 1, 0, 0], new ArrayBuffer(8), null]) {
      const storage = new LyingStorage();
      storage.answer = answer;
      const { session: s, errors } = session(new CacheBackend(storage));
      try {
        const response = await get(s, o.url);
        equal(response.fromCache, false);
        ok(
          answer === null || errors[0]?.error instanceof BackendError,
          `${JSON.stringify(answer)} was reported`,
        );
      } finally {
        await s.close();
      }
    }
  } finally {
    await o.close();
  }
});

/** A storage whose every method throws at once, instead of returning a rejected promise. */
class ThrowingStorage extends MemoryStorage implements Storage {
  override readonly name = "throwing";
  override get(): never {
    throw new Error("get broke");
  }
  override set(): never {
    throw new Error("set broke");
  }
}

Deno.test("fail open: a storage that throws at once, not through a promise, is a miss and a skipped write", async () => {
  const o = await freshOrigin();
  const { session: s, errors } = session(new CacheBackend(new ThrowingStorage()));
  try {
    for (let i = 1; i <= 2; i++) {
      deepEqual(await get(s, o.url), { fromCache: false, body: `response ${i}` });
    }
    await s.close();
    deepEqual(
      errors.map(({ error, context }) => [context.operation, error instanceof BackendError && error.backend]),
      [["read", "throwing"], ["write", "throwing"], ["read", "throwing"], ["write", "throwing"]],
    );
  } finally {
    await s.close();
    await o.close();
  }
});

type Method = "log" | "info" | "warn" | "error" | "debug" | "trace";

/** Runs `run` with the console recorded instead of printed. */
async function recordingConsole(run: () => Promise<void>): Promise<[Method, unknown[]][]> {
  const calls: [Method, unknown[]][] = [];
  const methods: Method[] = ["log", "info", "warn", "error", "debug", "trace"];
  const saved = methods.map((method) => console[method]);
  for (const method of methods) console[method] = (...args: unknown[]) => void calls.push([method, args]);
  try {
    await run();
  } finally {
    methods.forEach((method, i) => console[method] = saved[i]!);
  }
  return calls;
}

Deno.test("fail open: onError is the only outlet; without a handler each failure is one console.warn", async () => {
  const o = await freshOrigin();
  try {
    const handled: string[] = [];
    const quiet = await recordingConsole(async () => {
      const s = new CachedSession({
        backend: new CacheBackend(new Switched(new MemoryStorage(), true)),
        onError: (_error, context) => handled.push(context.operation),
      });
      await get(s, `${o.url}/x?api_key=SECRET`);
      await s.close();
    });
    equal(quiet.length, 0, "nothing is logged when a handler is given");
    equal(handled.join(), "read,write");

    const loud = await recordingConsole(async () => {
      const s = new CachedSession({
        backend: new CacheBackend(new Switched(new MemoryStorage(), true)),
        ignoredParameters: ["api_key"],
      });
      await get(s, `${o.url}/x?api_key=SECRET`);
      await s.close();
    });
    equal(loud.map(([method]) => method).join(), "warn,warn");
    const text = loud.map(([, args]) => args.map(String).join(" ")).join("\n");
    ok(text.includes("read failed") && text.includes("write failed"), text);
    ok(!text.includes("SECRET"), "an ignored parameter is redacted from the log");
  } finally {
    await o.close();
  }
});

Deno.test("fail open: a throwing onError handler does not fail the request", async () => {
  const o = await freshOrigin();
  const s = new CachedSession({
    backend: new CacheBackend(new Switched(new MemoryStorage(), true)),
    onError: () => {
      throw new Error("handler bug");
    },
  });
  try {
    ok((await get(s, o.url)).body.startsWith("response "));
  } finally {
    await s.close();
    await o.close();
  }
});

Deno.test("fail open: a corrupt record read from a store that answers breaks a run of failed reads", async () => {
  const o = await freshOrigin();
  const storage = new Switched(new MemoryStorage());
  const { session: s, errors } = session(new CacheBackend(storage));
  try {
    const first = await s.fetch(`${o.url}/corrupt`);
    await first.text();
    const key = first.cacheKey!;
    const valid = (await storage.get(key))!;
    storage.down = true;
    for (let i = 0; i < 2; i++) await get(s, `${o.url}/down-${i}`); // two failed reads in a row
    storage.down = false;
    await storage.set(key, valid.subarray(0, valid.length >> 1), Infinity);
    equal((await get(s, `${o.url}/corrupt`)).fromCache, false, "a corrupt record is a miss");
    ok(errors.some(({ error }) => error instanceof BackendError && error.cause instanceof SyntaxError));
    storage.down = true;
    await get(s, `${o.url}/down-again`); // one failed read: the first of a new run
    storage.down = false;
    const calls = storage.calls;
    await get(s, `${o.url}/after`);
    ok(storage.calls > calls, "reads do not rest: the store answered between the failures");
  } finally {
    await s.close();
    await o.close();
  }
});

/** A memory store whose writes can fail at once (`full`) or fail only after a while (`slow`). */
class SlowWrites extends MemoryStorage {
  mode: "ok" | "full" | "slow" = "ok";
  /** Whether the slow write has settled. */
  slowSettled = false;
  override set(key: string, value: Uint8Array, deleteAt: number): Promise<void> {
    if (this.mode === "full") return Promise.reject(new Error("OOM: the store is full"));
    if (this.mode === "ok") return super.set(key, value, deleteAt);
    // A hung store, as a frozen Redis is: the write gives up after its timeout (1 s here).
    return new Promise((_resolve, reject) =>
      setTimeout(() => (this.slowSettled = true, reject(new Error("timed out"))), 1000)
    );
  }
}

Deno.test("fail open: no request waits for the write probe that follows a write rest", async () => {
  const o = await freshOrigin();
  const storage = new SlowWrites();
  const { session: s } = session(new CacheBackend(storage));
  try {
    storage.mode = "full";
    for (let i = 0; i < 3; i++) await get(s, `${o.url}/${i}`); // three failed writes: writes rest
    await delay(FIRST_REST + 50);
    storage.mode = "slow";
    const response = await get(s, `${o.url}/probe`); // its write is the probe, and hangs
    equal(response.fromCache, false);
    equal(storage.slowSettled, false, "the response and its body came before the probe's write gave up");
  } finally {
    await s.close();
    await o.close();
  }
});

/** An origin whose `/held` answers only once `release()` is called, and counts the requests for it. */
async function heldOrigin() {
  let release!: () => void;
  const held = new Promise<void>((resolve) => release = resolve);
  let n = 0;
  let asked = 0;
  const o: Loopback = await loopback(async (request, response) => {
    if (request.url === "/held" && request.method === "GET") {
      asked++;
      await held;
    }
    response.writeHead(200, { "cache-control": "max-age=600" }).end(`response ${++n}`);
  });
  return { o, release, asked: () => asked };
}

Deno.test("fail open: while reads rest, Cache-Status does not say stored (nothing is written)", async () => {
  const { o } = await heldOrigin();
  const storage = new Switched(new MemoryStorage());
  const { session: s } = session(new CacheBackend(storage), { cacheStatus: true });
  try {
    storage.down = true;
    // Three failed reads rest the reads; only two writes were tried (the third miss wrote nothing).
    for (let i = 0; i < 3; i++) await (await s.fetch(`${o.url}/${i}`)).text();
    storage.down = false;
    const response = await s.fetch(`${o.url}/miss`);
    await response.text();
    const status = response.headers.get("cache-status") ?? "";
    ok(!status.includes("stored"), status);
    equal(await storage.get(response.cacheKey!), undefined, "nothing was written");
  } finally {
    await s.close();
    await o.close();
  }
});

Deno.test("close: a response that comes after close() is not said to be stored", async () => {
  const { o, release, asked } = await heldOrigin();
  const storage = new MemoryStorage();
  const s = new CachedSession({ backend: new CacheBackend(storage), cacheStatus: true });
  try {
    const pending = s.fetch(`${o.url}/held`);
    await until(() => asked() === 1);
    await s.close();
    release();
    const response = await pending;
    await response.text();
    const status = response.headers.get("cache-status") ?? "";
    ok(!status.includes("stored"), status);
    equal(await storage.get(response.cacheKey!), undefined, "nothing was written");
  } finally {
    await o.close();
  }
});

Deno.test("fail open: a POST made while its session's reads rest still keeps out a response asked for before it", async () => {
  const { o, release, asked } = await heldOrigin();
  const storage = new Switched(new MemoryStorage());
  const backend = new CacheBackend(storage);
  // Two sessions over one store: the first one's reads work, the second one's rest.
  const { session: working } = session(backend);
  const { session: resting } = session(backend);
  try {
    const before = working.fetch(`${o.url}/held`); // asked for before the POST
    await until(() => asked() === 1);
    storage.down = true;
    for (let i = 0; i < 3; i++) await (await resting.fetch(`${o.url}/${i}`)).text();
    storage.down = false;
    await (await resting.fetch(`${o.url}/held`, { method: "POST" })).text();
    release();
    const response = await before;
    await response.text(); // (its write has settled)
    equal(
      await storage.get(response.cacheKey!),
      undefined,
      "the response asked for before the POST was not written",
    );
  } finally {
    await working.close();
    await resting.close();
    await o.close();
  }
});

// Found by tests/model_test.ts (two sessions over one SQLite file, and over one MongoDB): the POST's
// delete was deferred while its session's reads rested, and so never sent.
Deno.test("fail open: a POST made while its session's reads rest invalidates for another process over the store once it is back", async () => {
  let version = 1;
  const fetch = (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    if (request.method === "POST") return Promise.resolve(new Response(`v${++version}`));
    return Promise.resolve(new Response(`v${version}`, { headers: { "cache-control": "max-age=600" } }));
  };
  const url = "http://127.0.0.1/resource";
  // Two handles on one SQLite file, as two processes have.
  const path = join(scratch, "post_while_resting.db");
  const other = new CachedSession({ fetch, backend: new SQLiteBackend({ path }) });
  const storage = new Switched(new SQLiteBackend({ path }).storage);
  const { session: resting } = session(new CacheBackend(storage), { fetch });
  const get = async (session: CachedSession, at = url) => {
    const response = await session.fetch(at);
    return [response.fromCache, await response.text()];
  };
  try {
    equal((await get(other))[1], "v1");
    equal((await get(other))[0], true, "stored");
    // The store is out of the second handle's reach a moment: three failed reads, and its reads rest.
    storage.down = true;
    for (const path of ["a", "b", "c"]) await get(resting, `http://127.0.0.1/${path}`);
    storage.down = false;
    const post = await resting.fetch(url, { method: "POST", body: "new" });
    equal([post.ok, await post.text()].join(" "), "true v2");
    // The store was back when the POST succeeded: the other process does not serve what came before.
    equal((await get(other)).join(" "), "false v2");
  } finally {
    await other.close();
    await resting.close();
  }
});
