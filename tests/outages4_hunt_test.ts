/**
 * Outages of the backend, a fourth pass (helper-219): stores that refuse writes while the session's
 * writes rest, storages that answer with something other than bytes or reject with values no
 * `String()` takes. Run against private `redis-server` processes (each stopped by its PID after),
 * in-process storages, and a loopback origin.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { createClient } from "@redis/client";
import { CacheBackend, type Storage } from "../backends/base.ts";
import { MemoryStorage } from "../backends/memory.ts";
import { RedisStorage } from "../backends/redis.ts";
import { BackendError, CachedSession, type ErrorContext } from "../mod.ts";
import { delay, freshOrigin, loopback, Switched, within } from "./_fixtures.ts";
import { privateRedis, redisServerMissing } from "./_servers.ts";

/** Backend calls give up after this long here (the default is 2,000 ms). */
const TIMEOUT = 300;

/** Fetches and reads the whole body, within a generous bound: a hang fails the test. */
async function get(session: CachedSession, url: string, init?: RequestInit) {
  const response = await within(10_000, session.fetch(url, init));
  return { fromCache: response.fromCache, body: await within(10_000, response.text()) };
}

const noRedis = await redisServerMissing();

// Was: once three writes had failed (a Redis at `maxmemory`, which still reads and deletes), writes
// rested, and a newer response to a stored URL (a reload, a `no-cache` request, a 200 to a
// revalidation) was neither written nor did it remove the entry it replaced: the next request was
// answered with the older response, after the newer one had been served. A write that failed
// deleted that entry; one skipped while writes rest now withholds it without a call to the store.
Deno.test({
  name: "outages4: while a full Redis's writes rest, a newer response keeps the older one from being served",
  ignore: noRedis !== undefined,
  async fn() {
    const server = await privateRedis();
    const o = await freshOrigin();
    const errors: ErrorContext[] = [];
    const session = new CachedSession({
      backend: new CacheBackend(new RedisStorage({ url: server.url, timeout: TIMEOUT })),
      onError: (_error, context) => void errors.push(context),
    });
    const admin = await createClient({ url: server.url }).connect();
    const url = `${o.url}/x`;
    try {
      deepEqual(await get(session, url), { fromCache: false, body: "response 1" });
      deepEqual(await get(session, url), { fromCache: true, body: "response 1" });
      await admin.sendCommand(["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
      await admin.sendCommand(["CONFIG", "SET", "maxmemory", "1"]);
      // Three writes refused: writes rest.
      for (const path of ["a", "b", "c"]) equal((await get(session, `${o.url}/${path}`)).fromCache, false);
      deepEqual(errors.map(({ operation }) => operation), ["write", "write", "write"]);
      for (const init of [{ cache: "reload" }, { cache: "no-cache" }] as const) {
        const newer = await get(session, url, init);
        equal(newer.fromCache, false);
        const next = await get(session, url);
        ok(
          next.body !== "response 1",
          `after ${init.cache} served ${newer.body}, the older response was served`,
        );
      }
      // Once Redis takes writes again, the URL is stored and served again.
      await admin.sendCommand(["CONFIG", "SET", "maxmemory", "0"]);
      let served = false;
      for (let attempt = 0; attempt < 80 && !served; attempt++) {
        served = (await get(session, url)).fromCache;
        if (!served) await delay(200);
      }
      ok(served, "stored again once Redis took writes");
    } finally {
      await admin.sendCommand(["CONFIG", "SET", "maxmemory", "0"]).catch(() => {});
      admin.destroy();
      await session.close();
      await o.close();
      await server.stop();
    }
  },
});

// The same when reads began to rest while the newer response was on its way (the store went down
// meanwhile): it is not written, and the entry it replaces is not served once the store is back.
Deno.test("outages4: a newer response that comes once reads rest keeps the older one from being served after", async () => {
  let n = 0;
  let slow: Promise<void> | undefined;
  const o = await loopback(async (_request, response) => {
    const body = `response ${++n}`;
    await slow;
    response.writeHead(200, { "cache-control": "max-age=600" }).end(body);
  });
  const storage = new Switched(new MemoryStorage());
  const errors: ErrorContext[] = [];
  const session = new CachedSession({
    backend: new CacheBackend(storage),
    onError: (_error, context) => void errors.push(context),
  });
  const url = `${o.url}/x`;
  try {
    deepEqual(await get(session, url), { fromCache: false, body: "response 1" });
    let answer!: () => void;
    slow = new Promise((resolve) => answer = resolve);
    const reload = get(session, url, { cache: "reload" });
    while (n < 2) await delay(5);
    slow = undefined;
    storage.down = true;
    for (const path of ["a", "b", "c"]) equal((await get(session, `${o.url}/${path}`)).fromCache, false);
    equal(errors.filter(({ operation }) => operation === "read").length, 3, "reads rest");
    storage.down = false;
    answer();
    deepEqual(await reload, { fromCache: false, body: "response 2" });
    // (Another URL's requests make the probe that ends the rest.)
    let back = false;
    for (let attempt = 0; attempt < 100 && !back; attempt++) {
      back = (await get(session, `${o.url}/probe`)).fromCache;
      if (!back) await delay(100);
    }
    ok(back, "reads and writes work again");
    const next = await get(session, url);
    ok(next.body !== "response 1", "the older response was served after the reload's");
  } finally {
    await session.close();
    await o.close();
  }
});

/** A memory storage whose reads answer with whatever it is told to, while `answer` is set. */
class MisanswerStorage extends MemoryStorage implements Storage {
  override readonly name = "misanswer";
  answer: unknown = undefined;
  override get(key: string): Promise<Uint8Array | undefined> {
    return this.answer === undefined ? super.get(key) : Promise.resolve(this.answer as Uint8Array);
  }
}

// Was: a storage whose `get` answered with something other than bytes (text from a store that keeps
// strings, an `ArrayBuffer`) had that taken for a corrupt record: the record, which may be sound, was
// deleted on every read, reported as "the record is corrupt and was deleted", and reads never
// rested. It now fails the read, as a storage that fails does; the record stays.
Deno.test("outages4: a storage that answers a read with text or an ArrayBuffer fails the read, and the record stays", async () => {
  const o = await freshOrigin();
  const storage = new MisanswerStorage();
  const errors: { error: unknown; context: ErrorContext }[] = [];
  const session = new CachedSession({
    backend: new CacheBackend(storage),
    onError: (error, context) => void errors.push({ error, context }),
  });
  try {
    deepEqual(await get(session, o.url), { fromCache: false, body: "response 1" });
    for (const answer of ["response 1", new ArrayBuffer(8), 0]) {
      storage.answer = answer;
      errors.length = 0;
      const response = await within(10_000, session.fetch(o.url, { cache: "only-if-cached" }));
      equal(response.status, 504);
      await response.body?.cancel();
      const [failure] = errors;
      ok(
        failure?.error instanceof BackendError && failure.error.backend === "misanswer",
        String(failure?.error),
      );
      equal(failure.context.operation, "read");
      ok(!/corrupt/.test(failure.error.message), failure.error.message);
      storage.answer = undefined;
      deepEqual(await get(session, o.url), { fromCache: true, body: "response 1" }, "the record stayed");
    }
  } finally {
    await session.close();
    await o.close();
  }
});

/** A memory storage whose reads and writes reject with `reason`. */
class RejectingStorage extends MemoryStorage implements Storage {
  override readonly name = "rejecting";
  readonly reason: unknown;
  constructor(reason: unknown) {
    super();
    this.reason = reason;
  }
  override get(): Promise<Uint8Array | undefined> {
    return Promise.reject(this.reason);
  }
  override set(): Promise<void> {
    return Promise.reject(this.reason);
  }
}

// Was: a rejection with a value that `String()` refuses (an object without a prototype, one whose
// `toString` throws) reached onError as the TypeError that building the BackendError's message
// threw, which names no backend.
Deno.test("outages4: a storage that rejects with a value String() refuses reaches onError as a BackendError", async () => {
  const o = await freshOrigin();
  try {
    const odd = {
      toString: () => {
        throw new Error("no text");
      },
    };
    for (const reason of [Object.create(null), odd]) {
      const errors: { error: unknown; context: ErrorContext }[] = [];
      const session = new CachedSession({
        backend: new CacheBackend(new RejectingStorage(reason)),
        onError: (error, context) => void errors.push({ error, context }),
      });
      try {
        equal((await get(session, o.url)).fromCache, false);
      } finally {
        await session.close();
      }
      deepEqual(
        errors.map((
          { error, context },
        ) => [context.operation, error instanceof BackendError && error.backend]),
        [["read", "rejecting"], ["write", "rejecting"]],
      );
      equal((errors[0]!.error as BackendError).cause, reason);
    }
  } finally {
    await o.close();
  }
});
