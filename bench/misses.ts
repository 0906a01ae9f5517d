/**
 * Misses: what the cache adds to a request that goes to the origin — look-up, key, the body
 * split between the caller and the cache, the write — over plain `fetch` of the same bodies from
 * the same loopback origin, body read to the end. Every request asks for a new URL, so every
 * one is a miss that is stored (in a `MemoryBackend`).
 *
 * @module
 */

import { CachedSession } from "../src/session.ts";
import { MemoryBackend } from "../backends/memory.ts";
import { type Budget, compare, type Result } from "./_measure.ts";
import type { Origin } from "./_origin.ts";
import { micros, rate, SIZE_LABEL, type Table, timing } from "./_report.ts";
import { type Figures, runtimeName } from "./hits.ts";

/** Requests per slice for each size: a 10 MB request takes milliseconds. */
export const MAX_OPS: Record<string, number> = { "1k": Infinity, "100k": 2000, "10m": 12 };

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
  let serial = 0;
  for (const size of options.sizes) {
    const url = () => `${origin.url}/${size}/miss-${++serial}`;
    const [plain, cached] = await compare([
      {
        name: "fetch",
        run: async () => {
          await (await fetch(url())).arrayBuffer();
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
    ], { ...options.budget, maxOps: MAX_OPS[size] }) as [Result, Result];
    // A miss of this size is stored: the next request for its URL is a hit.
    const probe = url();
    await (await session.fetch(probe)).arrayBuffer();
    const again = await session.fetch(probe);
    await again.arrayBuffer();
    if (!again.fromCache) notes.push(`${SIZE_LABEL[size]}: the response was not stored`);
    figures[`fetch:${size}`] = plain;
    figures[`miss:${size}`] = cached;
    rows.push([
      SIZE_LABEL[size]!,
      rate(plain.opsPerSec),
      micros(plain.p50),
      ...timing(cached),
      `${((plain.opsPerSec / cached.opsPerSec - 1) * 100).toFixed(1)}%`,
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
      ],
      rows,
      notes: [
        "Every request is a new URL: a miss, collected and stored while the caller reads it (checked).",
        "Overhead = time per request through the cache ÷ time per plain fetch − 1, from requests per second.",
        ...notes,
      ],
    },
    figures,
  };
}
