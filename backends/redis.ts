/**
 * `RedisBackend`: a cache in Redis (6.2 or later), shared by every process that points at the
 * same server. Each record is one Redis string under a key prefix that carries the schema
 * version, with a native expiry (`PXAT`) at the time the record can no longer be served or
 * revalidated; reads take one round trip.
 *
 * The driver is `@redis/client`, the core of the official node-redis client without the
 * modules meta-package: it is maintained by Redis, maps bulk strings to `Buffer`s without a
 * copy, and loads faster than `ioredis` (about 75 ms against 100 ms on Node 24, measured on a
 * cold `import()` of each).
 *
 * Failure handling: every command rejects after `timeout` ms, so a hung server never hangs a
 * fetch. The storage connects on first use and never reconnects in the background; after the
 * connection fails or drops, the next command connects again, so the cache resumes by itself
 * when Redis comes back. Once open, the connection keeps the process running until `close()`.
 *
 * @example Cache responses in Redis
 * ```ts
 * import { CachedSession } from "../mod.ts";
 * import { RedisBackend } from "./redis.ts";
 *
 * // Nothing connects until the first request that uses the cache.
 * const session = new CachedSession({ backend: new RedisBackend({ url: "redis://127.0.0.1:6379" }) });
 * await session.close();
 * ```
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createClient, RESP_TYPES } from "@redis/client";
import { CacheBackend, type Storage } from "./base.ts";
import {
  eitherOf,
  injected,
  knownOptions,
  nonEmptyString,
  positiveInteger,
  redact,
  timeLimit,
} from "../src/backend_options.ts";
import { Deadlines, noAnswer } from "../src/deadline.ts";

/** Default server: `redis://127.0.0.1:6379`. */
export const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";
/** Default key prefix; `v1` is the schema version of what is stored under it. */
export const DEFAULT_REDIS_PREFIX = "http-cache:v1:";
/** Default time limit of one command, and of connecting: 2,000 ms. */
export const DEFAULT_REDIS_TIMEOUT = 2000;
/** Default bound on one record: 32 MiB. Larger responses stream through unstored. */
export const DEFAULT_REDIS_MAX_ENTRY_SIZE = 32 * 1024 * 1024;

/** The largest string Redis takes (`proto-max-bulk-len`, 512 MiB unless raised). */
const MAX_STRING = 512 * 1024 * 1024;

/** Keys asked for per SCAN step, and deleted per UNLINK. */
const BATCH = 1000;
/**
 * Options of every command: no timer of the client's own. `@redis/client` arms an
 * `AbortSignal.timeout` per command (5 s by default) that is never cleared: ~12 µs of a hit on
 * Deno, and a pile of pending timers under load. Our deadlines time each command instead.
 * Replies are mapped as the client does by default, whatever a given client was set up with
 * (`commandOptions`, `withTypeMapping`): a client that hands out bulk strings as `Buffer`s gave
 * SCAN a cursor that never equals "0", and `clear()` scanned for ever.
 */
const PLAIN: RedisCommandOptions = { timeout: 0, typeMapping: {} };
/** {@linkcode PLAIN}, with bulk strings as `Buffer`s (no copy, no decoding). */
const BINARY: RedisCommandOptions = { ...PLAIN, typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } };

/** Options of a command, as `@redis/client` takes them. */
export interface RedisCommandOptions {
  /** Rejects the command after this many ms; `0`: never (the client's default is 5 s). */
  timeout?: number;
  /** How replies are mapped to JavaScript values. */
  typeMapping?: Record<number, unknown>;
}

/** The part of a `@redis/client` client (`createClient()`) that the storage uses. */
export interface RedisClientLike {
  /** Whether the client is connected or connecting. */
  readonly isOpen: boolean;
  /** Sends one command, mapping its reply as `options` say (a GET's as bytes: `Buffer`). */
  sendCommand(args: ReadonlyArray<string | Buffer>, options?: RedisCommandOptions): Promise<unknown>;
}

interface OwnedClient extends RedisClientLike {
  connect(): Promise<unknown>;
  on(event: "error", listener: (error: Error) => void): unknown;
  close(): Promise<void>;
  destroy(): void;
}

/** Options of {@linkcode RedisBackend}. */
export interface RedisBackendOptions {
  /**
   * The server, as a `redis://` or `rediss://` URL (with user, password and database number, as
   * `redis://host:6379/3`; no query, which the client would ignore). The user and password are
   * percent-encoded (`%25` for `%`, `%40` for `@`).
   * @default {"redis://127.0.0.1:6379"}
   */
  url?: string;
  /**
   * A connected client (`await createClient().connect()`, or a pool: `createClientPool()`) to
   * use instead of `url`, not a cluster, a sentinel or a legacy-mode client (`client.legacy()`);
   * `close()` leaves it open. Its reconnection and error handling stay yours: give it an `error`
   * listener, or the client ends the process when its connection drops (a Redis restart). The
   * cache's commands are timed by `timeout`, not by the client's own command timeout.
   */
  client?: RedisClientLike;
  /**
   * Prefix of every key the cache writes, carrying the schema version; `clear()` deletes
   * exactly the keys under it.
   * @default {"http-cache:v1:"}
   */
  prefix?: string;
  /**
   * Time limit of each command and of connecting, in milliseconds: at most 2,147,483,647 (about
   * 24.8 days), the longest timer.
   * @default {2000}
   */
  timeout?: number;
  /**
   * Largest record kept, in bytes; a larger one is refused (the response is still served). At
   * most 536,870,912 (512 MiB), the largest string Redis takes.
   * @default {33_554_432} (32 MiB)
   */
  maxEntrySize?: number;
}

/**
 * A cache in Redis.
 *
 * @example Share one client with the rest of the application
 * ```ts ignore
 * import { createClient } from "@redis/client";
 * import { RedisBackend } from "./redis.ts";
 *
 * const client = createClient({ url: "redis://127.0.0.1:6379" });
 * // Without a listener, an 'error' event (Redis restarting, say) would end the process.
 * client.on("error", (error) => console.warn("Redis:", error.message));
 * await client.connect();
 * const cache = new RedisBackend({ client, prefix: "my-app:http:v1:" });
 * console.log(await cache.count());
 * await cache.close(); // the client stays open
 * client.destroy();
 * ```
 */
export class RedisBackend extends CacheBackend {
  /**
   * Creates a cache over a Redis server; nothing connects until first use.
   *
   * @param options Server, prefix and limits.
   * @throws {TypeError} When `options` is not an object, names an unknown option or gives one of the wrong
   *   kind, both `url` and `client` are given, `url` is not a Redis URL, `client` is a cluster, a
   *   sentinel or a legacy-mode client, or `prefix` is empty.
   * @throws {RangeError} When `timeout` or `maxEntrySize` is not a positive integer, `timeout`
   *   exceeds 2,147,483,647 (the longest timer), or `maxEntrySize` exceeds 536,870,912 (512 MiB, the
   *   largest string Redis takes by default).
   */
  constructor(options: RedisBackendOptions = {}) {
    super(new RedisStorage(options));
  }
}

/**
 * The byte storage behind {@linkcode RedisBackend}.
 *
 * @example Store and read bytes
 * ```ts ignore
 * import { RedisStorage } from "./redis.ts";
 *
 * const storage = new RedisStorage({ prefix: "example:v1:" });
 * await storage.set("k", new Uint8Array([1, 2, 3]), Date.now() + 60_000);
 * console.log(await storage.get("k")); // Uint8Array(3) [ 1, 2, 3 ]
 * await storage.close();
 * ```
 */
export class RedisStorage implements Storage {
  readonly name = "redis";
  /**
   * The server URL (unused when a client was injected). A getter, not a field: a field is shown
   * with its password by `console.log(session)`, `util.inspect` and `JSON.stringify`.
   */
  get url(): string {
    return this.#url;
  }
  /** Prefix of every key. */
  readonly prefix: string;
  /** Time limit of each command, in milliseconds. */
  readonly timeout: number;
  /** Largest record kept, in bytes. */
  readonly maxEntrySize: number;
  #url: string;
  #injected: RedisClientLike | undefined;
  #deadlines: Deadlines;
  #client: OwnedClient | undefined;
  #connecting: Promise<OwnedClient> | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;

  /**
   * Creates a storage; nothing connects until first use.
   *
   * @param options Server, prefix and limits.
   * @throws {TypeError} When `options` is not an object, names an unknown option or gives one of the wrong
   *   kind, both `url` and `client` are given, `url` is not a Redis URL, `client` is a cluster, a
   *   sentinel or a legacy-mode client, or `prefix` is empty.
   * @throws {RangeError} When `timeout` or `maxEntrySize` is not a positive integer, `timeout`
   *   exceeds 2,147,483,647 (the longest timer), or `maxEntrySize` exceeds 536,870,912 (512 MiB, the
   *   largest string Redis takes by default).
   */
  constructor(options: RedisBackendOptions = {}) {
    options = knownOptions("RedisBackend", options, {
      url: true,
      client: true,
      prefix: true,
      timeout: true,
      maxEntrySize: true,
    });
    eitherOf("RedisBackend", options, "url", "client");
    this.#url = nonEmptyString("RedisBackend", "url", options.url, "a redis:// or rediss:// URL") ??
      DEFAULT_REDIS_URL;
    if (!/^rediss?:\/\//.test(this.#url) || !URL.canParse(this.#url)) {
      throw new TypeError(
        `Cannot create RedisBackend: url must be a redis:// or rediss:// URL: received ${redact(this.#url)}`,
      );
    }
    // Its path is a database number or nothing: the client refuses any other path ("Invalid
    // pathname") at every connection, which would fail every request instead of this one call.
    // And no query: the client ignores one, so `?db=2` would put the cache in database 0.
    const { pathname, search, username, password } = new URL(this.#url);
    if (!/^(\/\d*)?$/.test(pathname) || search !== "") {
      throw new TypeError(
        "Cannot create RedisBackend: url must end at the host or at a database number (redis://host:6379/3): " +
          `received ${redact(this.#url)}`,
      );
    }
    // The client decodes the user and the password at every connection: one that does not
    // decode (a bare `%`, as in "pa%ss") failed every request with "URI malformed".
    if (!decodes(username) || !decodes(password)) {
      throw new TypeError(
        "Cannot create RedisBackend: url must have its user and password percent-encoded (%25 for %): " +
          `received ${redact(this.#url)}`,
      );
    }
    // Not empty: the cache owns every key under its prefix (clear() unlinks them all, and a scan
    // deletes what does not decode), so "" would hand it the whole database.
    this.prefix = nonEmptyString(
      "RedisBackend",
      "prefix",
      options.prefix,
      'a non-empty string that only the cache\'s keys start with, such as "my-app:http:v1:"',
    ) ?? DEFAULT_REDIS_PREFIX;
    injected(
      "RedisBackend",
      "client",
      options.client,
      ["sendCommand"],
      "a @redis/client client (createClient())",
    );
    // A cluster's sendCommand (createCluster()) takes a key and isReadonly before the command, a
    // sentinel's isReadonly: each took the command for those, and failed every request.
    if (options.client !== undefined && options.client.sendCommand.length > 2) {
      throw new TypeError(
        "Cannot create RedisBackend: client must be a @redis/client client (createClient()), not a cluster " +
          `or a sentinel: its sendCommand takes ${options.client.sendCommand.length} parameters, not (args, options)`,
      );
    }
    // A legacy-mode client (client.legacy()) has no isOpen, and its sendCommand takes callbacks: it
    // returned nothing (every request failed, "reading 'then'") and sent the options as an
    // argument, which the client could not encode and emitted as an 'error' event, one per command:
    // without a listener of the user's, that ended the process.
    if (options.client !== undefined && !("isOpen" in options.client)) {
      throw new TypeError(
        "Cannot create RedisBackend: client must be a @redis/client client (createClient()), not a " +
          "legacy-mode one (client.legacy()): it has no isOpen",
      );
    }
    this.timeout = timeLimit("RedisBackend", "timeout", options.timeout, DEFAULT_REDIS_TIMEOUT);
    this.#deadlines = new Deadlines(this.timeout);
    this.maxEntrySize = positiveInteger(
      "RedisBackend",
      "maxEntrySize",
      options.maxEntrySize,
      DEFAULT_REDIS_MAX_ENTRY_SIZE,
    );
    // Redis refuses a larger string (`proto-max-bulk-len`): every such record would be buffered
    // whole, sent, and then refused by the server.
    if (this.maxEntrySize > MAX_STRING) {
      throw new RangeError(
        `Cannot create RedisBackend: maxEntrySize must be at most ${MAX_STRING} ` +
          `(a Redis string holds 512 MiB): received ${this.maxEntrySize}`,
      );
    }
    this.#injected = options.client;
  }

  get(key: string): Promise<Uint8Array | undefined> {
    return this.#send(["GET", this.prefix + key], BINARY, bytesOf, notBytes);
  }

  async set(key: string, value: Uint8Array, deleteAt: number): Promise<void> {
    // A refused record must not leave the older one it was meant to replace.
    if (value.length > this.maxEntrySize) return this.delete([key]);
    const args = ["SET", this.prefix + key, Buffer.from(value.buffer, value.byteOffset, value.byteLength)];
    // Redis takes a 64-bit integer, written out in digits (String(1e21) is "1e+21"): a time beyond
    // a safe integer (some 285,000 years) is for ever.
    if (deleteAt <= Number.MAX_SAFE_INTEGER) args.push("PXAT", String(Math.max(1, Math.ceil(deleteAt))));
    await this.#send(args);
  }

  async delete(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += BATCH) {
      await this.#send(["UNLINK", ...keys.slice(i, i + BATCH).map((key) => this.prefix + key)]);
    }
  }

  async *keys(prefix = ""): AsyncIterableIterator<string> {
    for await (const batch of this.#scan(prefix)) {
      for (const key of batch) yield String(key).slice(this.prefix.length);
    }
  }

  async clear(): Promise<void> {
    // The keys as bytes: one that is not UTF-8 (another program's, under the prefix), read as
    // text, named another key, and stayed for ever, counted by every count().
    for await (const batch of this.#scan("", BINARY)) await this.#send(["UNLINK", ...batch]);
  }

  close(): Promise<void> {
    // One close for every call: a second one, made while the first waited for the connection's
    // last replies, returned at once, with the connection still open.
    return this.#closing ??= this.#close();
  }

  async #close(): Promise<void> {
    this.#closed = true;
    // A client that dropped its connection may be replaced by one still connecting: that one
    // (which sees the storage closed) is waited for, so no connection outlives close().
    const client = this.#client?.isOpen ? this.#client : await this.#connecting?.catch(() => undefined);
    this.#client = undefined;
    if (client === undefined || !client.isOpen) return;
    await this.#deadlines.race(client.close(), () => timedOut("close", this.timeout)).catch(() =>
      client.destroy()
    );
  }

  /**
   * Full keys under the storage prefix plus `prefix`, a SCAN step at a time: text, or with
   * {@linkcode BINARY}, bytes.
   */
  async *#scan(prefix: string, options = PLAIN): AsyncIterableIterator<(string | Buffer)[]> {
    const match = escapeGlob(this.prefix + prefix) + "*";
    let cursor = "0";
    do {
      // SCAN may return a key twice while Redis resizes its table; it never misses one.
      const reply = await this.#send(["SCAN", cursor, "MATCH", match, "COUNT", String(BATCH)], options) as [
        string | Buffer,
        (string | Buffer)[],
      ];
      // Text, whatever a client that ignores the options (a wrapper that drops them) maps bulk
      // strings to: a Buffer cursor never equals "0", and the scan went on for ever.
      cursor = String(reply[0]);
      if (reply[1].length > 0) yield reply[1];
    } while (cursor !== "0");
  }

  /**
   * Sends a command, timed by the deadline. A hit waits on one promise only: the command's reply,
   * mapped by `map`, settles the promise returned (no async frames around it).
   */
  #send<T = unknown>(
    args: (string | Buffer)[],
    options = PLAIN,
    map?: (reply: unknown) => T,
    recover?: (reason: unknown) => T,
  ): Promise<T> {
    const client = this.#injected ?? (this.#client?.isOpen ? this.#client : undefined);
    if (client === undefined) {
      return this.#connection().then((client) => this.#sendOn(client, args, options, map, recover));
    }
    if (client === this.#injected) return this.#sendOn(client, args, options, map, recover);
    // A connection that idled may be gone without the client knowing (a NAT, a load balancer or
    // the server dropped it, the process frozen meanwhile, as a serverless instance between
    // invocations): the command that finds it gone is sent once more, on a new connection. (Every
    // command the storage sends may be sent twice: GET, SET with an absolute PXAT, UNLINK, SCAN.)
    return this.#sendOn(client, args, options, map, (reason) => {
      if (client.isOpen || this.#closed) return fail(reason, recover);
      // (A promise, which the deadline's promise adopts: past the deadline, none is made.)
      return this.#connection().then((client) => this.#sendOn(client, args, options, map, recover)) as T;
    });
  }

  #sendOn<T>(
    client: RedisClientLike,
    args: (string | Buffer)[],
    options: RedisCommandOptions,
    map: ((reply: unknown) => T) | undefined,
    recover: ((reason: unknown) => T) | undefined,
  ): Promise<T> {
    let sent: Promise<unknown>;
    try {
      sent = client.sendCommand(args, options);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#deadlines.race(
      sent,
      () => {
        // A reply may still come for a command given up on: drop the connection, so that reply
        // can never be taken for the answer to a later command. The next command reconnects.
        const owned = this.#client;
        if (client === owned) {
          this.#client = undefined;
          owned.destroy();
        }
        return timedOut(String(args[0]), this.timeout);
      },
      map,
      recover,
    );
  }

  #connection(): Promise<RedisClientLike> {
    if (this.#injected !== undefined) return Promise.resolve(this.#injected);
    if (this.#closed) return Promise.reject(new Error("The storage is closed"));
    if (this.#client?.isOpen) return Promise.resolve(this.#client);
    // One connection attempt at a time; a failed one is forgotten, so the next call retries.
    this.#connecting ??= this.#connect()
      .then((client) => this.#client = client)
      .finally(() => this.#connecting = undefined);
    return this.#connecting;
  }

  async #connect(): Promise<OwnedClient> {
    this.#client?.destroy();
    const client: OwnedClient = createClient({
      url: this.#url,
      // No background reconnection and no offline queue: while Redis is away, commands fail
      // at once (a miss) and the next one connects again.
      socket: { connectTimeout: this.timeout, reconnectStrategy: false },
      disableOfflineQueue: true,
    });
    // Failures reach callers as rejections; an unhandled 'error' event would end the process.
    client.on("error", () => {});
    try {
      await this.#deadlines.race(client.connect(), () => timedOut("connect", this.timeout));
    } catch (error) {
      client.destroy();
      throw error;
    }
    if (this.#closed) {
      client.destroy();
      throw new Error("The storage is closed");
    }
    return client;
  }
}

/**
 * The bytes of a GET reply. A client that ignores the options (a wrapper that drops them) answers
 * with text, which cannot give back the bytes: taken for an empty record, every hit was deleted as
 * corrupt; it fails the read instead, and the record stays.
 */
function bytesOf(reply: unknown): Uint8Array | undefined {
  if (reply === null) return undefined;
  if (!(reply instanceof Uint8Array)) {
    throw new TypeError(
      `GET answered with a ${typeof reply}, not bytes: the client must apply sendCommand's options (typeMapping)`,
    );
  }
  return new Uint8Array(reply.buffer, reply.byteOffset, reply.byteLength);
}

/**
 * A key of another type under the prefix (written by something else) is no record: its empty
 * bytes do not decode, so the cache deletes it (UNLINK takes any type) instead of failing every
 * read of it.
 */
function notBytes(reason: unknown): Uint8Array {
  if (/^WRONGTYPE/.test(String((reason as Error | undefined)?.message))) return new Uint8Array(0);
  throw reason;
}

/** A command's failure, as `recover` (if any) makes it. */
function fail<T>(reason: unknown, recover: ((reason: unknown) => T) | undefined): T {
  if (recover === undefined) throw reason;
  return recover(reason);
}

/** Whether a URL's user or password decodes, as the client decodes it. */
function decodes(userinfo: string): boolean {
  try {
    decodeURIComponent(userinfo);
    return true;
  } catch {
    return false;
  }
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, "\\$&");
}

/** A Redis command given up at its time limit ({@linkcode noAnswer}). */
function timedOut(operation: string, ms: number): Error {
  return noAnswer("Redis", operation, ms);
}
