/**
 * `DenoKVBackend`: a cache in Deno KV — a local SQLite file, a KV Connect URL or, on Deno
 * Deploy, the project's own database. Deno uses the built-in `Deno.openKv` (run it with
 * `--unstable-kv`); Node and Bun use the npm package `@deno/kv`, loaded only there.
 *
 * A KV value holds at most 64 KiB and one atomic commit at most ~800 KiB, so a large record is
 * split into chunks written under a fresh generation id before a small manifest that names the
 * generation is committed. A reader follows one manifest to one generation, so it never sees a
 * mix of two versions; records up to ~63 KiB live inline in the manifest (one round trip).
 * Processes that share a local file take turns: a commit that finds the file locked by another
 * handle is tried again.
 *
 * @example Cache responses in Deno KV
 * ```ts
 * import { CachedSession } from "../mod.ts";
 * import { DenoKVBackend } from "./deno_kv.ts";
 *
 * // A file path ("http_cache.kv"), a KV Connect URL, or nothing for the default database.
 * const session = new CachedSession({
 *   backend: new DenoKVBackend({ path: ":memory:" }),
 *   fetch: () => Promise.resolve(new Response("hello", { headers: { "cache-control": "max-age=60" } })),
 * });
 * await (await session.fetch("http://127.0.0.1/greeting")).text();
 * const response = await session.fetch("http://127.0.0.1/greeting");
 * console.log(response.fromCache, await response.text()); // true hello
 * await session.close();
 * ```
 *
 * @module
 */

import { CacheBackend, type Storage } from "./base.ts";
import {
  eitherOf,
  injected,
  knownOptions,
  MAX_TIMEOUT,
  nonEmptyString,
  positiveInteger,
  timeLimit,
} from "../src/backend_options.ts";
import { joined } from "../src/bytes.ts";
import { Deadlines } from "../src/deadline.ts";
import { KvConnectRequests, timed, timedOut } from "../src/kv_timed.ts";
import { expirerOf, openKv } from "../src/kv_open.ts";
import { describe } from "../src/expiration.ts";
import { CorruptRecordError } from "../src/errors.ts";
import { commit, committed, deleteKeys, deleteListed } from "../src/kv_commits.ts";
import { fittedKey, keyBytes, keyRoom } from "../src/kv_keys.ts";
import { CHUNK_SIZE, encodeManifest, inlineBody, type Manifest, readManifest } from "../src/kv_manifest.ts";

/** Default key prefix: every key of the cache starts with it; `"v1"` is the schema version. */
export const DEFAULT_PREFIX: readonly string[] = ["http_cache", "v1"];
/** Default bound on one record: 32 MiB. Larger responses stream through unstored. */
export const DEFAULT_MAX_ENTRY_SIZE = 32 * 1024 * 1024;
/** Default time limit of each request to a database that may be remote, and of opening it: 5,000 ms. */
export const DEFAULT_KV_TIMEOUT = 5000;

/** A Deno KV key: an array of key parts. */
export type KvKey = readonly unknown[];

/** The part of `Deno.Kv` (or of the `@deno/kv` npm package's `Kv`) that the backend uses. */
export interface KvLike {
  /** Reads one key. */
  get(key: KvKey): Promise<{ value: unknown; versionstamp: string | null }>;
  /** Lists keys in a range, in key order. */
  list(
    selector: { prefix: KvKey } | { start: KvKey; end: KvKey },
    options?: { batchSize?: number },
  ): AsyncIterable<{ key: KvKey; value: unknown }>;
  /** Starts an atomic operation. */
  atomic(): KvAtomic;
  /** Closes the database. */
  close(): void;
}

/** The atomic operation of {@linkcode KvLike}. */
export interface KvAtomic {
  /** Fails the commit unless the key still has this versionstamp (`null`: absent). */
  check(...checks: { key: KvKey; versionstamp: string | null }[]): KvAtomic;
  /** Writes a key; `expireIn` (ms) lets KV delete it some time after. */
  set(key: KvKey, value: unknown, options?: { expireIn?: number }): KvAtomic;
  /** Deletes a key. */
  delete(key: KvKey): KvAtomic;
  /** Commits; `ok` is false when a check failed. */
  commit(): Promise<{ ok: boolean }>;
}

/** Options of {@linkcode DenoKVBackend}. */
export interface DenoKVBackendOptions {
  /**
   * A database file path or a KV Connect URL. Without it (and without `kv`), Deno opens its
   * default database — on Deno Deploy, the project's database — and Node and Bun an in-memory one.
   */
  path?: string;
  /** An open `Deno.Kv` or `@deno/kv` instance to use instead; `close()` leaves it open. */
  kv?: KvLike;
  /**
   * Prefix of every key the cache writes; the last part is the schema version. It takes at most
   * 1,977 bytes of KV's 2,048-byte keys (each part its UTF-8 bytes and 2).
   * @default {["http_cache", "v1"]}
   */
  prefix?: readonly string[];
  /**
   * Largest record kept, in bytes; a larger one is refused (the response is still served).
   * @default {33_554_432} (32 MiB)
   */
  maxEntrySize?: number;
  /**
   * Time limit, in milliseconds, of each request to a database that may be remote (a KV Connect
   * URL as `path`, or a `kv` given that is not Deno's own `Deno.Kv`): opening it, each read, commit
   * (a chunked record takes several) and page of a listing. A local file the backend opens is not
   * timed: it cannot hang. At most 2,147,483,647 (about 24.8 days), the longest timer.
   * @default {5000}
   */
  timeout?: number;
}

/**
 * A cache in Deno KV.
 *
 * @example Share one database with the rest of the app
 * ```ts
 * import { DenoKVBackend } from "./deno_kv.ts";
 *
 * const kv = await Deno.openKv(":memory:");
 * const cache = new DenoKVBackend({ kv, prefix: ["my_app", "http", "v1"] });
 * console.log(await cache.count()); // 0
 * await cache.close(); // kv stays open
 * kv.close();
 * ```
 */
export class DenoKVBackend extends CacheBackend {
  /**
   * Creates the cache; the database is opened on first use.
   *
   * @param options Where the database is, key prefix, size bound.
   * @throws {TypeError} When `options` is not an object, names an unknown option or gives one of the wrong
   *   kind, `prefix` is empty, or Deno runs without `--unstable-kv` and no `kv` is given.
   * @throws {RangeError} When `maxEntrySize` or `timeout` is not a positive integer, `timeout` is longer
   *   than the longest timer, or `prefix` takes more than 1,977 bytes of a KV key (each part its UTF-8
   *   bytes and 2), leaving no room for the cache's keys.
   */
  constructor(options: DenoKVBackendOptions = {}) {
    super(new DenoKVStorage(options));
  }
}

/** Most bytes of one commit: each set counts its key twice and its value once. */
const MAX_COMMIT_BYTES = 800 * 1024;
// Chunks outlive their manifest: KV's lazy expiry never reclaims them under a live reader.
const CHUNK_EXPIRY_MARGIN = 60 * 60 * 1000;
const MAX_ATTEMPTS = 8;
// Beyond a century KV refuses the expiry time; such a record simply never expires natively.
const MAX_EXPIRE_IN = 100 * 365 * 24 * 60 * 60 * 1000;
/**
 * The same for an in-memory `@deno/kv` database given as `kv`: it arms a timer for the soonest
 * expiry, and one past the longest timer (about 24.8 days) fires after 1 ms, and again every
 * millisecond (a fifth of a core, and a warning each time on Bun) until it comes. The chunks'
 * margin is kept within it too. (One the backend opens has its timer bounded: `tameExpirer`.)
 */
const MAX_TIMED_EXPIRE_IN = MAX_TIMEOUT - CHUNK_EXPIRY_MARGIN;
const PARALLEL_DELETES = 16;

/** The byte storage behind {@linkcode DenoKVBackend}. */
export class DenoKVStorage implements Storage {
  readonly name = "deno-kv";
  /** Prefix of every key. */
  readonly prefix: readonly string[];
  /** Largest record kept, in bytes. */
  readonly maxEntrySize: number;
  #path: string | undefined;
  #injected: KvLike | undefined;
  #kv: Promise<KvLike> | undefined;
  /** The time limits of a database that may be remote; none for a local one the storage opens. */
  #deadlines: Deadlines | undefined;
  /** The fetch `@deno/kv` sends KV Connect requests with: the global one when the storage was made. */
  #fetch: typeof fetch;
  /** The KV Connect requests of the database that may be remote opened last, ended by close(). */
  #requests: KvConnectRequests | undefined;
  /** Bytes that the last part of an entry's KV key may take. */
  #keyRoom: number;
  /** Chunks written by one commit: 12, or 11 under a prefix of more than 1,823 bytes. */
  #chunksPerCommit: number;

  /**
   * Creates a storage; the database is opened on first use.
   *
   * @param options Where the database is, key prefix, size bound.
   * @throws {TypeError} When `options` is not an object, names an unknown option or gives one of the wrong
   *   kind, `prefix` is empty, or Deno runs without `--unstable-kv` and no `kv` is given.
   * @throws {RangeError} When `maxEntrySize` or `timeout` is not a positive integer, `timeout` is longer
   *   than the longest timer, or `prefix` takes more than 1,977 bytes of a KV key (each part its UTF-8
   *   bytes and 2), leaving no room for the cache's keys.
   */
  constructor(options: DenoKVBackendOptions = {}) {
    const name = "DenoKVBackend";
    options = knownOptions(name, options, {
      path: true,
      kv: true,
      prefix: true,
      maxEntrySize: true,
      timeout: true,
    });
    const { prefix = DEFAULT_PREFIX } = options;
    // findIndex, not every: it also stops at a hole (`[, "v1"]`), which every skips.
    if (
      !Array.isArray(prefix) || prefix.length === 0 ||
      prefix.findIndex((part) => typeof part !== "string") !== -1
    ) {
      const allowed = 'a non-empty array of strings, such as ["my_app", "http", "v1"]';
      throw new TypeError(`Cannot create ${name}: prefix must be ${allowed}: received ${describe(prefix)}`);
    }
    nonEmptyString(name, "path", options.path, "a database file path or a KV Connect URL");
    eitherOf(name, options, "path", "kv");
    injected(name, "kv", options.kv, ["get", "list", "atomic", "close"], "an open Deno.Kv (or @deno/kv Kv)");
    const maxEntrySize = positiveInteger(name, "maxEntrySize", options.maxEntrySize, DEFAULT_MAX_ENTRY_SIZE);
    const timeout = timeLimit(name, "timeout", options.timeout, DEFAULT_KV_TIMEOUT);
    const deno = (globalThis as { Deno?: { openKv?: unknown } }).Deno;
    if (options.kv === undefined && deno !== undefined && typeof deno.openKv !== "function") {
      throw new TypeError(`Cannot create DenoKVBackend: Deno.openKv is missing: run Deno with --unstable-kv`);
    }
    this.prefix = [...prefix];
    this.maxEntrySize = maxEntrySize;
    this.#path = options.path;
    this.#injected = options.kv;
    // A KV Connect server that accepts and never answers held every call for good on Node and Bun
    // (`@deno/kv` times nothing), and for 30 s on Deno. Deno's own `Deno.Kv`, given (on Deno
    // Deploy, say), times its own requests: its reads, a hit's, are not raced.
    const native = (globalThis as { Deno?: { Kv?: abstract new () => unknown } }).Deno?.Kv;
    const remote = /^https?:\/\//i.test(options.path ?? "") ||
      (options.kv !== undefined && !(native !== undefined && options.kv instanceof native));
    this.#deadlines = remote ? new Deadlines(timeout) : undefined;
    // Taken now, before `installCache` (given this storage's backend) replaces the global fetch:
    // through the cache, a KV Connect request's `POST` invalidated its URL, a delete that waited
    // for the database being opened by that very request, so the first fetch hung for good.
    this.#fetch = globalThis.fetch;
    this.#keyRoom = keyRoom(name, prefix);
    this.#chunksPerCommit = Math.floor(
      MAX_COMMIT_BYTES / (CHUNK_SIZE + 2 * keyBytes(this.#chunkKey(crypto.randomUUID(), 0))),
    );
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const kv = await this.#open();
    const entryKey = this.#entryKey(key);
    let seen: string | undefined;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const { value, versionstamp } = await kv.get(entryKey);
      if (value === null) return undefined;
      const manifest = readManifest(value);
      if (manifest === undefined) {
        await this.delete([key]);
        throw new CorruptRecordError(
          `Cannot read ${key} from Deno KV: its manifest is corrupt and was deleted`,
        );
      }
      if (manifest.deleteAt <= Date.now()) return undefined;
      if (manifest.chunks === 0) {
        return inlineBody(value as Uint8Array, manifest);
      }
      // Seeing the same generation twice with a chunk gone means it was damaged, not replaced (a
      // clear() of another handle that deleted its chunks before its manifest, as it lists them,
      // while a write of it committed): it goes, unless rewritten since, or it would be listed
      // and counted for good, and no delete that reads records could remove it.
      if (manifest.generation === seen) {
        if (await committed(() => kv.atomic().check({ key: entryKey, versionstamp }).delete(entryKey))) {
          await this.#deleteChunks(kv, manifest);
        }
        return undefined;
      }
      seen = manifest.generation;
      const body = await this.#readChunks(kv, manifest);
      if (body !== undefined) return body;
    }
    return undefined;
  }

  async set(key: string, value: Uint8Array, deleteAt: number): Promise<void> {
    const now = Date.now();
    if (value.length > this.maxEntrySize || deleteAt <= now) return await this.delete([key]);
    const kv = await this.#open();
    const longest = this.#injected !== undefined && expirerOf(this.#injected) !== undefined
      ? MAX_TIMED_EXPIRE_IN
      : MAX_EXPIRE_IN;
    const expireIn = deleteAt - now < longest ? Math.ceil(deleteAt - now) : undefined;
    const inline = value.length <= CHUNK_SIZE;
    const manifest: Manifest = {
      deleteAt,
      length: value.length,
      chunks: inline ? 0 : Math.ceil(value.length / CHUNK_SIZE),
      generation: inline ? "" : crypto.randomUUID(),
    };
    let previous: { value: unknown; versionstamp: string | null } | undefined;
    try {
      previous = await this.#commitNew(kv, key, value, manifest, expireIn);
    } finally {
      // A failed or superseded write leaves no chunks behind; one that landed removes those it replaced.
      const replaced = previous === undefined ? manifest : readManifest(previous.value);
      await this.#deleteChunks(kv, replaced);
    }
  }

  async delete(keys: string[]): Promise<void> {
    const kv = await this.#open();
    for (let first = 0; first < keys.length; first += PARALLEL_DELETES) {
      await Promise.all(keys.slice(first, first + PARALLEL_DELETES).map((key) => this.#deleteOne(kv, key)));
    }
  }

  async *keys(prefix = ""): AsyncIterableIterator<string> {
    const kv = await this.#open();
    // Keys are printable ASCII, so every key that starts with `prefix` sorts below `end`. (A
    // long key is listed in its short form, which a prefix longer than its start does not find.)
    const from = prefix.slice(0, Math.max(0, this.#keyRoom - 8));
    const start = [...this.prefix, "entry", from];
    const end = [...this.prefix, "entry", from + "\uffff"];
    for await (const { key, value } of kv.list({ start, end }, { batchSize: 100 })) {
      const name = key[key.length - 1] as string;
      if (!name.startsWith(prefix) || (readManifest(value)?.deleteAt ?? Infinity) <= Date.now()) continue;
      yield name;
    }
  }

  async clear(): Promise<void> {
    await deleteListed(await this.#open(), this.prefix);
  }

  async close(): Promise<void> {
    const kv = this.#kv;
    this.#kv = undefined;
    this.#requests?.end();
    this.#requests = undefined;
    if (kv === undefined || this.#injected !== undefined) return;
    const closed = kv.then((opened) => opened.close(), () => {});
    // A KV Connect database still being opened (a server that does not answer) is closed once it
    // opens, not waited for: closing one sends nothing.
    if (this.#deadlines === undefined) await closed;
  }

  #open(): Promise<KvLike> {
    return this.#kv ??= this.#opened().catch((error) => {
      this.#kv = undefined;
      throw error;
    });
  }

  /** Opens the database; one that may be remote within its time limit, and timed from then on. */
  async #opened(): Promise<KvLike> {
    const deadlines = this.#deadlines;
    if (deadlines === undefined) return await openKv(this.#path, this.#injected, this.#fetch);
    this.#requests = new KvConnectRequests(this.#fetch, deadlines);
    const opening = openKv(this.#path, this.#injected, this.#requests.fetch);
    const kv = await deadlines.race(opening, () => timedOut("open the database", deadlines.ms)).catch(
      (error) => {
        // (Opened after all, it is nobody's: the next call opens the database anew.)
        if (this.#injected === undefined) opening.then((late) => late.close(), () => {});
        throw error;
      },
    );
    return timed(kv, deadlines);
  }

  #entryKey(key: string): KvKey {
    return [...this.prefix, "entry", fittedKey(key, this.#keyRoom)];
  }

  #chunkKey(generation: string, index: number): readonly (string | number)[] {
    // A generation is a fresh UUID: it names its chunks alone, and a chunk key stays short however
    // long the record's key is (KV keys hold 2 KiB, and a commit counts its keys' bytes).
    return [...this.prefix, "chunk", generation, index];
  }

  async #commitNew(
    kv: KvLike,
    key: string,
    value: Uint8Array,
    manifest: Manifest,
    expireIn: number | undefined,
  ): Promise<{ value: unknown; versionstamp: string | null } | undefined> {
    const chunkOptions = expireIn === undefined ? {} : { expireIn: expireIn + CHUNK_EXPIRY_MARGIN };
    for (let first = 0; first < manifest.chunks; first += this.#chunksPerCommit) {
      await commit(() => {
        const operation = kv.atomic();
        for (let i = first; i < Math.min(manifest.chunks, first + this.#chunksPerCommit); i++) {
          const chunk = value.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE);
          operation.set(this.#chunkKey(manifest.generation, i), chunk, chunkOptions);
        }
        return operation;
      });
    }
    const record = encodeManifest(manifest, manifest.chunks === 0 ? value : undefined);
    const entryKey = this.#entryKey(key);
    // The check tells this writer which generation it replaced, so it deletes exactly that one.
    // When it fails, another write or delete committed while this one ran: that one counts as
    // the later of the two, so this write is superseded (its chunks go), not retried.
    const previous = await kv.get(entryKey);
    const landed = await committed(() =>
      kv.atomic()
        .check({ key: entryKey, versionstamp: previous.versionstamp })
        .set(entryKey, record, expireIn === undefined ? {} : { expireIn })
    );
    return landed ? previous : undefined;
  }

  async #deleteOne(kv: KvLike, key: string): Promise<void> {
    const entryKey = this.#entryKey(key);
    for (let attempt = 1;; attempt++) {
      const { value, versionstamp } = await kv.get(entryKey);
      if (versionstamp === null) return;
      // Should other writers rewrite it at every try, the last goes through unchecked, as the
      // later of them (a delete must not fail for a write it raced): the chunks of a generation
      // committed since the read are left to their expiry, as those of a write cut short are.
      const atomic = () =>
        attempt <= MAX_ATTEMPTS ? kv.atomic().check({ key: entryKey, versionstamp }) : kv.atomic();
      if (await committed(() => atomic().delete(entryKey))) {
        return await this.#deleteChunks(kv, readManifest(value));
      }
    }
  }

  /**
   * Reads a record's chunks: into one allocation of its length when this handle could have
   * written it, else (longer than it keeps: another handle's, with a larger `maxEntrySize`, or a
   * crafted manifest's) gathered as they come, so that a length of a terabyte sizes nothing.
   */
  async #readChunks(kv: KvLike, manifest: Manifest): Promise<Uint8Array | undefined> {
    const body = manifest.length <= this.maxEntrySize ? new Uint8Array(manifest.length) : undefined;
    const parts: Uint8Array[] = [];
    let index = 0;
    let at = 0;
    const prefix = [...this.prefix, "chunk", manifest.generation];
    for await (const { key: chunkKey, value } of kv.list({ prefix }, { batchSize: 16 })) {
      if (chunkKey[chunkKey.length - 1] !== index || !(value instanceof Uint8Array)) return undefined;
      if (at + value.length > manifest.length) return undefined;
      if (body === undefined) parts.push(value);
      else body.set(value, at);
      at += value.length;
      index++;
    }
    if (index !== manifest.chunks || at !== manifest.length) return undefined;
    return body ?? joined(parts);
  }

  /**
   * Deletes the chunks of a record: by their keys, which its chunk count gives, when this handle
   * could have written it; else (longer than it keeps) those listed under its generation, so that
   * a crafted count of four billion chunks sizes no loop (nor the memory for their keys).
   */
  async #deleteChunks(kv: KvLike, manifest: Manifest | undefined): Promise<void> {
    if (manifest === undefined) return;
    if (manifest.length > this.maxEntrySize) {
      return await deleteListed(kv, [...this.prefix, "chunk", manifest.generation]);
    }
    const keys = Array.from(
      { length: manifest.chunks },
      (_, i) => this.#chunkKey(manifest.generation, i),
    );
    await deleteKeys(kv, keys);
  }
}
