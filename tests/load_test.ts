/**
 * Load through every backend: thousands of requests at 200 at a time against a loopback origin,
 * with zero errors, exactly the expected origin requests, and bounded memory; and the same load
 * while Redis or MongoDB is stopped and restarted under it. `bench/stress.ts` runs the full-size
 * version (10,000 requests per backend) and prints the figures.
 */
import { equal, ok } from "node:assert/strict";
import process from "node:process";
import type { CacheBackend } from "../backends/base.ts";
import { MongoDBBackend } from "../backends/mongodb.ts";
import { RedisBackend } from "../backends/redis.ts";
import { CachedSession } from "../mod.ts";
import { BACKENDS, dispose } from "./_fixtures.ts";
import { expectedOriginHits, loadOrigin, requestsUntilCached, runLoad } from "./_load.ts";
import {
  mongoServerMissing,
  privateMongo,
  privateRedis,
  type PrivateServer,
  redisServerMissing,
} from "./_servers.ts";

const REQUESTS = 2000;
const CONCURRENCY = 200;
const DISTINCT = 100;

Deno.test("load: 2,000 requests at 200 concurrency through each backend, zero errors", async (t) => {
  const origin = await loadOrigin();
  try {
    for (const backend of BACKENDS) {
      await t.step({
        name: backend.name,
        ignore: backend.skip !== undefined,
        async fn() {
          const cache = await backend.open();
          const errors: unknown[] = [];
          const session = new CachedSession({ backend: cache, onError: (error) => errors.push(error) });
          const before = process.memoryUsage().rss;
          try {
            const result = await runLoad({
              session,
              origin,
              requests: REQUESTS,
              concurrency: CONCURRENCY,
              distinct: DISTINCT,
            });
            equal(result.errors, 0, result.samples.join("\n"));
            equal(errors.length, 0, `backend errors: ${errors.slice(0, 3).join("; ")}`);
            const expected = expectedOriginHits(REQUESTS, DISTINCT);
            equal(
              result.originHits,
              expected,
              "one origin request per cacheable URL, one per no-store request",
            );
            equal(result.fromCache, REQUESTS - expected);
            const growth = (result.peakRss - before) / 2 ** 20;
            ok(growth < 256, `resident memory grew by ${growth.toFixed(0)} MiB`);
          } finally {
            await session.close();
            await dispose(cache);
          }
        },
      });
    }
  } finally {
    await origin.close();
  }
});

/**
 * Runs the load while the server goes away after a quarter of the requests and comes back at
 * half-time; then checks that the cache serves again.
 */
async function loadThroughOutage(server: PrivateServer, backend: CacheBackend): Promise<void> {
  const origin = await loadOrigin();
  const session = new CachedSession({ backend, onError: () => {} });
  try {
    const result = await runLoad({
      session,
      origin,
      requests: REQUESTS,
      concurrency: CONCURRENCY,
      distinct: DISTINCT,
      outage: server,
    });
    equal(result.errors, 0, `failed user requests: ${result.samples.join("\n")}`);
    ok(result.originHits > expectedOriginHits(REQUESTS, DISTINCT), "the outage sent requests to the origin");
    // Caching resumes by itself.
    ok(await requestsUntilCached(session, origin), "the cache never served again after the restart");
  } finally {
    await session.close();
    await origin.close();
  }
}

const noRedis = await redisServerMissing();
const noMongo = await mongoServerMissing();

Deno.test({
  name: "load: Redis stopped and restarted in the middle of a run: zero failed requests, caching resumes",
  ignore: noRedis !== undefined,
  async fn() {
    const server = await privateRedis();
    try {
      await loadThroughOutage(server, new RedisBackend({ url: server.url, timeout: 500 }));
    } finally {
      await server.stop();
    }
  },
});

Deno.test({
  name: "load: MongoDB stopped and restarted in the middle of a run: zero failed requests, caching resumes",
  ignore: noMongo !== undefined,
  async fn() {
    const server = await privateMongo();
    try {
      await loadThroughOutage(server, new MongoDBBackend({ url: server.url, db: "load", timeout: 500 }));
    } finally {
      await server.stop();
    }
  },
});
