/**
 * Misses: what the cache adds to a request that goes to the origin — look-up, key, the body
 * split between the caller and the cache, the write — over plain `fetch` of the same bodies from
 * the same loopback origin, body read to the end. Every request asks for a new URL, so every
 * one is a miss that is stored (in a `MemoryBackend`).
 *
 * Beside them, the floor of a miss: plain `fetch` that keeps a copy of each body and does nothing
 * else, bounded as a `MemoryBackend` is by default. Whatever a cache does, it pays for that.
 *
 * @module
 */

import { CachedSession } from "../src/session.ts";
import { DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES, MemoryBackend } from "../backends/memory.ts";
import { type Budget, compare, type Result } from "./_measure.ts";
import type { Origin } from "./_origin.ts";
import { micros, rate, SIZE_LABEL, type Table, timing } from "./_report.ts";
import { type Figures, runtimeName } from "./hits.ts";

/** Requests per slice for each size: a 10 MB request takes milliseconds. */
export const MAX_OPS: Record<string, number> = { "1k": Infinity, "100k": 2000, "10m": 12 };

/**
 * A store of copies and nothing more, bounded by the memory backend's defaults, oldest out first.
 *
 * @returns A function that keeps a copy of the bytes it is given.
 */
function keeper(): (body: ArrayBuffer) => void {
  const kept = new Map<number, Uint8Array>();
  let serial = 0, bytes = 0;
  return (body) => {
    const copy = new Uint8Array(body).slice();
    kept.set(serial++, copy);
    bytes += copy.length;
    while (kept.size > DEFAULT_MAX_ENTRIES || bytes > DEFAULT_MAX_BYTES) {
      const [oldest, dropped] = kept.entries().next().value!;
      kept.delete(oldest);
      bytes -= dropped.length;
    }
  };
}

/**
 * Times misses against plain fetch.
 *
 * @param origin The loopback origin.
 * @param options Sizes and budget.
 * @returns The table and the figures by `"miss:<size>"` and `"fetch:<size>"`.
 */
export async function misses(
  origin: Origin,
  options: { sizes: string[]; budget: Budget },
): Promise<{ table: Table; figures: Figures }> {
  const figures: Figures = {};
  const rows: string[][] = [];
  const notes: string[] = [];
  const session = new CachedSession({ backend: new MemoryBackend() });
  const keep = keeper();
  let serial = 0;
  for (const size of options.sizes) {
    const url = () => `${origin.url}/${size}/miss-${++serial}`;
    const [plain, copy, cached] = await compare([
      {
        name: "fetch",
        run: async () => {
          await (await fetch(url())).arrayBuffer();
        },
      },
      {
        name: "copy",
        run: async () => {
          keep(await (await fetch(url())).arrayBuffer());
        },
      },
      {
        name: "miss",
        run: async () => {
          const response = await session.fetch(url());
          if (response.fromCache) throw new Error("miss: a new URL was served from the cache");
          await response.arrayBuffer();
        },
      },
    ], { ...options.budget, maxOps: MAX_OPS[size] }) as [Result, Result, Result];
    // A miss of this size is stored: the next request for its URL is a hit.
    const probe = url();
    await (await session.fetch(probe)).arrayBuffer();
    const again = await session.fetch(probe);
    await again.arrayBuffer();
    if (!again.fromCache) notes.push(`${SIZE_LABEL[size]}: the response was not stored`);
    figures[`fetch:${size}`] = plain;
    figures[`copy:${size}`] = copy;
    figures[`miss:${size}`] = cached;
    const overhead = (result: Result) => `${((plain.opsPerSec / result.opsPerSec - 1) * 100).toFixed(1)}%`;
    rows.push([
      SIZE_LABEL[size]!,
      rate(plain.opsPerSec),
      micros(plain.p50),
      ...timing(cached),
      overhead(cached),
      overhead(copy),
    ]);
  }
  await session.close();
  return {
    table: {
      title: `Misses against plain fetch (${runtimeName()}, loopback origin, body read to the end)`,
      columns: [
        "body",
        "fetch req/s",
        "fetch p50 µs",
        "miss req/s",
        "miss p50 µs",
        "miss p99 µs",
        "overhead",
        "floor: a kept copy",
      ],
      rows,
      notes: [
        "Every request is a new URL: a miss, collected and stored while the caller reads it (checked).",
        "Overhead = time per request through the cache ÷ time per plain fetch − 1, from requests per second.",
        "The floor: plain fetch keeping a copy of each body and nothing else (at most 10,000 bodies and " +
        "256 MiB, the memory backend's defaults), timed beside them: what any cache that stores pays.",
        ...notes,
      ],
    },
    figures,
  };
}
