/**
 * A load generator for the load test and `bench/stress.ts`: many requests at a fixed concurrency
 * through one session against a loopback origin, with every response checked, and the peak
 * memory of the process sampled while it runs.
 *
 * The traffic mix: 9 requests in 10 go to one of `distinct` cacheable URLs, the 10th to a
 * `no-store` URL. With nothing failing, the origin therefore sees exactly `distinct` requests
 * plus one per `no-store` request ({@linkcode expectedOriginHits}).
 *
 * @module
 */

import process from "node:process";
import type { CachedSession } from "../mod.ts";
import { type Loopback, loopback } from "./_fixtures.ts";

/** What a load run did. */
export interface LoadResult {
  /** Requests made. */
  requests: number;
  /** Requests that rejected or returned a wrong response. */
  errors: number;
  /** A few of the errors, for the report. */
  samples: string[];
  /** Responses served from the cache. */
  fromCache: number;
  /** Requests the origin received during the run. */
  originHits: number;
  /** Highest resident set size seen, in bytes. */
  peakRss: number;
  /** Highest V8 heap in use seen, in bytes. */
  peakHeap: number;
  /** Wall time, in milliseconds. */
  ms: number;
}

/** Options of {@linkcode runLoad}. */
export interface LoadOptions {
  /** The session under load. */
  session: CachedSession;
  /** The origin from {@linkcode loadOrigin}. */
  origin: Loopback;
  /** How many requests. */
  requests: number;
  /** How many at a time. */
  concurrency: number;
  /** How many distinct cacheable URLs. */
  distinct: number;
  /** A server the backend needs: stopped after a quarter of the requests, started at half. */
  outage?: { stop(): Promise<void>; start(): Promise<void> };
}

/** Body of the cacheable response for item `n`: about 1 KiB, different per item. */
export function itemBody(n: number): string {
  return `item ${n};`.repeat(100);
}

/**
 * Starts the origin the load runs against: `/item/N` is fresh for an hour, `/live/N` is
 * `no-store`.
 *
 * @returns The origin.
 */
export function loadOrigin(): Promise<Loopback> {
  return loopback((request, response) => {
    const [, kind, n] = (request.url ?? "").split("/");
    if (kind === "item") {
      response.writeHead(200, { "cache-control": "max-age=3600", "content-type": "text/plain" })
        .end(itemBody(Number(n)));
    } else {
      response.writeHead(200, { "cache-control": "no-store" }).end(`live ${n}`);
    }
  });
}

/**
 * Origin requests a run of `requests` makes when the cache works.
 *
 * @param requests Requests in the run.
 * @param distinct Distinct cacheable URLs.
 * @returns The count.
 */
export function expectedOriginHits(requests: number, distinct: number): number {
  let live = 0;
  const items = new Set<number>();
  for (let i = 0; i < requests; i++) i % 10 === 9 ? live++ : items.add(i % distinct);
  return items.size + live;
}

/**
 * Runs the load.
 *
 * @param options Session, origin and shape of the load.
 * @returns What happened.
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const { session, origin, requests, concurrency, distinct } = options;
  const result: LoadResult = {
    requests,
    errors: 0,
    samples: [],
    fromCache: 0,
    originHits: 0,
    peakRss: 0,
    peakHeap: 0,
    ms: 0,
  };
  const sample = () => {
    const { rss, heapUsed } = process.memoryUsage();
    result.peakRss = Math.max(result.peakRss, rss);
    result.peakHeap = Math.max(result.peakHeap, heapUsed);
  };
  const sampler = setInterval(sample, 25);
  const hitsBefore = origin.hits;
  const start = performance.now();
  let next = 0;
  let done = 0;
  let outage = Promise.resolve();
  // The requests after the first quarter wait until the server is down: so some certainly meet the
  // outage, however fast the rest would run while the server stops.
  let stopped = Promise.resolve();
  const { outage: server } = options;
  const worker = async () => {
    while (next < requests) {
      await stopped;
      if (next >= requests) break;
      const i = next++;
      const live = i % 10 === 9;
      const n = live ? i : i % distinct;
      try {
        const response = await session.fetch(`${origin.url}/${live ? "live" : "item"}/${n}`);
        const body = await response.text();
        if (response.status !== 200 || body !== (live ? `live ${n}` : itemBody(n))) {
          throw new Error(`wrong response for request ${i}: ${response.status} ${body.slice(0, 40)}`);
        }
        if (response.fromCache) result.fromCache++;
      } catch (error) {
        result.errors++;
        if (result.samples.length < 5) result.samples.push(String(error));
      }
      done++;
      if (server && done === Math.floor(requests / 4)) stopped = outage = outage.then(() => server.stop());
      if (server && done === Math.floor(requests / 2)) outage = outage.then(() => server.start());
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    clearInterval(sampler);
    await outage;
  }
  sample();
  result.ms = performance.now() - start;
  result.originHits = origin.hits - hitsBefore;
  return result;
}

/**
 * After an outage: asks for a cached URL until the cache serves it again (the restarted server
 * is empty, so the first request stores it and a later one hits), 100 times at most, 50 ms apart.
 *
 * @param session The session.
 * @param origin The origin from {@linkcode loadOrigin}.
 * @returns How many requests it took, or `undefined` when the cache never served again.
 */
export async function requestsUntilCached(
  session: CachedSession,
  origin: Loopback,
): Promise<number | undefined> {
  for (let attempt = 1; attempt <= 100; attempt++) {
    const response = await session.fetch(`${origin.url}/item/0`);
    if (await response.text() !== itemBody(0)) throw new Error("a wrong body for /item/0");
    if (response.fromCache) return attempt;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return undefined;
}
