/**
 * Inspection at scale: a SQLite cache of 1,000,000 entries, scanned and half deleted, with the
 * V8 heap capped, to show the scans stream. It prints the time of each step and the peak heap
 * and resident memory; nothing here is asserted (timings belong to the machine).
 *
 * ```sh
 * deno run --v8-flags=--expose-gc,--max-old-space-size=96 --allow-read --allow-write --allow-env bench/inspection_1m.ts [count]
 * ```
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { CacheBackend, type Storage } from "../backends/base.ts";
import { SQLITE_TABLE, SQLiteBackend, SQLiteStorage } from "../backends/sqlite.ts";
import { urlKeyPrefix } from "../src/cache_keys.ts";
import { encodeEntry } from "../src/record.ts";

const count = Number(Deno.args[0] ?? 1_000_000);
const dir = await Deno.makeTempDir({ prefix: "http_cache_1m_" });
const path = `${dir}/cache.db`;

// Create the table through the backend, then fill it in one transaction (a million separate
// writes would measure SQLite's commits, not the scans).
const setup = new SQLiteBackend({ path });
await setup.count();
await setup.close();
const db = new DatabaseSync(path);
const insert = db.prepare(`INSERT INTO ${SQLITE_TABLE} (key, delete_at, size, value) VALUES (?, NULL, ?, ?)`);
const now = Date.now();
let started = performance.now();
db.exec("BEGIN");
for (let i = 0; i < count; i++) {
  const url = `https://api.example.com/items/${i}?page=${i % 100}`;
  const record = encodeEntry({
    method: "GET",
    url,
    redirected: false,
    status: 200,
    statusText: "OK",
    headers: [["content-type", "application/json"], ["etag", `"${i}"`], ["cache-control", "max-age=3600"]],
    vary: [],
    requestTime: now,
    responseTime: now,
    createdAt: now - (i % 10) * 86_400_000,
    expiresAt: i % 2 === 0 ? now - 1 : now + 3_600_000,
    varyGeneration: 0,
    body: new TextEncoder().encode(JSON.stringify({ id: i, name: `item ${i}` })),
  });
  insert.run(await urlKeyPrefix("GET", new URL(url)), record.length, record);
}
db.exec("COMMIT");
db.close();
console.log(
  `filled ${count} entries in ${seconds(started)} (${
    (Deno.statSync(path).size / 2 ** 20).toFixed(0)
  } MiB file)`,
);

// SQLite calls are synchronous, so a scan never yields to a timer: memory is sampled from the
// key listing instead, every 50,000 keys.
let peakHeap = 0, peakRss = 0, listed = 0;
function sample(): void {
  // With --expose-gc, count what is retained, not garbage waiting for the collector.
  (globalThis as { gc?: () => void }).gc?.();
  const memory = Deno.memoryUsage();
  peakHeap = Math.max(peakHeap, memory.heapUsed);
  peakRss = Math.max(peakRss, memory.rss);
}
const sqlite = new SQLiteStorage({ path });
const sampled: Storage = {
  name: sqlite.name,
  get: (key) => sqlite.get(key),
  set: (key, value, deleteAt) => sqlite.set(key, value, deleteAt),
  delete: (keys) => sqlite.delete(keys),
  async *keys(prefix) {
    for await (const key of sqlite.keys(prefix)) {
      if (++listed % 50_000 === 0) sample();
      yield key;
    }
  },
  clear: () => sqlite.clear(),
  close: () => sqlite.close(),
};
const cache = new CacheBackend(sampled);
const steps: [string, () => Promise<unknown>][] = [
  ["count()", () => cache.count()],
  ["count({ expired: true })", () => cache.count({ expired: true })],
  ["size()", () => cache.size()],
  ["entries({ urlPattern }) stream", async () => {
    let n = 0;
    for await (const _ of cache.entries({ urlPattern: "api.example.com/items/1*" })) n++;
    return n;
  }],
  ["delete({ expired: true })", () => cache.delete({ expired: true })],
  ["count() after", () => cache.count()],
];
for (const [name, step] of steps) {
  started = performance.now();
  const result = await step();
  console.log(`${name.padEnd(32)} ${String(result).padStart(10)}  ${seconds(started)}`);
}
await cache.close();
console.log(
  `peak heap (after GC) ${(peakHeap / 2 ** 20).toFixed(0)} MiB, peak RSS ${
    (peakRss / 2 ** 20).toFixed(0)
  } MiB`,
);
await Deno.remove(dir, { recursive: true });

function seconds(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)} s`;
}
