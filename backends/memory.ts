/**
 * `MemoryBackend`: the default, in-process cache. Bounded by entry count, total bytes and entry
 * size, with least-recently-used eviction. Nothing survives the process.
 *
 * @example
 * ```ts
 * import { CachedSession } from "../mod.ts";
 * import { MemoryBackend } from "./memory.ts";
 * const session = new CachedSession({ backend: new MemoryBackend({ maxEntries: 1000 }) });
 * await session.close();
 * ```
 *
 * @module
 */

import { CacheBackend, type Storage } from "./base.ts";

/** Default bound on the number of records: 10,000. */
export const DEFAULT_MAX_ENTRIES = 10_000;
/** Default bound on the bytes of all records together: 256 MiB. */
export const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;
/** Default bound on one record: 32 MiB. Larger responses stream through unstored. */
export const DEFAULT_MAX_ENTRY_SIZE = 32 * 1024 * 1024;

/** Options of {@linkcode MemoryBackend}. */
export interface MemoryBackendOptions {
  /**
   * Most records kept; the least recently used go first.
   * @default {10_000}
   */
  maxEntries?: number;
  /**
   * Most bytes kept, all records together.
   * @default {268_435_456} (256 MiB)
   */
  maxBytes?: number;
  /**
   * Largest record kept, in bytes; a larger one is refused (the response is still served).
   * @default {33_554_432} (32 MiB)
   */
  maxEntrySize?: number;
}

/**
 * An in-memory cache with LRU eviction.
 *
 * @example Bound the cache
 * ```ts
 * import { MemoryBackend } from "./memory.ts";
 * const cache = new MemoryBackend({ maxEntries: 100, maxBytes: 10 * 1024 * 1024 });
 * console.log(await cache.count()); // 0
 * ```
 */
export class MemoryBackend extends CacheBackend {
  /**
   * Creates an empty in-memory cache.
   *
   * @param options Bounds.
   * @throws {RangeError} When a bound is not a positive integer.
   */
  constructor(options: MemoryBackendOptions = {}) {
    super(new MemoryStorage(options));
  }
}

/** The byte storage behind {@linkcode MemoryBackend}. */
export class MemoryStorage implements Storage {
  readonly name = "memory";
  /** Most records kept. */
  readonly maxEntries: number;
  /** Most bytes kept. */
  readonly maxBytes: number;
  /** Largest record kept, in bytes. */
  readonly maxEntrySize: number;
  // A Map iterates in insertion order: re-inserting on use keeps the least recently used first.
  #records = new Map<string, { value: Uint8Array; deleteAt: number }>();
  #bytes = 0;

  /**
   * Creates an empty storage.
   *
   * @param options Bounds.
   * @throws {RangeError} When a bound is not a positive integer.
   */
  constructor(options: MemoryBackendOptions = {}) {
    this.maxEntries = positive(options.maxEntries, "maxEntries", DEFAULT_MAX_ENTRIES);
    this.maxBytes = positive(options.maxBytes, "maxBytes", DEFAULT_MAX_BYTES);
    this.maxEntrySize = positive(options.maxEntrySize, "maxEntrySize", DEFAULT_MAX_ENTRY_SIZE);
  }

  /** Bytes held by all records. */
  get bytes(): number {
    return this.#bytes;
  }

  get(key: string): Promise<Uint8Array | undefined> {
    const record = this.#records.get(key);
    if (record === undefined) return Promise.resolve(undefined);
    this.#records.delete(key);
    if (record.deleteAt <= Date.now()) {
      this.#bytes -= record.value.length;
      return Promise.resolve(undefined);
    }
    this.#records.set(key, record);
    return Promise.resolve(record.value);
  }

  set(key: string, value: Uint8Array, deleteAt: number): Promise<void> {
    this.#remove(key);
    if (value.length > this.maxEntrySize || value.length > this.maxBytes) return Promise.resolve();
    this.#records.set(key, { value, deleteAt });
    this.#bytes += value.length;
    for (const oldest of this.#records.keys()) {
      if (this.#records.size <= this.maxEntries && this.#bytes <= this.maxBytes) break;
      this.#remove(oldest);
    }
    return Promise.resolve();
  }

  delete(keys: string[]): Promise<void> {
    for (const key of keys) this.#remove(key);
    return Promise.resolve();
  }

  async *keys(prefix = ""): AsyncIterableIterator<string> {
    for (const key of [...this.#records.keys()]) if (key.startsWith(prefix)) yield key;
  }

  clear(): Promise<void> {
    this.#records.clear();
    this.#bytes = 0;
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  #remove(key: string): void {
    const record = this.#records.get(key);
    if (record === undefined) return;
    this.#records.delete(key);
    this.#bytes -= record.value.length;
  }
}

function positive(value: number | undefined, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(
      `Cannot create MemoryBackend: ${option} must be a positive integer: received ${value}`,
    );
  }
  return value;
}
