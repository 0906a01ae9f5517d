/**
 * The storage contract every backend implements, and {@linkcode CacheBackend}, the high-level
 * cache (entries, redirects, Vary variants, expiry, inspection) built on it once for all backends.
 *
 * A backend stores bytes; it never parses HTTP. Writing a backend means implementing
 * {@linkcode Storage} — six small methods and a name — and passing it to `CacheBackend`.
 *
 * @example A complete backend over a Map
 * ```ts
 * import { CacheBackend, type Storage } from "./base.ts";
 *
 * class MapStorage implements Storage {
 *   readonly name = "map";
 *   #map = new Map<string, Uint8Array>();
 *   get(key: string) { return Promise.resolve(this.#map.get(key)); }
 *   set(key: string, value: Uint8Array) { this.#map.set(key, value); return Promise.resolve(); }
 *   delete(keys: string[]) { for (const key of keys) this.#map.delete(key); return Promise.resolve(); }
 *   async *keys(prefix = "") { for (const key of this.#map.keys()) if (key.startsWith(prefix)) yield key; }
 *   clear() { this.#map.clear(); return Promise.resolve(); }
 *   close() { return Promise.resolve(); }
 * }
 *
 * const cache = new CacheBackend(new MapStorage());
 * console.log(await cache.count()); // 0
 * ```
 *
 * @module
 */

import { fillsBuffer, plainBytes } from "../src/bytes.ts";
import { BackendError, backendError } from "../src/errors.ts";
import { describe } from "../src/expiration.ts";
import {
  ALIAS_TARGETS,
  type CacheEntry,
  type DecodedRecord,
  encodeAlias,
  encodeEntry,
  OtherVersionError,
} from "../src/record.ts";
import { ALIAS_PREFIX } from "../src/cache_keys.ts";
import { invalidationsOf } from "../src/invalidations.ts";
import { DecodedHeads, DecodedRecords } from "../src/decoded_records.ts";
import { CachedResponse } from "../src/response.ts";
import {
  deleteEntries,
  type DeleteOptions,
  type ResponseFilter,
  scanEntries,
  storedBytes,
  type StoredEntry,
} from "../src/inspection.ts";

export type { DeleteOptions, DeleteProgress, ResponseFilter, StoredEntry } from "../src/inspection.ts";

/**
 * Byte-level storage: the one thing a backend has to provide. Keys are strings of printable
 * ASCII; values are opaque records. Every method may reject; the session turns a rejection into
 * a cache miss (reads) or a skipped write and reports it to `onError`.
 */
export interface Storage {
  /** Short name of the backend, used in error messages (`"sqlite"`, `"redis"`, …). */
  readonly name: string;
  /**
   * Reads a record.
   *
   * @param key The record's key.
   * @param peek Whether the read only looks at the record (the scans of the inspection API:
   *   `size()`, `entries()`, a delete by filter): a storage that evicts the least recently used
   *   records first does not count it as a use, so that looking at the cache does not reorder it.
   * @returns The stored bytes, or `undefined` when there is none: a `Uint8Array`, or a subclass
   *   such as Node's `Buffer`, which may lie inside a larger buffer.
   */
  get(key: string, peek?: boolean): Promise<Uint8Array | undefined>;
  /**
   * Writes a record, replacing any record under the same key.
   *
   * @param key The record's key.
   * @param value The bytes to store. The storage may keep the array, but must never change it:
   *   the response being served may read its body from the same memory.
   * @param deleteAt When the storage may reclaim the record (epoch ms); `Infinity` for never.
   *   This is a hint for native expiry (Redis PXAT, a TTL index, KV `expireIn`): the cache
   *   re-checks freshness on every read, so a lazy or missing expiry is never wrong.
   */
  set(key: string, value: Uint8Array, deleteAt: number): Promise<void>;
  /**
   * Deletes records; keys that do not exist are ignored.
   *
   * @param keys The keys to delete.
   */
  delete(keys: string[]): Promise<void>;
  /**
   * Lists keys, streaming (never the whole key space in memory at once).
   *
   * @param prefix Only keys that start with it (all keys when empty).
   * @returns The matching keys, in any order.
   */
  keys(prefix?: string): AsyncIterable<string>;
  /** Deletes every record of this cache (and nothing else that shares the server). */
  clear(): Promise<void>;
  /** Releases connections and handles the storage opened itself; injected clients are left open. */
  close(): Promise<void>;
  /**
   * Largest record the storage accepts, in bytes, if it has a bound. The session does not collect
   * a body larger than this: it streams through to the caller unstored.
   */
  readonly maxEntrySize?: number | undefined;
  /**
   * Whether `get` returns views of the very buffers `set` was given, which the storage never
   * changes (an in-process store). The cache then keeps the decoded form of a small record from
   * its second read on, among the 1,024 read last, and of every large one (64 KiB or more) for as
   * long as the storage keeps its bytes, so that a hot record is not decoded again on every hit.
   * Otherwise it keeps the part before the body of the small records read more than once lately
   * (and their decoded metadata): a read whose bytes start the same, at the same length, skips
   * decoding them.
   */
  readonly keepsValues?: boolean;
  /**
   * Whether `get` returns a new array on every call, which nobody else holds or changes (SQLite
   * copies each value out of its database). On Node a hit whose body the caller streams then
   * hands it a record's array that is a whole buffer of its own rather than a copy of its body (a
   * body read whole, by `arrayBuffer()` or `text()`, skips the stream and is never handed over).
   * Never `true` for a storage that returns an array it keeps (or a driver that may cache it).
   */
  readonly copiesValues?: boolean;
}

/** How many superseded keys a backend remembers (see {@linkcode CacheBackend.write}). */
const SUPERSEDED_KEPT = 4096;

/**
 * How much longer the storage keeps a record when the session has a clock of its own (`now`): ten
 * minutes. The difference between the clocks is taken when the record is written; a clock that
 * does not keep pace with the real one afterwards (a test's, moved by hand) or that differs from
 * it by less than a second would otherwise have the storage reclaim what the session still uses.
 */
export const SESSION_CLOCK_GRACE = 600_000;

/**
 * The cache as the session and its users see it: entries, redirects and inspection, over any
 * {@linkcode Storage}. Every backend class (`MemoryBackend`, `SQLiteBackend`, …) is one.
 *
 * @example Inspect a session's cache
 * ```ts
 * import { CachedSession } from "../mod.ts";
 *
 * const session = new CachedSession({
 *   fetch: () => Promise.resolve(new Response("hello", { headers: { "cache-control": "max-age=60" } })),
 * });
 * await (await session.fetch("http://127.0.0.1/greeting")).text();
 * console.log(await session.cache.count()); // 1
 * for await (const response of session.cache.responses()) console.log(response.url);
 * ```
 */
export class CacheBackend implements AsyncDisposable {
  /** The byte storage underneath. */
  readonly storage: Storage;
  /** The clock used for expiry checks (epoch ms); the session replaces it with its own `now`. */
  now: () => number = Date.now;

  /**
   * Creates a cache over a storage.
   *
   * @param storage Where the records live.
   */
  constructor(storage: Storage) {
    this.storage = storage;
  }

  /** Name of the storage backend. */
  get name(): string {
    return this.storage.name;
  }

  /**
   * Reads the record under a key.
   *
   * @param key A storage key.
   * @returns The entry, an alias's targets (the newest first), or `undefined`. Treat both as
   *   read-only: a storage that keeps values hands the same decoded record to every read of an
   *   unchanged one.
   *   `owned` is `true` when the entry's body lies in a buffer that this read alone holds (a
   *   storage that copies values): it may be handed over (transferred) instead of copied.
   * @param retry Whether a read of a key whose delete failed tries the delete again (it is a miss
   *   either way): not while the session's writes rest after failures, which would fail it too,
   *   or hold the read up for the storage's timeout.
   * @throws {BackendError} When the storage fails or the record is corrupt; a corrupt record is
   *   deleted first, so the next read is a clean miss.
   */
  read(
    key: string,
    retry = true,
  ): Promise<{ entry: CacheEntry; owned?: boolean } | { targets: string[] } | undefined> {
    if (this.#superseded.size > 0 && this.#superseded.has(key)) return this.#retire(key, retry);
    let bytes: Promise<Uint8Array | undefined>;
    try {
      bytes = Promise.resolve(this.storage.get(key));
    } catch (cause) {
      return Promise.reject(this.#error("read", cause));
    }
    // Not async, nor through #call: a hit waits for the storage's promise alone.
    return bytes.then(
      (bytes) => bytes == null ? undefined : this.#found(key, this.#bytesOf(bytes)),
      (cause) => {
        throw this.#error("read", cause);
      },
    );
  }

  /**
   * What a storage's `get` answered, as bytes. Anything else (text, an `ArrayBuffer`, a number)
   * fails the read, as a storage that fails does, and the record stays: taken for a corrupt
   * record, it was deleted on every read, and reported as corrupt.
   */
  #bytesOf(bytes: unknown): Uint8Array {
    if (bytes instanceof Uint8Array || Object.prototype.toString.call(bytes) === "[object Uint8Array]") {
      return plainBytes(bytes as Uint8Array);
    }
    throw this.#error("read", new TypeError(`get answered with ${describe(bytes)}, not a Uint8Array`));
  }

  #found(
    key: string,
    bytes: Uint8Array,
  ): { entry: CacheEntry; owned?: boolean } | { targets: string[] } | Promise<undefined> {
    try {
      const record = this.#decode(key, bytes);
      if (record.kind === "alias") return { targets: record.targets };
      const owned = this.storage.copiesValues === true && this.storage.keepsValues !== true &&
        fillsBuffer(bytes);
      return owned ? { entry: record.entry, owned } : { entry: record.entry };
    } catch (cause) {
      if (cause instanceof OtherVersionError) return this.#otherVersion(key, cause);
      return this.#corrupt(key, cause);
    }
  }

  /**
   * A record of another version is a miss, not reported: an older one is deleted (this code
   * never reads it), a newer one kept for the newer code that shares the storage (both overwrite
   * it when they store its URL again).
   */
  async #otherVersion(key: string, record: OtherVersionError): Promise<undefined> {
    if (record.older) await this.#deleteQuietly(key);
    return undefined;
  }

  async #corrupt(key: string, cause: unknown): Promise<never> {
    // (A storage that throws where it should reject is no worse: the record is corrupt either way.)
    await this.#deleteQuietly(key);
    throw new BackendError(`Cannot read ${key} from ${this.name}: the record is corrupt and was deleted`, {
      backend: this.name,
      cause,
    });
  }

  /**
   * Writes an entry.
   *
   * @param key Storage key.
   * @param entry The entry.
   * @param deleteAt When the storage may reclaim it (epoch ms), `Infinity` for never.
   * @param record The entry already encoded, when the body was read straight into its record.
   * @param clock The clock `deleteAt` counts on: the writing session's own (several sessions, each
   *   with its clock, may share a backend); by default {@linkcode CacheBackend.now}.
   * @returns Whether it was written: `false` when the record is over the storage's
   *   `maxEntrySize` (the entry it replaces is deleted).
   * @throws {BackendError} When the storage fails. The entry it replaces is deleted if it can be;
   *   if not (a full disk fails both), reads of the key are misses, each trying the delete again,
   *   until a delete or write of it succeeds.
   */
  async write(
    key: string,
    entry: CacheEntry,
    deleteAt: number,
    record?: Uint8Array,
    clock: () => number = this.now,
  ): Promise<boolean> {
    const bytes = record ?? encodeEntry(entry);
    // The bound is on the record (fields and body), not on the body alone. A record over it is
    // refused, and one the storage fails to keep is lost: either way the entry it was to replace
    // goes, so that an older response does not outlive a newer one. Where that delete fails too
    // (a full disk fails both), the key reads as a miss until a delete or write of it succeeds.
    const max = this.storage.maxEntrySize;
    if (max !== undefined && bytes.length > max) {
      await this.withdraw(key);
      return false;
    }
    try {
      await this.#call("write", () => this.storage.set(key, bytes, this.#onStorageClock(deleteAt, clock)));
    } catch (error) {
      if (!await this.#deleteQuietly(key)) this.#supersede(key);
      throw error;
    }
    this.#superseded.delete(key);
    return true;
  }

  /**
   * Deletes the entry under a key without invalidating its URL: what a session does with an entry
   * it wrote after an invalidation of its URL began, which then may not stand, while a response
   * asked for since, already on its way, is still stored. Should the delete fail, reads of the key
   * are misses, each trying the delete again, until a delete or write of it succeeds: the entry
   * is not served.
   *
   * @param key Storage key.
   * @throws {BackendError} When the storage fails.
   *
   * @example
   * ```ts
   * import { MemoryBackend } from "./memory.ts";
   * const cache = new MemoryBackend();
   * await cache.withdraw("no such key");
   * console.log(await cache.read("no such key")); // undefined
   * ```
   */
  withdraw(key: string): Promise<void> {
    return this.#remove([key]);
  }

  /**
   * Withholds the entry under a key without a call to the storage: what a session does when a
   * newer response to its request was not written, its storage out of reach (its writes rest after
   * failures). Reads of the key are misses, each trying the delete again (once writes work),
   * until a delete or write of it succeeds: the older entry is not served after the newer one was.
   *
   * @param key Storage key.
   */
  withhold(key: string): void {
    this.#supersede(key);
  }

  /** Deletes records; should the storage fail, reads of their keys are misses that try again. */
  async #remove(keys: string[]): Promise<void> {
    try {
      await this.#call("delete", () => this.storage.delete(keys));
    } catch (error) {
      for (const key of keys) this.#supersede(key);
      throw error;
    }
    if (this.#superseded.size > 0) { for (const key of keys) this.#superseded.delete(key); }
  }

  /**
   * Keys whose record may not be served, though the storage still holds it (a newer one it failed
   * to keep, a delete that failed): the last 4,096.
   */
  #superseded = new Set<string>();

  #supersede(key: string): void {
    this.#superseded.delete(key);
    this.#superseded.add(key);
    if (this.#superseded.size > SUPERSEDED_KEPT) {
      this.#superseded.delete(this.#superseded.values().next().value!);
    }
  }

  /**
   * A read of a superseded key: a miss, that tries the delete again (when `retry`). The key is read
   * first, so that a storage that is down fails this read as it fails any other (the session's
   * breaker counts it, and its look-up stops), instead of passing for a miss from a storage that
   * answers.
   */
  async #retire(key: string, retry: boolean): Promise<undefined> {
    const bytes = await this.#call("read", () => this.storage.get(key));
    if (bytes === undefined || (retry && await this.#deleteQuietly(key))) this.#superseded.delete(key);
    return undefined;
  }

  /**
   * Makes `key` an alias of `target`: reads of `key` follow it (used for redirects). The targets
   * the alias had stay after it, up to {@linkcode ALIAS_TARGETS} in all: several URLs whose
   * redirects led to one place each keep their way from it.
   *
   * @param key The alias key.
   * @param target The key holding the entry.
   * @param deleteAt When the storage may reclaim it (epoch ms).
   * @param keptFor When the storage may reclaim an entry (epoch ms), as its writer planned it:
   *   given, the alias is kept as long as the entries of the other targets it keeps, which it
   *   leads to as well (an entry a redirect led to is served only while its alias holds).
   * @param clock The clock `deleteAt` counts on, as for {@linkcode CacheBackend.write}.
   * @throws {BackendError} When the storage fails.
   */
  async writeAlias(
    key: string,
    target: string,
    deleteAt: number,
    keptFor?: (entry: CacheEntry) => number,
    clock: () => number = this.now,
  ): Promise<void> {
    // (A read that fails, or finds a corrupt record, leaves the others out: they are then not
    // served, and each is written again with its next response.)
    const known = await this.read(ALIAS_PREFIX + key).catch(() => undefined);
    const others = known !== undefined && "targets" in known ? known.targets.filter((t) => t !== target) : [];
    const targets = [target, ...others].slice(0, ALIAS_TARGETS);
    if (keptFor !== undefined && targets.length > 1) {
      // (An entry that cannot be read is not served either: it keeps the alias no longer.)
      const kept = await Promise.all(
        targets.slice(1).map((other) => this.read(other).catch(() => undefined)),
      );
      for (const found of kept) {
        if (found !== undefined && "entry" in found && found.entry.redirected) {
          deleteAt = Math.max(deleteAt, keptFor(found.entry));
        }
      }
    }
    await this.#call(
      "write",
      () => this.storage.set(ALIAS_PREFIX + key, encodeAlias(targets), this.#onStorageClock(deleteAt, clock)),
    );
  }

  /**
   * A time on a session's clock (the writer's `clock`, by default {@linkcode CacheBackend.now}) as
   * the storage counts it, on the real clock: a session clock that runs behind (a test's, one set
   * to a server's) must not have the storage reclaim what the session still uses, nor one that
   * runs ahead keep it too long.
   * The difference counts in whole seconds, rounded up (the same for an entry and its alias
   * written a moment apart); within a second, the clocks count as one. Then
   * {@linkcode SESSION_CLOCK_GRACE} more: the session's clock may not keep pace with the real one.
   */
  #onStorageClock(deleteAt: number, clock: () => number): number {
    if (clock === Date.now || !Number.isFinite(deleteAt)) return deleteAt;
    const ahead = Date.now() - clock();
    const shift = Math.abs(ahead) < 1000 ? 0 : Math.ceil(ahead / 1000) * 1000;
    return deleteAt + shift + SESSION_CLOCK_GRACE;
  }

  /**
   * Reads one cached response by key.
   *
   * @param key A cache key, as in `response.cacheKey` or {@linkcode CacheBackend.keys}.
   * @returns The response, or `undefined` when there is none.
   * @throws {BackendError} When the storage fails, or the record is corrupt (it is deleted: the
   *   next `get` resolves to `undefined`; scans skip such a record).
   */
  async get(key: string): Promise<CachedResponse | undefined> {
    const record = await this.read(key);
    if (record === undefined || !("entry" in record)) return undefined;
    return CachedResponse.fromEntry(record.entry, { cacheKey: key, clock: () => this.now() });
  }

  /**
   * Deletes the entries a filter selects, streaming through the cache and deleting in batches,
   * so it works on caches of any size. The criteria combine with AND.
   *
   * @param filter Which entries: `urls`, `urlPattern`, `expired`, `valid`, `olderThan`; at least one.
   * @param options `onProgress`, called after every batch.
   * @returns How many entries were deleted.
   * @throws {TypeError} When the filter is malformed or empty (use {@linkcode CacheBackend.clear}),
   *   or the options are (an unknown option, an `onProgress` that is no function): before anything
   *   is deleted.
   * @throws {BackendError} When the storage fails.
   *
   * @example Delete what is stale and a week old
   * ```ts
   * import { MemoryBackend } from "./memory.ts";
   * const cache = new MemoryBackend();
   * console.log(await cache.delete({ expired: true, olderThan: 7 * 86_400 })); // 0
   * console.log(await cache.delete({ urlPattern: "example.com/api/*" })); // 0
   * ```
   */
  delete(filter: ResponseFilter, options?: DeleteOptions): Promise<number>;
  /**
   * Deletes entries by key (with their aliases left to expire: an alias to nothing is a miss).
   *
   * @param keys Cache keys, as in `response.cacheKey` or {@linkcode CacheBackend.keys}.
   * @throws {BackendError} When the storage fails. Reads of the keys are then misses, each trying
   *   the delete again, until a delete or write of the key succeeds: what was to go is not served.
   */
  delete(...keys: string[]): Promise<void>;
  async delete(...args: [ResponseFilter, (DeleteOptions | undefined)?] | string[]): Promise<number | void> {
    const [first] = args;
    if (typeof first === "object" && first !== null) {
      return await deleteEntries(this, first, (args[1] ?? {}) as DeleteOptions);
    }
    const keys = args as string[];
    if (keys.some((key) => typeof key !== "string")) {
      throw new TypeError(
        `Cannot delete: pass cache keys (strings) or one filter object: received ${keys.map(String)}`,
      );
    }
    if (keys.length === 0) return;
    const invalidations = invalidationsOf(this.storage);
    await invalidations.whileDeleting(async () => {
      await invalidations.invalidatingKeys(keys);
      await this.#remove(keys);
    });
  }

  /**
   * Deletes every entry stored for the given URLs: all methods, credentials, bodies, Vary
   * variants, and redirects that end there. A URL is found as given and as each session over
   * this backend keys it (without its `ignoredParameters`), under `GET`, `HEAD` and the methods
   * those sessions store.
   *
   * @param urls Absolute URLs.
   * @throws {TypeError} When a URL is not absolute.
   * @throws {BackendError} When the storage fails.
   */
  async deleteUrls(...urls: (string | URL)[]): Promise<void> {
    await deleteEntries(this, { urls }, {});
  }

  /**
   * Deletes every entry that is no longer fresh.
   *
   * @returns How many entries were deleted.
   * @throws {BackendError} When the storage fails.
   */
  async deleteExpired(): Promise<number> {
    return await deleteEntries(this, { expired: true });
  }

  /**
   * Deletes everything this cache stored.
   *
   * @throws {BackendError} When the storage fails.
   */
  async clear(): Promise<void> {
    const invalidations = invalidationsOf(this.storage);
    await invalidations.whileDeleting(async () => {
      await invalidations.invalidatingAll();
      await this.#call("clear", () => this.storage.clear());
    });
    invalidations.cleared();
  }

  /**
   * Lists the keys of all entries (not of redirect aliases), streaming.
   *
   * @returns The keys.
   * @throws {BackendError} When the storage fails.
   */
  async *keys(): AsyncIterableIterator<string> {
    try {
      for await (const key of this.storage.keys()) if (!key.startsWith(ALIAS_PREFIX)) yield key;
    } catch (cause) {
      throw this.#error("list", cause);
    }
  }

  /**
   * Lists the distinct URLs of the stored responses, sorted. It holds the distinct URLs (not
   * the responses) in memory; {@linkcode CacheBackend.entries} streams instead.
   *
   * @param filter Which entries (see {@linkcode ResponseFilter}).
   * @returns The URLs.
   * @throws {TypeError} When the filter is malformed.
   * @throws {BackendError} When the storage fails.
   */
  async urls(filter: ResponseFilter = {}): Promise<string[]> {
    const urls = new Set<string>();
    for await (const { entry } of scanEntries(this, filter, "list urls")) urls.add(entry.url);
    return [...urls].sort();
  }

  /**
   * Streams the stored responses, a batch of records at a time, never the whole cache; corrupt
   * records are deleted and skipped. The order is the storage's.
   *
   * @param filter Which entries (see {@linkcode ResponseFilter}).
   * @returns The responses.
   * @throws {TypeError} When the filter is malformed.
   * @throws {BackendError} When the storage fails.
   *
   * @example The URLs of stale API responses
   * ```ts
   * import { MemoryBackend } from "./memory.ts";
   * const cache = new MemoryBackend();
   * for await (const response of cache.responses({ expired: true, urlPattern: "api.example.com/*" })) {
   *   console.log(response.url, response.expiresAt);
   * }
   * ```
   */
  async *responses(filter: ResponseFilter = {}): AsyncIterableIterator<CachedResponse> {
    for await (const { key, entry } of scanEntries(this, filter, "list responses")) {
      yield CachedResponse.fromEntry(entry, { cacheKey: key, clock: () => this.now() });
    }
  }

  /**
   * Streams the stored entries as they are kept — key, metadata, body and record size —
   * without building `Response`s: the cheap way to report on a large cache.
   *
   * @param filter Which entries (see {@linkcode ResponseFilter}).
   * @returns The entries.
   * @throws {TypeError} When the filter is malformed.
   * @throws {BackendError} When the storage fails.
   *
   * @example Bytes held by each host
   * ```ts
   * import { MemoryBackend } from "./memory.ts";
   * const cache = new MemoryBackend();
   * const hosts = new Map<string, number>();
   * for await (const { entry, size } of cache.entries()) {
   *   const host = new URL(entry.url).host;
   *   hosts.set(host, (hosts.get(host) ?? 0) + size);
   * }
   * console.log(hosts.size); // 0
   * ```
   */
  entries(filter: ResponseFilter = {}): AsyncIterableIterator<StoredEntry> {
    return scanEntries(this, filter, "list entries");
  }

  /**
   * Counts the stored responses. Without a filter only keys are listed; a filter reads records.
   *
   * @param filter Which entries (see {@linkcode ResponseFilter}).
   * @returns How many there are.
   * @throws {TypeError} When the filter is malformed.
   * @throws {BackendError} When the storage fails.
   */
  async count(filter: ResponseFilter = {}): Promise<number> {
    let count = 0;
    if (typeof filter === "object" && filter !== null && Object.keys(filter).length === 0) {
      for await (const _ of this.keys()) count++;
      return count;
    }
    for await (const _ of scanEntries(this, filter, "count")) count++;
    return count;
  }

  /**
   * Adds up the bytes of every stored record — metadata, headers and bodies of entries, and
   * redirect aliases — as the storage holds them (its own overhead not included). It reads
   * every record, a batch at a time.
   *
   * @returns The size in bytes.
   * @throws {BackendError} When the storage fails.
   */
  async size(): Promise<number> {
    return await storedBytes(this);
  }

  /**
   * Closes the storage.
   *
   * @throws {BackendError} When the storage fails to close.
   */
  async close(): Promise<void> {
    await this.#call("close", () => this.storage.close());
  }

  /** Closes the storage (`await using cache = new MemoryBackend()`). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * Decoded records for a storage that keeps values, decoded heads for one that hands out new
   * bytes on every read (made on the first read).
   */
  #decoded: DecodedRecords | DecodedHeads | undefined;

  /** Decodes a record, or finds it (or its metadata) decoded. */
  #decode(key: string, bytes: Uint8Array): DecodedRecord {
    this.#decoded ??= this.storage.keepsValues === true ? new DecodedRecords() : new DecodedHeads();
    return this.#decoded.decode(key, bytes);
  }

  /**
   * Deletes a key, and ignores whatever goes wrong: for a store that fails already.
   *
   * @returns Whether it was deleted.
   */
  #deleteQuietly(key: string): Promise<boolean> {
    return Promise.resolve().then(() => this.storage.delete([key])).then(() => true, () => false);
  }

  async #call<T>(operation: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (cause) {
      throw this.#error(operation, cause);
    }
  }

  #error(operation: string, cause: unknown): BackendError {
    return backendError(this.name, operation, cause);
  }
}
