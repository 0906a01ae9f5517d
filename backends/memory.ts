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
import { knownOptions, positiveInteger } from "../src/backend_options.ts";
import { fillsBuffer } from "../src/bytes.ts";

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
   * @throws {TypeError} When `options` is not an object, names an unknown option, or a bound is not a number.
   * @throws {RangeError} When a bound is not a positive integer.
   */
  constructor(options: MemoryBackendOptions = {}) {
    super(new MemoryStorage(options));
  }
}

/** The byte storage behind {@linkcode MemoryBackend}. */
export class MemoryStorage implements Storage {
  readonly name: string = "memory";
  /** Stored buffers are handed out as they are and never changed. */
  readonly keepsValues: boolean = true;
  /** Most records kept. */
  readonly maxEntries: number;
  /** Most bytes kept. */
  readonly maxBytes: number;
  /** Largest record kept, in bytes: the `maxEntrySize` option, at most `maxBytes`. */
  readonly maxEntrySize: number;
  // Key → slot. A slot's record, expiry and neighbours in the order of use live in flat arrays:
  // a doubly linked list through the neighbours keeps the least recently used first, so a hit
  // and an eviction each cost a few array writes (a Map re-inserted on every use, iterated for
  // its oldest key, leaves a trail of deleted entries to skip). A slot's expiry and neighbours
  // share 16 bytes of one buffer (`#times` and `#links` view it), so in a big store a hit reads
  // them from one cache line instead of three. A record that spans its whole buffer is kept as
  // the bare ArrayBuffer: per entry that saves the wrapper object and the Uint8Array (about 150
  // bytes of a 1 KB entry's heap).
  #slots = new Map<string, number>();
  #keys: (string | undefined)[] = [];
  #values: (ArrayBuffer | Uint8Array | undefined)[] = [];
  /** Per slot, 16 bytes: the expiry (epoch ms) at `2 × slot` … */
  #times = new Float64Array(2 * FIRST_SLOTS);
  /** … the older neighbour at `4 × slot + 2`, the newer at `4 × slot + 3`. */
  #links = new Int32Array(this.#times.buffer);
  #oldest = NONE;
  #newest = NONE;
  #free: number[] = [];
  #bytes = 0;
  /**
   * No record written since the last sweep of expired records is to be deleted before this (epoch
   * ms): until then, none of them has expired, and a sweep would find nothing.
   */
  #soonest = Infinity;
  /**
   * Records evicted since the last sweep (before the first, as many as it takes): sweeps are spaced
   * by a 64th of the records.
   */
  #evicted = Infinity;

  /**
   * Creates an empty storage.
   *
   * @param options Bounds.
   * @throws {TypeError} When `options` is not an object, names an unknown option, or a bound is not a number.
   * @throws {RangeError} When a bound is not a positive integer.
   */
  constructor(options: MemoryBackendOptions = {}) {
    options = knownOptions("MemoryBackend", options, {
      maxEntries: true,
      maxBytes: true,
      maxEntrySize: true,
    });
    this.maxEntries = positiveInteger("MemoryBackend", "maxEntries", options.maxEntries, DEFAULT_MAX_ENTRIES);
    this.maxBytes = positiveInteger("MemoryBackend", "maxBytes", options.maxBytes, DEFAULT_MAX_BYTES);
    // A record larger than all the bytes kept is refused too: the session then does not collect it.
    this.maxEntrySize = Math.min(
      positiveInteger("MemoryBackend", "maxEntrySize", options.maxEntrySize, DEFAULT_MAX_ENTRY_SIZE),
      this.maxBytes,
    );
  }

  /** Bytes held by all records. */
  get bytes(): number {
    return this.#bytes;
  }

  get(key: string, peek = false): Promise<Uint8Array | undefined> {
    const slot = this.#slots.get(key);
    if (slot === undefined) return Promise.resolve(undefined);
    if (this.#times[2 * slot]! <= Date.now()) {
      this.#remove(key);
      return Promise.resolve(undefined);
    }
    if (!peek && slot !== this.#newest) {
      this.#unlink(slot);
      this.#link(slot);
    }
    const value = this.#values[slot]!;
    return Promise.resolve(value instanceof Uint8Array ? value : new Uint8Array(value));
  }

  set(key: string, value: Uint8Array, deleteAt: number): Promise<void> {
    this.#remove(key);
    if (value.length > this.maxEntrySize) return Promise.resolve();
    const slot = this.#free.pop() ?? this.#values.length;
    if (2 * slot === this.#times.length) this.#grow();
    this.#keys[slot] = key;
    this.#values[slot] = fillsBuffer(value) ? value.buffer : value;
    this.#times[2 * slot] = deleteAt;
    this.#link(slot);
    this.#slots.set(key, slot);
    this.#bytes += value.length;
    if (deleteAt < this.#soonest) this.#soonest = deleteAt;
    // Records past their `deleteAt` make room first: evicting a live one in their place would drop
    // what the cache still serves and keep what it never will.
    if (this.#full() && this.#soonest <= Date.now() && this.#evicted >= this.#slots.size >> 6) this.#sweep();
    while (this.#full()) {
      this.#remove(this.#keys[this.#oldest]!);
      this.#evicted++;
    }
    return Promise.resolve();
  }

  /** Whether the records are over a bound. */
  #full(): boolean {
    return this.#slots.size > this.maxEntries || this.#bytes > this.maxBytes;
  }

  /** Deletes every record past its `deleteAt`. */
  #sweep(): void {
    const now = Date.now();
    let soonest = Infinity;
    for (const [key, slot] of this.#slots) {
      const deleteAt = this.#times[2 * slot]!;
      if (deleteAt <= now) this.#remove(key);
      else if (deleteAt < soonest) soonest = deleteAt;
    }
    this.#soonest = soonest;
    this.#evicted = 0;
  }

  delete(keys: string[]): Promise<void> {
    for (const key of keys) this.#remove(key);
    return Promise.resolve();
  }

  async *keys(prefix = ""): AsyncIterableIterator<string> {
    // Records past `deleteAt` are gone, as for `get`, though they are removed only when read. The
    // keys are picked in one pass, which nothing can change (a write while they are handed out
    // re-inserts its key), and only those are kept: not a copy of every slot, as each of a POST's
    // invalidation listings made (35 ms per POST among 100,000 entries).
    const now = Date.now();
    const found: string[] = [];
    for (const [key, slot] of this.#slots) {
      if (key.startsWith(prefix) && this.#times[2 * slot]! > now) found.push(key);
    }
    yield* found;
  }

  clear(): Promise<void> {
    this.#slots.clear();
    this.#keys = [];
    this.#values = [];
    this.#times = new Float64Array(2 * FIRST_SLOTS);
    this.#links = new Int32Array(this.#times.buffer);
    this.#oldest = this.#newest = NONE;
    this.#free = [];
    this.#bytes = 0;
    this.#soonest = Infinity;
    this.#evicted = Infinity;
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  #remove(key: string): void {
    const slot = this.#slots.get(key);
    if (slot === undefined) return;
    this.#slots.delete(key);
    this.#unlink(slot);
    this.#bytes -= this.#values[slot]!.byteLength;
    this.#keys[slot] = undefined;
    this.#values[slot] = undefined;
    this.#free.push(slot);
  }

  /** Makes `slot` the most recently used. */
  #link(slot: number): void {
    const links = this.#links;
    links[4 * slot + OLDER] = this.#newest;
    links[4 * slot + NEWER] = NONE;
    if (this.#newest === NONE) this.#oldest = slot;
    else links[4 * this.#newest + NEWER] = slot;
    this.#newest = slot;
  }

  /** Takes `slot` out of the order of use. */
  #unlink(slot: number): void {
    const links = this.#links;
    const older = links[4 * slot + OLDER]!;
    const newer = links[4 * slot + NEWER]!;
    if (older === NONE) this.#oldest = newer;
    else links[4 * older + NEWER] = newer;
    if (newer === NONE) this.#newest = older;
    else links[4 * newer + OLDER] = older;
  }

  /** Doubles the room of the per-slot buffer. */
  #grow(): void {
    const times = new Float64Array(this.#times.length * 2);
    times.set(this.#times);
    this.#times = times;
    this.#links = new Int32Array(times.buffer);
  }
}

/** No slot: the end of the order of use. */
const NONE = -1;
/** Slots a store starts with (and starts again with when cleared); they double as it fills. */
const FIRST_SLOTS = 64;
/** Where a slot's neighbours sit in `#links`, after its expiry's two words. */
const OLDER = 2;
const NEWER = 3;
