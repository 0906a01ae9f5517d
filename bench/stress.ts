/**
 * Stress: 10,000 requests at 200 concurrency through each backend against a loopback origin,
 * then the same load through Redis and MongoDB while the server is stopped after a quarter of the
 * requests and restarted at half-time. Prints, per run: requests, failed user requests, origin
 * requests (and how many a working cache makes), responses from the cache, peak memory, and the
 * heap after a full garbage collection before and after the run (a leak shows as growth).
 *
 *     source scripts/runtimes.sh; source scripts/services.sh
 *     deno run --allow-net=127.0.0.1 --allow-env --allow-read --allow-write \
 *       --allow-run=redis-server,bash --unstable-kv --v8-flags=--expose-gc bench/stress.ts [requests]
 *
 * Redis and MongoDB come from `REDIS_URL` / `MONGODB_URL` (`scripts/services.sh`); the outage
 * runs start private servers of their own (`redis-server`, the MongoDB stand-in).
 *
 * @module
 */

import process from "node:process";
import type { CacheBackend } from "../backends/base.ts";
import { MongoDBBackend } from "../backends/mongodb.ts";
import { RedisBackend } from "../backends/redis.ts";
import { CachedSession } from "../mod.ts";
import { BACKENDS, dispose } from "../tests/_fixtures.ts";
import {
  expectedOriginHits,
  loadOrigin,
  type LoadResult,
  requestsUntilCached,
  runLoad,
} from "../tests/_load.ts";
import {
  mongoServerMissing,
  privateMongo,
  privateRedis,
  type PrivateServer,
  redisServerMissing,
} from "../tests/_servers.ts";

const REQUESTS = Number(process.argv[2] ?? 10_000);
const CONCURRENCY = 200;
const DISTINCT = 500;

const gc = (globalThis as { gc?: () => void }).gc;

function heapAfterGc(): number {
  gc?.();
  return process.memoryUsage().heapUsed;
}

const MiB = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

interface Row {
  name: string;
  result?: LoadResult;
  backendErrors?: number;
  heapBefore?: number;
  heapAfter?: number;
  note?: string;
}

function print(rows: Row[]): void {
  const header = [
    "backend",
    "requests",
    "errors",
    "origin hits (expected)",
    "from cache",
    "peak RSS",
    "peak heap",
    "heap before → after (GC)",
    "backend errors",
    "time",
  ];
  const lines = rows.map(({ name, result: r, backendErrors, heapBefore, heapAfter, note }) =>
    r === undefined ? [name, `skipped: ${note}`] : [
      name,
      String(r.requests),
      String(r.errors),
      `${r.originHits} (${expectedOriginHits(r.requests, DISTINCT)})`,
      String(r.fromCache),
      MiB(r.peakRss),
      MiB(r.peakHeap),
      gc ? `${MiB(heapBefore!)} → ${MiB(heapAfter!)}` : "run with --v8-flags=--expose-gc",
      String(backendErrors),
      `${(r.ms / 1000).toFixed(1)} s${note ? ` (${note})` : ""}`,
    ]
  );
  const widths = header.map((title, i) =>
    Math.max(title.length, ...lines.map((line) => (line[i] ?? "").length))
  );
  const format = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd();
  console.log(format(header));
  for (const line of lines) console.log(format(line));
}

async function measure(
  name: string,
  backend: CacheBackend,
  outage?: PrivateServer,
): Promise<Row> {
  const origin = await loadOrigin();
  let backendErrors = 0;
  const session = new CachedSession({ backend, onError: () => void backendErrors++ });
  const heapBefore = heapAfterGc();
  try {
    const result = await runLoad({
      session,
      origin,
      requests: REQUESTS,
      concurrency: CONCURRENCY,
      distinct: DISTINCT,
      ...(outage && { outage }),
    });
    let note: string | undefined;
    if (outage) {
      const attempts = await requestsUntilCached(session, origin);
      note = attempts
        ? `caching resumed after the restart in ${attempts} request(s)`
        : "caching did NOT resume";
    }
    await session.close();
    const heapAfter = heapAfterGc();
    return { name, result, backendErrors, heapBefore, heapAfter, ...(note && { note }) };
  } finally {
    await session.close().catch(() => {});
    await origin.close();
  }
}

console.log(
  `http-cache stress: ${REQUESTS} requests per run, ${CONCURRENCY} at a time; ${DISTINCT} cacheable URLs, ` +
    `1 request in 10 to a no-store URL (Deno ${Deno.version.deno}, ${Deno.build.os} ${Deno.build.arch})\n`,
);

const rows: Row[] = [];
for (const backend of BACKENDS) {
  if (backend.skip !== undefined) {
    rows.push({ name: backend.name, note: backend.skip });
    continue;
  }
  const cache = await backend.open();
  try {
    rows.push(await measure(backend.name, cache));
  } finally {
    await dispose(cache);
  }
}

const noRedis = await redisServerMissing();
if (noRedis === undefined) {
  const server = await privateRedis();
  try {
    rows.push(await measure("redis, stopped + restarted", new RedisBackend({ url: server.url }), server));
  } finally {
    await server.stop();
  }
} else rows.push({ name: "redis, stopped + restarted", note: noRedis });

const noMongo = await mongoServerMissing();
if (noMongo === undefined) {
  const server = await privateMongo();
  try {
    rows.push(await measure("mongodb, stopped + restarted", new MongoDBBackend({ url: server.url }), server));
  } finally {
    await server.stop();
  }
} else rows.push({ name: "mongodb, stopped + restarted", note: noMongo });

print(rows);
const failed = rows.reduce((sum, row) => sum + (row.result?.errors ?? 0), 0);
console.log(`\nfailed user requests over all runs: ${failed}`);
for (const row of rows) {
  for (const sample of row.result?.samples ?? []) console.log(`  ${row.name}: ${sample}`);
}
process.exitCode = failed === 0 ? 0 : 1;
