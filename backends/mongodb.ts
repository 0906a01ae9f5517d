/**
 * `MongoDBBackend`: a cache in a MongoDB collection, one document per record:
 * `{ _id: key, value: BinData, deleteAt: Date | null }`. The value is raw BSON binary, never
 * base64. A TTL index on `deleteAt` (`expireAfterSeconds: 0`) lets the server reclaim records;
 * because its monitor runs only once a minute, reads also ignore documents whose `deleteAt`
 * has passed. The collection name carries the schema version (`responses_v1`).
 *
 * **Records of 16 MiB and more are refused, not split.** A MongoDB document holds at most
 * 16 MiB, so `maxEntrySize` defaults to 16 MiB less 64 KiB (room for the key and the other
 * fields), and a larger record is silently not stored: the response is still served, just not
 * cached. Splitting records over chunk documents (as GridFS does) would need a manifest and a
 * two-phase write to stay consistent without transactions, for responses that rarely belong in
 * a shared database cache; use the SQLite backend for those.
 *
 * Failure handling: each call (get, set, delete, clear, a page of keys) gives up after `timeout` ms in all,
 * whatever the driver is doing (selecting a server, connecting, retrying), so a hung server never
 * hangs a fetch. The storage connects on first use; after a failed connection, or an operation
 * that timed out or lost the server, the next call connects again with a new client (a client
 * you gave is kept: the next call uses it again). Once open, the connection keeps the process
 * running until `close()`.
 *
 * @example Cache responses in MongoDB
 * ```ts
 * import { CachedSession } from "../mod.ts";
 * import { MongoDBBackend } from "./mongodb.ts";
 *
 * // Nothing connects until the first request that uses the cache.
 * const backend = new MongoDBBackend({ url: "mongodb://127.0.0.1:27017", db: "http_cache" });
 * const session = new CachedSession({ backend });
 * await session.close();
 * ```
 *
 * @module
 */

import { Binary, type Collection, MongoClient } from "mongodb";
import { CacheBackend, type Storage } from "./base.ts";
import {
  injected,
  knownOptions,
  nonEmptyString,
  positiveInteger,
  redact,
  timeLimit,
} from "../src/backend_options.ts";
import { Deadlines, noAnswer } from "../src/deadline.ts";
import { describe } from "../src/expiration.ts";
import { checkMongoNames, deleteBatches, fitsUpsert, INDEX_CONFLICTS } from "../src/mongo_limits.ts";

/** Default server: `mongodb://127.0.0.1:27017`. */
export const DEFAULT_MONGODB_URL = "mongodb://127.0.0.1:27017";
/** Default database: `http_cache`. */
export const DEFAULT_MONGODB_DB = "http_cache";
/** Default collection; `v1` is the schema version of its documents. */
export const DEFAULT_MONGODB_COLLECTION = "responses_v1";
/** Default time limit of server selection, connecting, socket reads and queries: 2,000 ms. */
export const DEFAULT_MONGODB_TIMEOUT = 2000;
/** Default (and largest useful) bound on one record: 16 MiB less 64 KiB, in bytes. */
export const DEFAULT_MONGODB_MAX_ENTRY_SIZE = 16 * 1024 * 1024 - 64 * 1024;

/** The latest time a `Date` holds (epoch ms). */
const MAX_DATE = 8.64e15;

/** Keys fetched per cursor batch, and deleted per `deleteMany` at most. */
const BATCH = 1000;

/**
 * Documents read as the driver reads them by default, whatever a given client, database or
 * collection was set up with: under `promoteBuffers` a record's value came back as a `Buffer`,
 * not a `Binary`, and every hit was taken for a corrupt record and deleted; under `raw` nothing
 * was decoded at all.
 */
const PLAIN_DOCUMENTS = { raw: false, promoteBuffers: false } as const;

/** A stored record as a document. */
export interface MongoRecord {
  /** The storage key. */
  _id: string;
  /** The record bytes. */
  value: Binary;
  /** When the server may delete the document; `null` for never. */
  deleteAt: Date | null;
}

/** Options of {@linkcode MongoDBBackend}. */
export interface MongoDBBackendOptions {
  /**
   * The server or replica set, as a `mongodb://` or `mongodb+srv://` connection string. The
   * driver parses it at construction (nothing connects), so a malformed one throws there. Its
   * path (`/DB`) does not name the cache's database: `db` does.
   * @default {"mongodb://127.0.0.1:27017"}
   */
  url?: string;
  /**
   * A `MongoClient` to use instead of `url`; `close()` leaves it open. It connects on its first
   * operation, as the driver has it: one you closed stays closed, and the cache's calls fail.
   */
  client?: MongoClient;
  /**
   * The database.
   * @default {"http_cache"}
   */
  db?: string;
  /**
   * The collection: a name in `db`, or a `Collection` to use as it is (then `url`, `client`
   * and `db` may not be given, and `close()` closes nothing). It belongs to the cache: `clear()`
   * empties it.
   * @default {"responses_v1"}
   */
  collection?: string | Collection | Collection<MongoRecord>;
  /**
   * Time limit of each call of the storage, in milliseconds, from connecting to the answer. It
   * is also the driver's server selection, connect and socket timeout (for a client the storage
   * creates) and each query's `maxTimeMS` (for every client). At most 2,147,483,647 (about 24.8
   * days), the longest timer.
   * @default {2000}
   */
  timeout?: number;
  /**
   * Largest record kept, in bytes; a larger one is refused (the response is still served). It
   * cannot exceed the default, which leaves room for the rest of a 16 MiB document.
   * @default {16_711_680} (16 MiB − 64 KiB)
   */
  maxEntrySize?: number;
}

/**
 * A cache in MongoDB.
 *
 * @example Use an existing client
 * ```ts ignore
 * import { MongoClient } from "mongodb";
 * import { MongoDBBackend } from "./mongodb.ts";
 *
 * const client = new MongoClient("mongodb://127.0.0.1:27017");
 * const cache = new MongoDBBackend({ client, db: "my_app", collection: "http_cache_v1" });
 * console.log(await cache.count());
 * await cache.close(); // the client stays open
 * await client.close();
 * ```
 */
export class MongoDBBackend extends CacheBackend {
  /**
   * Creates a cache over a MongoDB collection; nothing connects until first use.
   *
   * @param options Server, collection and limits.
   * @throws {TypeError} When `options` is not an object, names an unknown option or gives one of the wrong
   *   kind, `url` is given with `client` or a `Collection`, or is not a connection string the driver
   *   accepts (checked without connecting), `client` or `db` is
   *   given with a `Collection`, or `db` or `collection` is not a name MongoDB allows.
   * @throws {RangeError} When `timeout` or `maxEntrySize` is not a positive integer, `timeout`
   *   exceeds 2,147,483,647 (the longest timer), or `maxEntrySize` exceeds
   *   {@linkcode DEFAULT_MONGODB_MAX_ENTRY_SIZE}.
   */
  constructor(options: MongoDBBackendOptions = {}) {
    super(new MongoDBStorage(options));
  }
}

/**
 * The byte storage behind {@linkcode MongoDBBackend}.
 *
 * @example Store and read bytes
 * ```ts ignore
 * import { MongoDBStorage } from "./mongodb.ts";
 *
 * const storage = new MongoDBStorage({ collection: "example_v1" });
 * await storage.set("k", new Uint8Array([1, 2, 3]), Date.now() + 60_000);
 * console.log(await storage.get("k")); // Uint8Array(3) [ 1, 2, 3 ]
 * await storage.close();
 * ```
 */
export class MongoDBStorage implements Storage {
  readonly name = "mongodb";
  /** Time limit in milliseconds. */
  readonly timeout: number;
  /** Largest record kept, in bytes. */
  readonly maxEntrySize: number;
  #options: MongoDBBackendOptions;
  #deadlines: Deadlines;
  /** The connection in use or being made; its client is `undefined` when it is the user's. */
  #connected: Promise<Connection> | undefined;
  #indexed: Promise<unknown> | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;

  /**
   * Creates a storage; nothing connects until first use.
   *
   * @param options Server, collection and limits.
   * @throws {TypeError} When `options` is not an object, names an unknown option or gives one of the wrong
   *   kind, `url` is given with `client` or a `Collection`, or is not a connection string the driver
   *   accepts (checked without connecting), `client` or `db` is
   *   given with a `Collection`, or `db` or `collection` is not a name MongoDB allows.
   * @throws {RangeError} When `timeout` or `maxEntrySize` is not a positive integer, `timeout`
   *   exceeds 2,147,483,647 (the longest timer), or `maxEntrySize` exceeds
   *   {@linkcode DEFAULT_MONGODB_MAX_ENTRY_SIZE}.
   */
  constructor(options: MongoDBBackendOptions = {}) {
    options = knownOptions("MongoDBBackend", options, {
      url: true,
      client: true,
      db: true,
      collection: true,
      timeout: true,
      maxEntrySize: true,
    });
    nonEmptyString("MongoDBBackend", "url", options.url, "a mongodb:// or mongodb+srv:// URL");
    injected("MongoDBBackend", "client", options.client, ["db", "connect"], "a MongoClient");
    if (typeof options.collection !== "string") {
      injected(
        "MongoDBBackend",
        "collection",
        options.collection,
        ["findOne", "replaceOne", "deleteMany", "find"],
        "a collection name or a Collection",
      );
    }
    if (options.db !== undefined && typeof options.db !== "string") {
      throw new TypeError(
        `Cannot create MongoDBBackend: db must be a database name: received ${describe(options.db)}`,
      );
    }
    const given = options.client !== undefined || typeof options.collection === "object";
    if (options.url !== undefined && given) {
      throw new TypeError(
        "Cannot create MongoDBBackend: give either url or client (or a Collection), not both",
      );
    }
    // A Collection says where the records are on its own: a client or db beside it would be
    // ignored without a word.
    for (const option of ["client", "db"] as const) {
      if (options[option] !== undefined && typeof options.collection === "object") {
        throw new TypeError(
          `Cannot create MongoDBBackend: give either ${option} or a Collection as collection, not both`,
        );
      }
    }
    if (options.url !== undefined && !/^mongodb(\+srv)?:\/\//.test(options.url)) {
      throw new TypeError(
        `Cannot create MongoDBBackend: url must start with mongodb:// or mongodb+srv://: received ${
          redact(options.url)
        }`,
      );
    }
    checkMongoNames(options, DEFAULT_MONGODB_DB);
    this.timeout = timeLimit("MongoDBBackend", "timeout", options.timeout, DEFAULT_MONGODB_TIMEOUT);
    // The driver parses the connection string when a client is made, which connects nothing; a
    // string it refuses would otherwise fail every request instead of the construction.
    if (options.url !== undefined) newClient(options.url, this.timeout);
    this.#deadlines = new Deadlines(this.timeout);
    this.maxEntrySize = positiveInteger(
      "MongoDBBackend",
      "maxEntrySize",
      options.maxEntrySize,
      DEFAULT_MONGODB_MAX_ENTRY_SIZE,
    );
    if (this.maxEntrySize > DEFAULT_MONGODB_MAX_ENTRY_SIZE) {
      throw new RangeError(
        `Cannot create MongoDBBackend: maxEntrySize must be at most ${DEFAULT_MONGODB_MAX_ENTRY_SIZE} ` +
          `(a document holds 16 MiB): received ${this.maxEntrySize}`,
      );
    }
    // (As read once above, inherited ones too: the database is opened, or connected to, later.)
    this.#options = options;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const document = await this.#run(
      "read",
      (collection) => collection.findOne({ _id: key }, { ...PLAIN_DOCUMENTS, maxTimeMS: this.timeout }),
    );
    if (document === null || isPast(document.deleteAt)) return undefined;
    // A document that holds no BinData (written by something else, or damaged) is no record: its
    // empty bytes do not decode, so the cache deletes it instead of failing every read of it.
    if ((document.value as { _bsontype?: unknown } | undefined)?._bsontype !== "Binary") {
      return new Uint8Array(0);
    }
    const bytes = document.value.value(); // a Buffer on Node: hand out a plain view of it
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  async set(key: string, value: Uint8Array, deleteAt: number): Promise<void> {
    // A refused record must not leave the older one it was meant to replace.
    if (value.length > this.maxEntrySize || !fitsUpsert(key, value.length)) return this.delete([key]);
    await this.#run("write", async (collection) => {
      this.#indexed ??= collection.createIndex({ deleteAt: 1 }, {
        expireAfterSeconds: 0,
        name: "deleteAt_ttl",
      })
        .catch((error) => {
          // An index there already (on deleteAt under another name, or another under this name)
          // is no reason to refuse writes: the index only reclaims space, reads check deleteAt.
          if (INDEX_CONFLICTS.has(error?.code)) return;
          this.#indexed = undefined;
          throw error;
        });
      await this.#indexed;
      const document = {
        _id: key,
        value: new Binary(value),
        // Beyond what a Date holds (8.64e15 ms), `new Date` is invalid and BSON writes it as 1970:
        // the record would be expired at once. Such a record simply never expires natively.
        deleteAt: Number.isFinite(deleteAt) && deleteAt <= MAX_DATE ? new Date(deleteAt) : null,
      };
      await collection.replaceOne({ _id: key }, document, { upsert: true, maxTimeMS: this.timeout });
    });
  }

  async delete(keys: string[]): Promise<void> {
    for (const batch of deleteBatches(keys, BATCH)) {
      await this.#run(
        "delete",
        (collection) => collection.deleteMany({ _id: { $in: batch } }, { maxTimeMS: this.timeout }),
      );
    }
  }

  async *keys(prefix = ""): AsyncIterableIterator<string> {
    // A page at a time, each one call of its own (timed, and replacing a lost connection): a
    // cursor's next batch is read outside any deadline, and on a client without a socket timeout
    // (one given) a connection gone silent held a listing, and the POST that made it, for ever.
    const end = prefix + "\uffff";
    let after: string | undefined;
    for (;;) {
      const live = { $or: [{ deleteAt: null }, { deleteAt: { $gt: new Date() } }] };
      const filter = {
        _id: after === undefined ? { $gte: prefix, $lt: end } : { $gt: after, $lt: end },
        ...live,
      };
      const page = await this.#run("list", (collection) =>
        collection.find(filter, {
          ...PLAIN_DOCUMENTS,
          projection: { _id: 1 },
          sort: { _id: 1 },
          limit: BATCH,
          maxTimeMS: this.timeout,
        }).toArray());
      for (const document of page) yield document._id;
      if (page.length < BATCH) return;
      after = page[page.length - 1]!._id;
    }
  }

  async clear(): Promise<void> {
    await this.#run("clear", (collection) => collection.deleteMany({}, { maxTimeMS: this.timeout }));
  }

  /**
   * Runs one operation, connecting first if needed, and gives up after `timeout` ms in all: the
   * driver's own limits apply per step, and its retries and reconnections add steps. A connection
   * whose operation timed out or lost the server is replaced: the next call connects anew rather
   * than wait for the driver to notice the server is back.
   */
  #run<T>(operation: string, work: (collection: Collection<MongoRecord>) => Promise<T>): Promise<T> {
    const connection = this.#connection();
    const working = connection.then(({ collection }) => work(collection));
    return this.#deadlines.race(working, () => noAnswer("MongoDB", operation, this.timeout)).catch(
      (error) => {
        if (error?.name === "TimeoutError" || LOST_SERVER.has(error?.name)) this.#replace(connection);
        throw error;
      },
    );
  }

  close(): Promise<void> {
    // One close for every call: a second one returned at once, while the first closed the client.
    return this.#closing ??= this.#close();
  }

  async #close(): Promise<void> {
    this.#closed = true;
    const connected = this.#connected;
    this.#connected = undefined;
    // A client or Collection of the user's is left open: there is nothing to wait for. (Its
    // connection still being made took the client's own server selection time, 30 s by default,
    // not `timeout`, to give up on a server that is away, and held close() all that time.)
    if (this.#options.client !== undefined || typeof this.#options.collection === "object") return;
    const { client } = await connected?.catch(() => undefined) ?? {};
    await client?.close();
  }

  #connection(): Promise<Connection> {
    if (this.#closed) return Promise.reject(new Error("The storage is closed"));
    // One connection attempt at a time; a failed one is forgotten, so the next call retries.
    this.#connected ??= this.#connect().catch((error) => {
      this.#connected = undefined;
      throw error;
    });
    return this.#connected;
  }

  /** Drops a connection that failed an operation (unless a newer one took its place already). */
  #replace(connection: Promise<Connection>): void {
    if (this.#connected !== connection) return;
    this.#connected = undefined;
    // The TTL index asked for on it may never be answered (a client of the user's has no socket
    // timeout): kept, it held every write, while reads went on on new connections.
    this.#indexed = undefined;
    connection.then(({ client }) => client?.close(), () => {}).catch(() => {});
  }

  async #connect(): Promise<Connection> {
    const { collection = DEFAULT_MONGODB_COLLECTION } = this.#options;
    if (typeof collection === "object") {
      return { collection: collection as unknown as Collection<MongoRecord> };
    }
    const ours = this.#options.client === undefined;
    const client = this.#options.client ?? newClient(this.#options.url ?? DEFAULT_MONGODB_URL, this.timeout);
    // A client of the user's connects on its first operation, as the driver has it, which refuses
    // one the user closed: connecting it here opened it again, and it held the process open.
    if (ours) await this.#open(client);
    const records = client.db(this.#options.db ?? DEFAULT_MONGODB_DB).collection<MongoRecord>(collection);
    return { client: ours ? client : undefined, collection: records };
  }

  /** Connects a client the storage made, closing it when that fails or the storage was closed. */
  async #open(client: MongoClient): Promise<void> {
    try {
      await client.connect();
    } catch (error) {
      await client.close().catch(() => {});
      throw error;
    }
    if (this.#closed) {
      await client.close();
      throw new Error("The storage is closed");
    }
  }
}

/** A connection: the collection, and the client when the storage opened it (and so closes it). */
interface Connection {
  client?: MongoClient | undefined;
  collection: Collection<MongoRecord>;
}

/** Driver errors that mean the server was lost, not that it refused the operation. */
const LOST_SERVER: ReadonlySet<string> = new Set([
  "MongoServerSelectionError",
  "MongoNetworkError",
  "MongoNetworkTimeoutError",
  "MongoPoolClearedError",
  "MongoTopologyClosedError",
]);

/**
 * A client for a connection string, unconnected.
 *
 * @throws {TypeError} When the driver refuses the connection string (its reason is in the message).
 */
function newClient(url: string, timeout: number): MongoClient {
  try {
    return new MongoClient(url, {
      serverSelectionTimeoutMS: timeout,
      connectTimeoutMS: timeout,
      socketTimeoutMS: timeout,
    });
  } catch (error) {
    // (Deno's refusal of a variable the driver reads, without --allow-env, is no fault of the URL's.)
    if ((error as Error | undefined)?.name === "NotCapable") throw error;
    throw new TypeError(
      `Cannot create MongoDBBackend: url must be a valid mongodb:// or mongodb+srv:// connection string: ${
        redact((error as Error)?.message ?? String(error))
      }: received ${redact(url)}`,
    );
  }
}

function isPast(deleteAt: Date | null): boolean {
  return deleteAt instanceof Date && deleteAt.getTime() <= Date.now();
}
