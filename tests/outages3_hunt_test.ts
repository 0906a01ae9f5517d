/**
 * Outages of the backend, a third pass (helper-188): stores that fail only some operations while
 * requests run, and stores that fail under a burst of requests. Run against private
 * `redis-server` processes whose writes the tests pause (`CLIENT PAUSE … WRITE`, as Redis itself
 * does during a failover) or that they freeze, and MongoDB stand-ins that they stop (each stopped
 * by its PID after), and a loopback origin.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { createClient } from "@redis/client";
import { CacheBackend, type Storage } from "../backends/base.ts";
import { MongoDBStorage } from "../backends/mongodb.ts";
import { RedisStorage } from "../backends/redis.ts";
import { CachedSession, type ErrorContext } from "../mod.ts";
import { delay, freshOrigin, within } from "./_fixtures.ts";
import {
  mongoServerMissing,
  privateMongo,
  privateRedis,
  type PrivateServer,
  redisServerMissing,
} from "./_servers.ts";

/** Backend calls give up after this long here (the default is 2,000 ms). */
const TIMEOUT = 300;

/** A Redis storage that counts the deletes asked of it. */
class CountedRedis extends RedisStorage {
  deletes = 0;
  override delete(keys: string[]): Promise<void> {
    this.deletes++;
    return super.delete(keys);
  }
}

/** Fetches and reads the whole body, within a generous bound: a hang fails the test. */
async function get(session: CachedSession, url: string, init?: RequestInit) {
  const response = await within(10_000, session.fetch(url, init));
  return { fromCache: response.fromCache, body: await within(10_000, response.text()) };
}

const noRedis = await redisServerMissing();
const noMongo = await mongoServerMissing();

// Was: while Redis ran only reads (writes paused, as during a failover), a read that found a record
// whose delete had failed (an invalidation's, or a write's that failed) tried that delete again,
// and waited for it, on every request for its URL, long after writes rested: each such request
// paid the backend's timeout, and each invalidated URL's reported a failed delete.
Deno.test({
  name:
    "outages3: while Redis refuses writes and writes rest, reads of records whose delete failed wait for no delete",
  ignore: noRedis !== undefined,
  async fn() {
    const server = await privateRedis();
    const o = await freshOrigin();
    const storage = new CountedRedis({ url: server.url, timeout: TIMEOUT });
    const errors: ErrorContext[] = [];
    const session = new CachedSession({
      backend: new CacheBackend(storage),
      onError: (_error, context) => void errors.push(context),
    });
    const admin = await createClient({ url: server.url }).connect();
    const [a, b, c] = ["a", "b", "c"].map((path) => `${o.url}/${path}`) as [string, string, string];
    try {
      for (const url of [a, b, c]) await get(session, url);
      const before: string[] = [];
      for (const url of [a, b, c]) {
        const { fromCache, body } = await get(session, url);
        ok(fromCache, `${url} stored`);
        before.push(body);
      }
      await admin.sendCommand(["CLIENT", "PAUSE", "60000", "WRITE"]);
      // Each invalidation fails (its delete times out), and is remembered.
      for (const url of [a, c]) await get(session, url, { method: "POST" });
      // The requests for /a fail three writes: writes rest.
      for (let i = 0; i < 3; i++) equal((await get(session, a)).fromCache, false);
      const reported = errors.length;
      const deletes = storage.deletes;
      for (let i = 0; i < 2; i++) {
        for (const url of [a, c]) equal((await get(session, url)).fromCache, false, `${url} was invalidated`);
      }
      equal(storage.deletes - deletes, 0, "no delete was tried while writes rest");
      deepEqual(errors.slice(reported), [], "nothing more was reported");
      equal((await get(session, b)).fromCache, true, "what reads find is still served");
      // Once Redis takes writes again, the invalidated responses are deleted, never served.
      await admin.sendCommand(["CLIENT", "UNPAUSE"]);
      for (const [i, url] of [a, c].entries()) {
        let served: { fromCache: boolean; body: string } | undefined;
        for (let attempt = 0; attempt < 80 && !served?.fromCache; attempt++) {
          served = await get(session, url);
          if (!served.fromCache) await delay(200);
        }
        ok(served?.fromCache, `${url} stored again once Redis took writes`);
        ok(served.body !== before[i * 2], `${url}: not what it held before its invalidation`);
      }
    } finally {
      await admin.sendCommand(["CLIENT", "UNPAUSE"]).catch(() => {});
      admin.destroy();
      await session.close();
      await o.close();
      await server.stop();
    }
  },
});

/** Requests under way together when the store fails. */
const BURST = 20;

const BURSTS: {
  name: string;
  missing: string | undefined;
  server: () => Promise<PrivateServer>;
  storage: (url: string) => Storage;
  fail: (server: PrivateServer) => Promise<void>;
}[] = [
  {
    name: "a Redis that freezes",
    missing: noRedis,
    server: privateRedis,
    storage: (url) => new RedisStorage({ url, timeout: TIMEOUT }),
    fail: (server) => server.pause(),
  },
  {
    name: "a MongoDB that stops",
    missing: noMongo,
    server: privateMongo,
    storage: (url) => new MongoDBStorage({ url, db: "outages3", timeout: TIMEOUT }),
    fail: (server) => server.stop(),
  },
];

// Was: every request under way when the store failed reported its failed read (and a burst at a
// frozen store, every request of the first `timeout` ms): onError, console.warn by default, heard of
// the outage once per request, not of its first three failures and then one per rest.
for (const burst of BURSTS) {
  Deno.test({
    name:
      `outages3: ${burst.name} under ${BURST} requests at once is reported for three reads, not for each request`,
    ignore: burst.missing !== undefined,
    async fn() {
      const server = await burst.server();
      const o = await freshOrigin();
      const errors: ErrorContext[] = [];
      const session = new CachedSession({
        backend: new CacheBackend(burst.storage(server.url)),
        onError: (_error, context) => void errors.push(context),
      });
      try {
        // (Connected, and its first answers given, before it fails.)
        for (let requests = 1; !(await get(session, `${o.url}/warm`)).fromCache; requests++) {
          ok(requests < 10);
        }
        errors.length = 0;
        await burst.fail(server);
        const served = await Promise.all([...Array(BURST)].map((_, i) => get(session, `${o.url}/${i}`)));
        ok(served.every(({ fromCache, body }) => !fromCache && body.startsWith("response ")));
        const operations = errors.map(({ operation }) => operation);
        equal(operations.filter((operation) => operation === "read").length, 3, String(operations));
        // (A request whose read failed before reads rested may try its write: two at most.)
        ok(operations.length <= 5, String(operations));
      } finally {
        await server.resume();
        await session.close();
        await o.close();
        await server.stop();
      }
    },
  });
}
