/**
 * Real things for the reliability tests and the stress script: a loopback HTTP origin that
 * counts what reaches it, and every backend opened the way a user would open it (a SQLite file,
 * the Redis and MongoDB of `scripts/services.sh`, a Deno KV file).
 *
 * Runtime-neutral (`node:` modules only), so the same tests run on Deno, Node and Bun.
 *
 * @module
 */

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { join } from "node:path";
import type { CacheBackend, Storage } from "../backends/base.ts";
import type { KvKey, KvLike } from "../backends/deno_kv.ts";
import { MemoryBackend } from "../backends/memory.ts";
import { SQLiteBackend } from "../backends/sqlite.ts";
import { urlKeyPrefix } from "../src/cache_keys.ts";
import { uninstallCache } from "../src/install.ts";
import { BackendError } from "../src/errors.ts";
import type { CacheEntry } from "../src/record.ts";
import { tempDir } from "./_runtime.ts";
import { serviceUrl } from "./_services.ts";

/** Answers one request of the loopback origin. */
export type Handler = (request: IncomingMessage, response: ServerResponse) => void | Promise<void>;

/** A loopback HTTP server that counts requests. */
export interface Loopback {
  /** Base URL, `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** Requests received so far. */
  readonly hits: number;
  /** Requests received per path. */
  hitsOf(path: string): number;
  /** Stops listening and drops every open connection. */
  close(): Promise<void>;
}

/**
 * Starts an HTTP server on a free port of 127.0.0.1.
 *
 * @param handler Answers each request.
 * @returns The running server.
 */
export async function loopback(handler: Handler): Promise<Loopback> {
  let hits = 0;
  const paths = new Map<string, number>();
  const sockets = new Set<Socket>();
  const server = createServer((request, response) => {
    hits++;
    const path = new URL(request.url ?? "/", "http://127.0.0.1").pathname;
    paths.set(path, (paths.get(path) ?? 0) + 1);
    Promise.resolve(handler(request, response)).catch(() => response.destroy());
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get hits() {
      return hits;
    },
    hitsOf: (path) => paths.get(path) ?? 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A loopback origin whose every answer is fresh for ten minutes, and new (`response 1`, `response 2`, …). */
export function freshOrigin(): Promise<Loopback> {
  let n = 0;
  return loopback((_request, response) => {
    response.writeHead(200, { "cache-control": "max-age=600" }).end(`response ${++n}`);
  });
}

/** Resolves after `ms` milliseconds (to shape an origin's timing, never to assert on time). */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Records the delay of every timer armed with `setTimeout` (each still armed) until `restore()`.
 *
 * @returns The delays, in the order armed, and how to stop recording.
 */
export function armedTimers(): { delays: number[]; restore(): void } {
  const delays: number[] = [];
  const setTimer = globalThis.setTimeout;
  globalThis.setTimeout = ((handler: () => void, delay?: number) => {
    delays.push(delay ?? 0);
    return setTimer(handler, delay);
  }) as typeof globalThis.setTimeout;
  return { delays, restore: () => void (globalThis.setTimeout = setTimer) };
}

/** Settles with `work`, or rejects after `ms`: a request that hangs fails its test instead of stalling the run. */
export function within<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<never>((_, reject) =>
    timer = setTimeout(() => reject(new Error(`hung ${ms} ms`)), ms)
  );
  return Promise.race([work, hung]).finally(() => clearTimeout(timer));
}

/**
 * Counts the `abort` listeners on every `AbortSignal` from now on, until `restore()`.
 *
 * @returns `most()`: the most listeners left on one signal; `restore()` puts the methods back.
 */
export function abortListeners(): { most: () => number; restore: () => void } {
  const live = new Map<EventTarget, Set<unknown>>();
  const prototype = AbortSignal.prototype;
  const { addEventListener: add, removeEventListener: remove } = prototype;
  prototype.addEventListener = function (
    this: AbortSignal,
    type: string,
    listener: unknown,
    options?: unknown,
  ) {
    if (type === "abort") live.set(this, (live.get(this) ?? new Set()).add(listener));
    add.call(this, type, listener as EventListener, options as AddEventListenerOptions);
  };
  prototype.removeEventListener = function (
    this: AbortSignal,
    type: string,
    listener: unknown,
    options?: unknown,
  ) {
    if (type === "abort") live.get(this)?.delete(listener);
    remove.call(this, type, listener as EventListener, options as EventListenerOptions);
  };
  return {
    most: () => Math.max(0, ...[...live.values()].map((listeners) => listeners.size)),
    restore: () => {
      prototype.addEventListener = add;
      prototype.removeEventListener = remove;
    },
  };
}

/** `length` bytes of a pattern that `seed` shifts: bodies that differ from each other. */
export function patterned(length: number, seed = 0): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) % 251;
  return out;
}

/** Resolves once `condition()` holds, checked every millisecond. */
export async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await delay(1);
}

/** A directory for this test module's files, removed when it ends. */
export const scratch: string = tempDir("http_cache_reliability_");

let files = 0;

/** Bounds to open a backend with: `maxEntrySize` on every backend, `maxEntries` where it has one. */
export interface Limits {
  /** Largest record kept, in bytes. */
  maxEntrySize?: number;
  /** Most records kept (memory and SQLite; the others have no such bound). */
  maxEntries?: number;
}

/** One backend to run a scenario against. */
export interface BackendCase {
  /** The backend's name. */
  name: string;
  /** Why it cannot run here, if it cannot. */
  skip?: string | undefined;
  /** Opens a fresh, empty cache of this backend, within `limits`. */
  open(limits?: Limits): Promise<CacheBackend>;
  /**
   * Opens a fresh, empty cache twice, as two processes share one: two handles on one file, prefix
   * or collection. (The memory backend lives in one process: it is the same handle twice.)
   */
  openTwice(limits?: Limits): Promise<[CacheBackend, CacheBackend]>;
}

const redis = serviceUrl("REDIS_URL");
const mongodb = serviceUrl("MONGODB_URL");

/** A backend opened at a place (a file, a prefix, a collection): each new place is a fresh cache. */
function opened(
  name: string,
  skip: string | undefined,
  place: () => string,
  at: (place: string, limits: Limits) => Promise<CacheBackend>,
): BackendCase {
  return {
    name,
    skip,
    open: (limits = {}) => at(place(), limits),
    async openTwice(limits = {}) {
      const shared = place();
      return [await at(shared, limits), await at(shared, limits)];
    },
  };
}

/** The bound of `limits` that every backend has. */
function entrySize({ maxEntrySize }: Limits): { maxEntrySize?: number } {
  return maxEntrySize === undefined ? {} : { maxEntrySize };
}

/**
 * Every backend, opened on the real thing: memory, a SQLite file, the Redis and MongoDB of
 * `scripts/services.sh` (a fresh prefix or collection each time) and, on Deno, a Deno KV file.
 */
export const BACKENDS: readonly BackendCase[] = [
  {
    name: "memory",
    open: (limits = {}) => Promise.resolve(new MemoryBackend(limits)),
    openTwice(limits = {}) {
      const backend = new MemoryBackend(limits);
      return Promise.resolve([backend, backend]);
    },
  },
  opened(
    "sqlite",
    undefined,
    () => join(scratch, `cache_${files++}.db`),
    (path, limits) => Promise.resolve(new SQLiteBackend({ path, ...limits })),
  ),
  opened("redis", redis.skip, () => `http-cache-test:${crypto.randomUUID()}:v1:`, async (prefix, limits) => {
    const { RedisBackend } = await import("../backends/redis.ts");
    return new RedisBackend({ url: redis.url!, prefix, ...entrySize(limits) });
  }),
  opened(
    "mongodb",
    mongodb.skip,
    () => `reliability_${crypto.randomUUID().slice(0, 8)}_v1`,
    async (collection, limits) => {
      const { MongoDBBackend } = await import("../backends/mongodb.ts");
      return new MongoDBBackend({
        url: mongodb.url!,
        db: "http_cache_test",
        collection,
        ...entrySize(limits),
      });
    },
  ),
  opened(
    "deno-kv",
    undefined,
    () => join(scratch, `cache_${files++}.kv`),
    async (path, limits) => {
      const { DenoKVBackend } = await import("../backends/deno_kv.ts");
      return new DenoKVBackend({ path, ...entrySize(limits) });
    },
  ),
];

/**
 * Empties a cache and closes it, ignoring a backend that is already gone.
 *
 * @param backend The cache.
 */
export async function dispose(backend: CacheBackend): Promise<void> {
  await backend.clear().catch(() => {});
  await backend.close().catch(() => {});
}

/** What every call to a {@linkcode Switched} store fails with while it is down. */
export const STORE_DOWN = "the store is down";

/**
 * Makes a SQLite cache file holding some entries, each under the key a session gives its method
 * and URL: what the CLI's tests inspect.
 *
 * @param path The file.
 * @param entries The entries.
 * @returns The file's path.
 */
export async function sqliteCacheFile(path: string, entries: readonly CacheEntry[]): Promise<string> {
  const cache = new SQLiteBackend({ path });
  for (const stored of entries) {
    await cache.write(urlKeyPrefix(stored.method, new URL(stored.url)), stored, Infinity);
  }
  await cache.count(); // (The file is made on first use.)
  await cache.close();
  return path;
}

/**
 * Whether an error is the cache's report of a call to a {@linkcode Switched} store that was down.
 *
 * @param error The error.
 * @returns Whether it is.
 */
export function storeDown(error: unknown): boolean {
  return error instanceof BackendError && (error.cause as Error).message === STORE_DOWN;
}

/**
 * A store that can go down, as a database server does: while it is down every call fails, and
 * once it is back it holds what it held before. While it is `full` (a Redis at `maxmemory` with
 * `noeviction`), only its writes fail; while its `deletesFail`, only its deletes. It counts the
 * calls made to it, and those under way.
 */
export class Switched implements Storage {
  down: boolean;
  full = false;
  deletesFail = false;
  /** Calls made to it, and those not settled yet. */
  calls = 0;
  pending = 0;
  readonly #storage: Storage;

  /**
   * @param storage The store.
   * @param down Whether it starts down.
   */
  constructor(storage: Storage, down = false) {
    this.#storage = storage;
    this.down = down;
  }
  get name(): string {
    return this.#storage.name;
  }
  get maxEntrySize(): number | undefined {
    return this.#storage.maxEntrySize;
  }
  get keepsValues(): boolean {
    return this.#storage.keepsValues === true;
  }
  get copiesValues(): boolean {
    return this.#storage.copiesValues === true;
  }
  get(key: string): Promise<Uint8Array | undefined> {
    return this.#reach(() => this.#storage.get(key));
  }
  set(key: string, value: Uint8Array, deleteAt: number): Promise<void> {
    return this.#reach(() =>
      this.full
        ? Promise.reject(new Error("OOM: the store is full"))
        : this.#storage.set(key, value, deleteAt)
    );
  }
  delete(keys: string[]): Promise<void> {
    return this.#reach(() =>
      this.deletesFail ? Promise.reject(new Error("disk full")) : this.#storage.delete(keys)
    );
  }
  async *keys(prefix?: string): AsyncIterable<string> {
    await this.#reach(() => Promise.resolve());
    yield* this.#storage.keys(prefix);
  }
  clear(): Promise<void> {
    return this.#reach(() => this.#storage.clear());
  }
  close(): Promise<void> {
    return this.#storage.close();
  }
  #reach<T>(call: () => Promise<T>): Promise<T> {
    this.calls++;
    if (this.down) return Promise.reject(new Error(STORE_DOWN));
    this.pending++;
    return call().finally(() => this.pending--);
  }
}

/** A KV database opened the way the tests inspect it: `Deno.openKv` on Deno, `@deno/kv` elsewhere. */
export type Kv = KvLike & { set(key: KvKey, value: unknown): Promise<unknown> };

export async function openKv(path: string): Promise<Kv> {
  const deno = (globalThis as { Deno?: { openKv?: (path: string) => Promise<Kv> } }).Deno;
  if (deno?.openKv) return await deno.openKv(path);
  const { openKv } = await import("@deno/kv");
  // Only bytes are stored: the V8 value codec (which Bun lacks) is never needed.
  const noV8 = (): never => {
    throw new TypeError("Cannot encode value: the tests store bytes only");
  };
  return await openKv(path, { encodeV8: noV8, decodeV8: noV8 }) as unknown as Kv;
}

/** An `installCache` / `uninstallCache` pair, of this copy of the module or of another. */
type InstallModule = Pick<typeof import("../src/install.ts"), "uninstallCache">;

/**
 * Runs `body` with `globalThis.fetch` set to `fetch` (deleted for `undefined`), then uninstalls
 * the cache (of this module and of each of `copies`) and puts back the fetch it found.
 */
export async function withGlobalFetch(
  fetch: typeof globalThis.fetch | undefined,
  body: () => void | Promise<void>,
  copies: readonly InstallModule[] = [],
): Promise<void> {
  const found = globalThis.fetch;
  const global = globalThis as { fetch?: typeof globalThis.fetch };
  if (fetch === undefined) delete global.fetch;
  else global.fetch = fetch;
  try {
    await body();
  } finally {
    for (const copy of copies) copy.uninstallCache();
    uninstallCache();
    globalThis.fetch = found;
  }
}
