/**
 * Scaling and memory: hit latency with 1k, 100k and 1M stored entries (memory and SQLite; Redis
 * at 1k and 100k), and the heap a `MemoryBackend` entry costs beyond its body.
 *
 * The floor is timed at each size beside the memory backend: a plain `Map` of as many URLs'
 * bytes, visited in the same order (see `floorCase`). What it loses from 1k to 1M entries is what
 * cold memory costs any cache on this machine.
 *
 * Big stores are built through the `Storage` API directly — the record a session would write
 * for the origin's response, under the key a session would compute for each URL — so that
 * building a million entries takes seconds; the hits then go through a session like any other.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import type { CacheBackend } from "../backends/base.ts";
import { MemoryBackend } from "../backends/memory.ts";
import { SQLiteBackend, type SQLiteDatabase } from "../backends/sqlite.ts";
import { cacheKey } from "../src/cache_keys.ts";
import { type CacheEntry, decodeRecord, encodeEntry } from "../src/record.ts";
import { CachedSession } from "../src/session.ts";
import { openBackend, scratch } from "./_backends.ts";
import { type Budget, type Case, compare, env, type Result } from "./_measure.ts";
import type { Origin } from "./_origin.ts";
import { type Table, times, timing } from "./_report.ts";
import { type Figures, floorCase, originFields, runtimeName } from "./hits.ts";

const KEY_OPTIONS = { ignoredParameters: new Set<string>(), matchHeaders: [] as string[] };
/** Distinct URLs each timed case visits, in a random order over the whole store. */
const VISITS = 20_000;

/** A stored entry of the origin's 1 KB response, as a session writes it. */
export async function template(origin: Origin): Promise<CacheEntry> {
  const backend = new MemoryBackend();
  const session = new CachedSession({ backend });
  await (await session.fetch(`${origin.url}/1k/template`)).arrayBuffer();
  let entry: CacheEntry | undefined;
  for await (const key of backend.storage.keys()) {
    const record = decodeRecord((await backend.storage.get(key))!);
    if (record.kind === "entry") entry = { ...record.entry, body: record.entry.body.slice() };
  }
  await session.close();
  if (entry === undefined) {
    throw new Error("Cannot build the scaling stores: the template response was not stored");
  }
  return entry;
}

/** The URL of entry `i`. */
function urlOf(origin: Origin, i: number): string {
  return `${origin.url}/1k/entry-${i}`;
}

/**
 * Writes `count` entries, URLs `0 … count − 1`, through `set`, `parallel` at a time.
 *
 * @returns The bytes written.
 */
async function build(
  origin: Origin,
  entry: CacheEntry,
  count: number,
  set: (key: string, value: Uint8Array, deleteAt: number) => Promise<void>,
  options: { parallel?: number; sorted?: boolean } = {},
): Promise<number> {
  const { parallel = 1, sorted = false } = options;
  const deleteAt = entry.expiresAt + 86_400_000;
  const keys = Array.from({ length: count }, (_, i) => {
    const url = urlOf(origin, i);
    return { i, key: cacheKey({ method: "GET", url: new URL(url), headers: new Headers() }, KEY_OPTIONS) };
  });
  // In key order, a B-tree grows at its end instead of splitting pages all over.
  if (sorted) keys.sort((a, b) => a.key < b.key ? -1 : 1);
  let bytes = 0;
  let pending: Promise<void>[] = [];
  for (const { i, key } of keys) {
    const record = encodeEntry({ ...entry, url: urlOf(origin, i) });
    bytes += record.length;
    pending.push(set(key, record, deleteAt));
    if (pending.length >= parallel) {
      await Promise.all(pending);
      pending = [];
    }
  }
  await Promise.all(pending);
  return bytes;
}

/** A SQLite backend on its own database file, filled inside one transaction. */
async function sqliteStore(origin: Origin, entry: CacheEntry, count: number): Promise<CacheBackend> {
  const database = new DatabaseSync(join(scratch(), `scaling-${count}.db`));
  database.exec("PRAGMA journal_mode = WAL");
  database.exec("PRAGMA synchronous = NORMAL");
  const backend = new SQLiteBackend({ database: database as unknown as SQLiteDatabase });
  for await (const _ of backend.storage.keys()) break; // creates the table
  // A big page cache while building: a million random-key inserts otherwise churn a small one.
  database.exec("PRAGMA cache_size = -524288");
  database.exec("BEGIN");
  await build(origin, entry, count, (key, value, deleteAt) => backend.storage.set(key, value, deleteAt), {
    sorted: true,
  });
  database.exec("COMMIT");
  database.exec("PRAGMA cache_size = -2000"); // SQLite's default, for the timed hits
  const close = backend.close.bind(backend);
  backend.close = async () => {
    await close();
    database.close();
  };
  return backend;
}

/** Random visits over the whole store, the same sequence for every store of that size. */
function visits(origin: Origin, count: number): string[] {
  let x = 0x2545f491;
  return Array.from({ length: Math.min(VISITS, count * 4) }, () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return urlOf(origin, (x >>> 0) % count);
  });
}

function hitCase(name: string, session: CachedSession, urls: string[]): Case {
  let i = 0;
  return {
    name,
    run: async () => {
      const response = await session.fetch(urls[i++ % urls.length]!);
      if (!response.fromCache) throw new Error(`${name}: a stored URL went to the origin`);
      await response.arrayBuffer();
    },
  };
}

/**
 * Times hits against stores of growing size.
 *
 * @param origin The loopback origin (its URLs are only keys here: hits never reach it).
 * @param options Budget, and the largest store (`BENCH_MAX_ENTRIES` lowers it).
 * @returns The table and the figures by `"scale:<backend>:<count>"`.
 */
export async function scaling(
  origin: Origin,
  options: { budget: Budget },
): Promise<{ table: Table; figures: Figures }> {
  const entry = await template(origin);
  const fields = await originFields(urlOf(origin, 0));
  const largest = Number(env("BENCH_MAX_ENTRIES") ?? 1_000_000);
  const counts = [1_000, 100_000, 1_000_000].filter((count) => count <= largest);
  const notes: string[] = [];
  // Run before the sessions close their backends (Redis: delete what was stored).
  const cleanups: (() => Promise<void>)[] = [];
  const plan: { backend: string; count: number; open: () => Promise<CacheBackend | string> }[] = [];
  for (const count of counts.filter((count) => count <= 100_000)) {
    plan.push({
      backend: "redis",
      count,
      open: async () => {
        const opened = await openBackend("redis");
        if (opened.skip !== undefined) return opened.skip;
        const { backend } = opened;
        await build(
          origin,
          entry,
          count,
          (key, value, deleteAt) => backend.storage.set(key, value, deleteAt),
          { parallel: 256 },
        );
        cleanups.push(() => opened.close());
        return backend;
      },
    });
  }
  for (const count of counts) {
    plan.push({
      backend: "memory",
      count,
      open: async () => {
        const backend = new MemoryBackend({ maxEntries: 4_000_000, maxBytes: 8 * 1024 ** 3 });
        await build(
          origin,
          entry,
          count,
          (key, value, deleteAt) => backend.storage.set(key, value, deleteAt),
        );
        return backend;
      },
    });
  }
  for (const count of counts) {
    plan.push({
      backend: "sqlite",
      count,
      open: () => sqliteStore(origin, entry, count),
    });
  }
  const built: Record<string, number> = {};
  const figures: Figures = {};
  // One backend at a time: its stores are timed side by side, then released before the next
  // backend's are built (a million memory entries would otherwise weigh on every other case).
  for (const backendName of ["redis", "memory", "sqlite"]) {
    const cases: Case[] = [];
    const sessions: CachedSession[] = [];
    for (const { backend: name, count, open } of plan.filter((item) => item.backend === backendName)) {
      const started = performance.now();
      progress(`scaling: building ${name} with ${count.toLocaleString("en-US")} entries`);
      const backend = await open();
      if (typeof backend === "string") {
        figures[`scale:${name}:${count}`] = { skip: backend };
        if (!notes.includes(`${name}: ${backend}`)) notes.push(`${name}: ${backend}`);
        continue;
      }
      built[`${name}:${count}`] = (performance.now() - started) / 1000;
      const session = new CachedSession({ backend });
      sessions.push(session);
      cases.push(hitCase(`scale:${name}:${count}`, session, visits(origin, count)));
    }
    // The floor beside the memory backend, over a plain `Map` of as many URLs, in the same order.
    if (backendName === "memory") {
      progress("scaling: building the floor's maps");
      for (const count of counts) {
        const started = performance.now();
        const urls = Array.from({ length: count }, (_, i) => urlOf(origin, i));
        const floor = floorCase(urls, fields, entry.body.length, visits(origin, count));
        cases.push({ ...floor, name: `scale:floor:${count}` });
        built[`floor:${count}`] = (performance.now() - started) / 1000;
      }
    }
    const results = cases.length === 0 ? [] : await compare(cases, options.budget);
    for (const cleanup of cleanups.splice(0)) await cleanup();
    for (const session of sessions) await session.close();
    for (const result of results) figures[result.name] = result;
  }
  const rows: string[][] = [];
  for (const name of ["floor", "memory", "sqlite", "redis"]) {
    const base = figures[`scale:${name}:1000`];
    for (const count of counts) {
      const figure = figures[`scale:${name}:${count}`];
      if (figure === undefined || "skip" in figure) continue;
      const ratio = base !== undefined && !("skip" in base) ? figure.p50 / base.p50 : undefined;
      rows.push([
        name,
        count.toLocaleString("en-US"),
        ...timing(figure),
        times(ratio),
        `${built[`${name}:${count}`]!.toFixed(1)} s`,
      ]);
    }
  }
  return {
    table: {
      title:
        `Scaling: hits among 1k, 100k and 1M stored entries (${runtimeName()}, 1 KB bodies, random order)`,
      columns: ["backend", "entries", "hits/s", "p50 µs", "p99 µs", "p50 ÷ p50 at 1k", "built in"],
      rows,
      notes: [
        ...notes,
        `Each store is visited at ${VISITS.toLocaleString("en-US")} random URLs, cycled (at 1k, 4,000).`,
        "The floor: a plain Map of as many URLs' bytes, visited in the same order, timed beside the memory " +
        "backend: what cold memory costs any cache.",
      ],
    },
    figures,
  };
}

/**
 * Heap per stored entry of a `MemoryBackend`, beyond its body: V8 heap plus array buffers,
 * before and after storing `count` entries of the origin's 1 KB response.
 *
 * @param origin The loopback origin.
 * @param count How many entries.
 * @returns The table and figures `memory:bytesPerEntry`, `memory:overhead`, `memory:record`.
 */
export async function heapPerEntry(
  origin: Origin,
  count = 100_000,
): Promise<{ table: Table; figures: Figures }> {
  const entry = await template(origin);
  const gc = (globalThis as { gc?: () => void }).gc;
  const usage = () => {
    gc?.();
    gc?.();
    const { heapUsed, external } = memoryUsage();
    return heapUsed + external;
  };
  const backend = new MemoryBackend({ maxEntries: count, maxBytes: 8 * 1024 ** 3 });
  const before = usage();
  const bytes = await build(
    origin,
    entry,
    count,
    (key, value, deleteAt) => backend.storage.set(key, value, deleteAt),
  );
  const after = usage();
  const stored = await backend.count();
  const perEntry = (after - before) / stored;
  // The records read last keep their decoded form (1,024 of them): what serving every entry adds.
  for await (const key of backend.storage.keys()) await backend.read(key);
  const perServedEntry = (usage() - before) / stored;
  const body = entry.body.length;
  const record = bytes / count - body;
  await backend.close();
  const figures: Figures = {
    "memory:bytesPerEntry": scalar(perEntry),
    "memory:overhead": scalar(perEntry - body),
    "memory:record": scalar(record),
    "memory:servedOverhead": scalar(perServedEntry - body),
  };
  return {
    table: {
      title: `Memory: heap per entry in MemoryBackend (${runtimeName()}, ${
        count.toLocaleString("en-US")
      } entries)`,
      columns: [
        "body",
        "heap + buffers per entry",
        "beyond the body",
        "of which record metadata",
        "of which JS structures",
        "after serving each once",
      ],
      rows: [[
        `${body} B`,
        `${perEntry.toFixed(0)} B`,
        `${(perEntry - body).toFixed(0)} B`,
        `${record.toFixed(0)} B`,
        `${(perEntry - body - record).toFixed(0)} B`,
        `${(perServedEntry - body).toFixed(0)} B beyond the body`,
      ]],
      notes: [
        "Record metadata: status, URL, the origin's 6 response header fields, times, checksum (the encoded record minus the body).",
        "After serving each once: the cache also keeps the decoded form of the 1,024 small records it read last.",
        gc === undefined
          ? "Measured without --expose-gc: the figure includes garbage."
          : "Measured after a full GC (--expose-gc).",
      ],
    },
    figures,
  };
}

/** A line on stderr, so a long build shows where it is. */
export function progress(message: string): void {
  console.error(`… ${message}`);
}

/** A single measured number, stored like a timing result (in `opsPerSec`). */
function scalar(value: number): Result {
  return { name: "value", opsPerSec: value, p50: NaN, p99: NaN, ops: 1, rounds: [] };
}

function memoryUsage(): { heapUsed: number; external: number } {
  const deno = (globalThis as { Deno?: { memoryUsage(): { heapUsed: number; external: number } } }).Deno;
  if (deno !== undefined) return deno.memoryUsage();
  return (globalThis as unknown as { process: { memoryUsage(): { heapUsed: number; external: number } } })
    .process
    .memoryUsage();
}
