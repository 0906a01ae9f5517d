/**
 * Outages of the backend, found by a hunt: the session's behaviour when its backend fails, hangs
 * or comes back — what the circuit breaker rests, what reaches `onError`, what a request waits
 * for. Run against in-memory stores that fail on demand, and against private `redis-server` and
 * MongoDB stand-in processes that the tests freeze and stop (each stopped by its PID after).
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { CacheBackend } from "../backends/base.ts";
import { DenoKVStorage } from "../backends/deno_kv.ts";
import { MemoryStorage } from "../backends/memory.ts";
import { MongoDBStorage } from "../backends/mongodb.ts";
import { RedisStorage } from "../backends/redis.ts";
import { BackendError, CachedSession, type ErrorContext } from "../mod.ts";
import { freshOrigin, type Loopback, openKv, scratch, Switched, within } from "./_fixtures.ts";
import {
  mongoServerMissing,
  privateMongo,
  privateRedis,
  type PrivateServer,
  redisServerMissing,
} from "./_servers.ts";

/** Backend calls give up after this long here (the default is 2,000 ms). */
const TIMEOUT = 300;

/** A session over `storage` that records what reaches onError. */
function recorded(storage: Switched) {
  const errors: { error: unknown; context: ErrorContext }[] = [];
  const session = new CachedSession({
    backend: new CacheBackend(storage),
    onError: (error, context) => errors.push({ error, context }),
  });
  return { session, errors, operations: () => errors.map(({ context }) => context.operation) };
}

/** Fetches and reads the whole body, within a generous bound: a hang fails the test. */
async function get(session: CachedSession, url: string) {
  const response = await within(10_000, session.fetch(url));
  return { fromCache: response.fromCache, body: await within(10_000, response.text()) };
}

// Was: the first failed write left the URL's key superseded (its delete failed too), and each
// later read of that key tried the delete and, when it failed, passed for a miss from a store that
// works: the breaker's count started again, the lookup read on (the key's alias), and a backend
// that was down was asked, and reported, on every request for a URL asked again.
Deno.test("outages: a URL asked for again and again while the store is down rests reads after three failures", async () => {
  const o = await freshOrigin();
  const storage = new Switched(new MemoryStorage());
  const { session, errors, operations } = recorded(storage);
  try {
    equal((await get(session, `${o.url}/hot`)).fromCache, false);
    equal((await get(session, `${o.url}/hot`)).fromCache, true, "stored while the store is up");
    storage.down = true;
    for (let i = 0; i < 3; i++) equal((await get(session, `${o.url}/hot`)).fromCache, false);
    deepEqual(operations(), ["read", "write", "read", "write", "read"]);
    const calls = storage.calls;
    for (let i = 0; i < 5; i++) ok((await get(session, `${o.url}/hot`)).body.startsWith("response "));
    equal(storage.calls, calls, "no request reached the store while reads rest");
    equal(errors.length, 5, "nothing more was reported");
    ok(errors.every(({ error }) => error instanceof BackendError), "each report is a BackendError");
  } finally {
    await session.close();
    await o.close();
  }
});

// The same fault on a real store: a Deno KV database that its owner closed under the session (a
// `kv` given to the backend) fails every call; reads of the key whose write failed passed for misses.
Deno.test("outages: a Deno KV database closed underneath is left alone after three failed reads", async () => {
  const o = await freshOrigin();
  const kv = await openKv(join(scratch, "outages_closed.kv"));
  const storage = new Switched(new DenoKVStorage({ kv }));
  const { session, errors, operations } = recorded(storage);
  try {
    equal((await get(session, `${o.url}/hot`)).fromCache, false);
    equal((await get(session, `${o.url}/hot`)).fromCache, true, "stored while the database is open");
    kv.close();
    for (let i = 0; i < 3; i++) equal((await get(session, `${o.url}/hot`)).fromCache, false);
    deepEqual(operations(), ["read", "write", "read", "write", "read"]);
    const calls = storage.calls;
    for (let i = 0; i < 5; i++) equal((await get(session, `${o.url}/hot`)).fromCache, false);
    equal(storage.calls, calls, "no request reached the closed database while reads rest");
    ok(
      errors.every(({ error }) => error instanceof BackendError && error.backend === "deno-kv"),
      String(errors[0]?.error),
    );
  } finally {
    await session.close();
    await o.close();
  }
});

/**
 * Runs `run` over a private server, with a session whose storage counts its calls (a
 * {@linkcode Switched} that is never switched off), and an origin; all stopped after.
 */
async function onPrivate(
  server: PrivateServer,
  storage: Switched,
  run: (o: Loopback, session: ReturnType<typeof recorded>) => Promise<void>,
): Promise<void> {
  const o = await freshOrigin();
  const session = recorded(storage);
  try {
    await run(o, session);
  } finally {
    await server.resume();
    await session.session.close();
    await o.close();
    await server.stop();
  }
}

/** The same URL asked for while the server is frozen: three requests pay, then none does. */
async function hotUrlWhileFrozen(
  server: PrivateServer,
  o: Loopback,
  { session, errors, operations }: ReturnType<typeof recorded>,
  storage: Switched,
): Promise<void> {
  const url = `${o.url}/hot`;
  // Stored, and served from the store, while the server answers. On a loaded machine a call may
  // outlast TIMEOUT even so (the first one opens the connection, to a server just started): that
  // request is reported, and rightly, and goes to the origin; the next one tries again. Only what
  // follows the freeze is counted.
  for (let requests = 1; !(await get(session, url)).fromCache; requests++) {
    ok(requests < 10, `not served from the store after ${requests} requests: ${operations()}`);
  }
  const before = errors.length;
  await server.pause();
  for (let i = 0; i < 3; i++) equal((await get(session, url)).fromCache, false);
  deepEqual(operations().slice(before), ["read", "write", "read", "write", "read"]);
  const calls = storage.calls;
  for (let i = 0; i < 5; i++) equal((await get(session, url)).fromCache, false);
  equal(storage.calls, calls, "no request reached the frozen server while reads rest");
  equal(errors.length - before, 5, "nothing more was reported");
}

const noRedis = await redisServerMissing();
const noMongo = await mongoServerMissing();

Deno.test({
  name: "outages: a frozen Redis asked for one URL again and again is left alone after three failed reads",
  ignore: noRedis !== undefined,
  async fn() {
    const server = await privateRedis();
    const storage = new Switched(new RedisStorage({ url: server.url, timeout: TIMEOUT }));
    await onPrivate(server, storage, (o, session) => hotUrlWhileFrozen(server, o, session, storage));
  },
});

Deno.test({
  name: "outages: a frozen MongoDB asked for one URL again and again is left alone after three failed reads",
  ignore: noMongo !== undefined,
  async fn() {
    const server = await privateMongo();
    const storage = new Switched(new MongoDBStorage({ url: server.url, db: "outages", timeout: TIMEOUT }));
    await onPrivate(server, storage, (o, session) => hotUrlWhileFrozen(server, o, session, storage));
  },
});
