/**
 * `SQLiteBackend`: a persistent cache in one SQLite file, on the runtime's built-in SQLite —
 * `node:sqlite` on Deno, Node (22.13 and later) and Bun, with `bun:sqlite` as the fallback on a
 * Bun without `node:sqlite`. No dependency, and nothing is loaded until the first use.
 *
 * The file is in WAL mode, so readers never block the writer, and several processes (or several
 * instances) can share it: a busy database is retried for `busyTimeout` ms, on a timer that holds
 * up no other request, and every write is one atomic statement. Expired rows are invisible at once
 * and purged now and then, a thousand at a time, never on a read.
 *
 * @example Cache responses in a file
 * ```ts
 * import { CachedSession } from "../mod.ts";
 * import { SQLiteBackend } from "./sqlite.ts";
 *
 * const session = new CachedSession({
 *   backend: new SQLiteBackend({ path: ":memory:" }), // or a file: "http_cache.db"
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
  nonEmptyString,
  nonNegativeInteger,
  positiveInteger,
} from "../src/backend_options.ts";
import { isLocked, whileLocked } from "../src/errors.ts";

/** The table of the cache; the suffix is the schema version, bumped when the schema changes. */
export const SQLITE_TABLE = "http_cache_v1";
/** Default database file. */
export const DEFAULT_PATH = "http_cache.db";
/** Default wait for a database locked by another connection: 5 seconds. */
export const DEFAULT_BUSY_TIMEOUT = 5000;

/**
 * The page size of a file the backend creates: 16 KiB, not SQLite's 4. With no memory map (see
 * #connect), a body larger than a page is read a page at a time, one `read()` each. Measured side
 * by side on Node 24 (node:sqlite, 1,000 records): a 100 KB record took 220 µs to read instead of
 * 330 with 4 KiB pages (32 KiB: 190), and a 1 KB write 80 µs instead of 60 (32 KiB: 105), every
 * commit writing whole pages. A record's last page is part-filled: large bodies take up to a page
 * more on disk each.
 */
const PAGE_SIZE = 16 * 1024;

/**
 * The size the WAL file is cut back to once its frames are copied into the database, in bytes:
 * what it holds at an automatic checkpoint (1,000 pages of 16 KiB). Without it, the WAL file keeps
 * the size of the largest write ever made: a 60 MB body left a 60 MB `-wal` file beside the
 * database for good, deleted or not.
 */
const WAL_SIZE_LIMIT = 1000 * PAGE_SIZE;

/**
 * How long one statement waits for a lock inside SQLite, in ms. SQLite's busy handler sleeps in
 * the calling thread, which holds up the whole event loop: longer waits are taken between
 * attempts, on a timer, up to `busyTimeout` in all.
 */
const BUSY_SPIN = 10;

/** A value bound to a statement parameter. */
export type SQLiteValue = string | number | bigint | null | Uint8Array;

/** The part of a prepared statement the backend uses (`node:sqlite` and `bun:sqlite` both fit). */
export interface SQLiteStatement {
  /** Runs the statement. */
  run(...params: SQLiteValue[]): unknown;
  /**
   * Returns the first row, or `undefined` (`null` on `bun:sqlite`) when there is none. A BLOB
   * comes back in a new array on every call, as both built-in drivers do: the cache may hand it on.
   */
  get(...params: SQLiteValue[]): unknown;
  /** Returns every row. */
  all(...params: SQLiteValue[]): unknown[];
}

/** The part of a database handle the backend uses: a `node:sqlite` `DatabaseSync` or a `bun:sqlite` `Database`. */
export interface SQLiteDatabase {
  /** Runs SQL without results. */
  exec(sql: string): unknown;
  /** Prepares a statement. */
  prepare(sql: string): SQLiteStatement;
  /** Closes the database. */
  close(): unknown;
}

/** Options of {@linkcode SQLiteBackend}. */
export interface SQLiteBackendOptions {
  /**
   * The database file, created when missing, or `":memory:"` for a private in-memory database.
   * @default {"http_cache.db"}
   */
  path?: string;
  /**
   * An open database to use instead of `path`. The backend creates its table in it and leaves
   * the pragmas (journal mode, busy timeout) to the caller; `close()` leaves it open.
   */
  database?: SQLiteDatabase;
  /**
   * How long to wait, in all, for a database locked by another connection, in milliseconds: the
   * attempts are spaced on a timer, so the wait holds up no other request. A `database` passed in
   * keeps its own busy timeout, which SQLite waits in the calling thread at each attempt. `0`
   * waits for nothing: a call that finds the database locked fails at once (a read is then a
   * miss, a write not stored, each reported to `onError`).
   * @default {5000}
   */
  busyTimeout?: number;
  /** Largest record kept, in bytes; a larger one is refused (the response is still served). */
  maxEntrySize?: number;
  /**
   * Most records kept; beyond it the records deleted soonest go first, then the oldest. Checked
   * once every 1/64 of the records, or of `maxBytes`, written (the table may pass it by that
   * much), and an eviction makes room for a sixteenth of them.
   */
  maxEntries?: number;
  /** Most bytes kept, all records together; checked and evicted as for `maxEntries`. */
  maxBytes?: number;
}

/**
 * A cache in a SQLite database.
 *
 * @example Bound the cache and share it between processes
 * ```ts
 * import { SQLiteBackend } from "./sqlite.ts";
 *
 * const path = await Deno.makeTempFile({ suffix: ".db" });
 * await using cache = new SQLiteBackend({ path, maxEntries: 10_000, maxBytes: 512 * 1024 * 1024 });
 * console.log(await cache.count()); // 0
 * ```
 */
export class SQLiteBackend extends CacheBackend {
  /**
   * Creates the cache; the database is opened on first use.
   *
   * @param options Where the database is, and bounds.
   * @throws {TypeError} When `options` is not an object, names an unknown option or gives one of the wrong
   *   kind, or `path` is not a non-empty string.
   * @throws {RangeError} When `busyTimeout` is not a non-negative integer, or a bound not a positive
   *   integer.
   */
  constructor(options: SQLiteBackendOptions = {}) {
    super(new SQLiteStorage(options));
  }
}

/** Whether an error is SQLITE_READONLY: the database, or its file, may not be written. */
function isReadOnly(error: unknown): boolean {
  return /readonly database/i.test(String((error as Error | undefined)?.message));
}

// Expired rows are purged on open and after this many writes of one instance, and after every write
// while the last purge found more than it takes at once.
const PURGE_INTERVAL = 500;
// Most expired rows purged at once, about 5 ms of work (1 KB records). A file left for a day comes
// back with every row expired: purged in one statement, a million rows held up every request of
// the process, and every other process's writes, for 4.8 s.
const PURGE_BATCH = 1000;
// Keys are listed in pages, so no statement stays open across an `await` (an open statement
// would hold back the commit of this connection's writes).
const KEYS_PAGE = 500;
// Above every key: keys are printable ASCII.
const KEY_MAX = "\u{10FFFF}";

type Statements = Record<
  "get" | "set" | "delete" | "keysFrom" | "keysAfter" | "clear" | "purge" | "stats" | "evict",
  SQLiteStatement
>;

/** The byte storage behind {@linkcode SQLiteBackend}. */
export class SQLiteStorage implements Storage {
  readonly name = "sqlite";
  /** Every read copies the value out of the database into a new array. */
  readonly copiesValues = true;
  /**
   * Largest record kept, in bytes: `maxEntrySize`, at most `maxBytes` (`undefined` with neither).
   * The session does not collect a larger body.
   */
  readonly maxEntrySize: number | undefined;
  #options: SQLiteBackendOptions;
  #db: Promise<{ db: SQLiteDatabase; sql: Statements }> | undefined;
  /** Writes until expired rows are purged again. */
  #untilPurge = PURGE_INTERVAL;
  /** Calls of close(): a call made before one of them tries no more after it ({@linkcode #locked}). */
  #closes = 0;
  /** Writes until the bounds are checked again. */
  #unchecked = 0;
  /** Bytes written until the bounds are checked again (with `maxBytes`). */
  #uncheckedBytes = 0;

  /**
   * Creates the storage; the database is opened on first use.
   *
   * @param options Where the database is, and bounds.
   * @throws {TypeError} When `options` is not an object, names an unknown option or gives one of the wrong
   *   kind, or `path` is not a non-empty string.
   * @throws {RangeError} When `busyTimeout` is not a non-negative integer, or a bound not a positive
   *   integer.
   */
  constructor(options: SQLiteBackendOptions = {}) {
    options = knownOptions("SQLiteBackend", options, {
      path: true,
      database: true,
      busyTimeout: true,
      maxEntrySize: true,
      maxEntries: true,
      maxBytes: true,
    });
    nonEmptyString("SQLiteBackend", "path", options.path);
    eitherOf("SQLiteBackend", options, "path", "database");
    injected(
      "SQLiteBackend",
      "database",
      options.database,
      ["exec", "prepare", "close"],
      "an open node:sqlite DatabaseSync or bun:sqlite Database",
    );
    // 0 waits for no lock: a locked database fails the call at once.
    nonNegativeInteger("SQLiteBackend", "busyTimeout", options.busyTimeout);
    for (const option of ["maxEntrySize", "maxEntries", "maxBytes"] as const) {
      positiveInteger("SQLiteBackend", option, options[option]);
    }
    // (As read once above, inherited ones too: the database is opened, or connected to, later.)
    this.#options = options;
    const bounds = [options.maxEntrySize, options.maxBytes].filter((bound) => bound !== undefined);
    this.maxEntrySize = bounds.length === 0 ? undefined : Math.min(...bounds);
  }

  get(key: string): Promise<Uint8Array | undefined> {
    return this.#locked((sql) => {
      const row = sql.get.get(key, Date.now()) as { value: Uint8Array } | undefined | null;
      return row?.value ?? undefined;
    });
  }

  set(key: string, value: Uint8Array, deleteAt: number): Promise<void> {
    return this.#locked((sql) => this.#set(sql, key, value, deleteAt));
  }

  #set(sql: Statements, key: string, value: Uint8Array, deleteAt: number): void {
    const { maxEntries, maxBytes } = this.#options;
    if (value.length > (this.maxEntrySize ?? Infinity)) {
      sql.delete.run(JSON.stringify([key]));
      return;
    }
    sql.set.run(key, Number.isFinite(deleteAt) ? Math.ceil(deleteAt) : null, value.length, value);
    if (--this.#untilPurge <= 0) this.#purge(sql);
    if (maxEntries === undefined && maxBytes === undefined) return;
    // Counting the records, and evicting, each scan the table: the bounds are checked once every
    // 1/64 of the records, or of maxBytes, written, and an eviction makes room for a sixteenth.
    this.#uncheckedBytes -= value.length;
    if (--this.#unchecked > 0 && this.#uncheckedBytes > 0) return;
    const { entries, bytes } = sql.stats.get() as { entries: number; bytes: number };
    this.#unchecked = Math.max(1, Math.floor(Math.min(entries, maxEntries ?? Infinity) / 64));
    this.#uncheckedBytes = maxBytes === undefined ? Infinity : Math.max(1, Math.floor(maxBytes / 64));
    const extraEntries = entries - (maxEntries ?? Infinity), extraBytes = bytes - (maxBytes ?? Infinity);
    if (extraEntries > 0 || extraBytes > 0) {
      // Each count is brought down to its bound less the room, and no further: a table over one
      // bound only is not emptied by the room of the other. (The room leaves the record just
      // written a place.)
      const room = (bound: number | undefined, own: number) =>
        bound === undefined ? 0 : Math.max(0, Math.min(Math.floor(bound / 16), bound - own));
      sql.evict.run(
        key,
        Math.max(extraEntries + room(maxEntries, 1), 0),
        Math.max(extraBytes + room(maxBytes, value.length), 0),
      );
    }
  }

  /** Purges expired rows, a batch of them: the next batch is due at the next write while more remain. */
  #purge(sql: Statements): void {
    const purged = sql.purge.run(Date.now(), PURGE_BATCH) as { changes?: number | bigint } | undefined;
    this.#untilPurge = Number(purged?.changes ?? 0) < PURGE_BATCH ? PURGE_INTERVAL : 1;
  }

  async delete(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.#locked((sql) => sql.delete.run(JSON.stringify(keys)));
  }

  async *keys(prefix = ""): AsyncIterableIterator<string> {
    const end = prefix === ""
      ? KEY_MAX
      : prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
    // Each page starts at a bound the index can seek to: the prefix, then the last key seen.
    let rows = await this.#locked((sql) =>
      sql.keysFrom.all(prefix, end, Date.now(), KEYS_PAGE) as { key: string }[]
    );
    for (;;) {
      for (const { key } of rows) yield key;
      if (rows.length < KEYS_PAGE) return;
      const last = rows[rows.length - 1]!.key;
      rows = await this.#locked((sql) =>
        sql.keysAfter.all(last, end, Date.now(), KEYS_PAGE) as { key: string }[]
      );
    }
  }

  async clear(): Promise<void> {
    await this.#locked((sql) => sql.clear.run());
    this.#unchecked = 0;
    if (this.#options.database === undefined) await this.#compact();
  }

  /**
   * Gives a cleared file's space back to the system, and with it the bytes of what was stored,
   * which deleted rows leave in the file's free pages: the free pages are cut off
   * (`incremental_vacuum`, in a file created with `auto_vacuum = INCREMENTAL`; `VACUUM` would
   * attach a database, which Deno refuses without full permissions), then a checkpoint empties
   * the WAL file. Skipped while another connection's transaction holds the file past
   * `busyTimeout`: the rows are gone all the same, and the next `clear()` compacts it.
   */
  async #compact(): Promise<void> {
    try {
      await this.#locked((_, db) => {
        // (Each step frees one page: `exec` takes one step on Deno, `all()` takes every one.)
        db.prepare("PRAGMA incremental_vacuum").all();
        db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
      });
    } catch (error) {
      if (!isLocked(error)) throw error;
    }
  }

  /**
   * Runs statements, and runs them again while another connection holds the lock, on a timer
   * ({@linkcode whileLocked}) rather than in SQLite's busy handler, which would hold up the event
   * loop: for `busyTimeout` ms in all.
   */
  #locked<T>(work: (sql: Statements, db: SQLiteDatabase) => T): Promise<T> {
    const wait = this.#options.busyTimeout ?? DEFAULT_BUSY_TIMEOUT;
    // A call that close() came during does not open the file again to try once more: it would
    // stay open, as nothing closes it again (and the call land after close() had returned).
    const closes = this.#closes;
    return whileLocked(async () => {
      if (this.#closes !== closes) {
        throw new Error("Cannot use SQLiteBackend: it was closed while this call waited for a lock");
      }
      const { sql, db } = await this.#open();
      return work(sql, db);
    }, wait);
  }

  async close(): Promise<void> {
    this.#closes++;
    const opening = this.#db;
    this.#db = undefined;
    // (An open that fails leaves nothing to close: its error is the calls' that waited for it.)
    const opened = await opening?.catch(() => undefined);
    if (opened !== undefined && this.#options.database === undefined) opened.db.close();
  }

  #open(): Promise<{ db: SQLiteDatabase; sql: Statements }> {
    this.#db ??= this.#connect().catch((error) => {
      this.#db = undefined;
      throw error;
    });
    return this.#db;
  }

  async #connect(): Promise<{ db: SQLiteDatabase; sql: Statements }> {
    const db = this.#options.database ?? await openDatabase(this.#options.path ?? DEFAULT_PATH);
    try {
      if (this.#options.database === undefined) {
        db.exec(
          `PRAGMA busy_timeout = ${Math.min(BUSY_SPIN, this.#options.busyTimeout ?? DEFAULT_BUSY_TIMEOUT)}`,
        );
        // (Only in a new file, before its first table: see #compact. In a file that exists it
        // would wait for another connection's write lock, which opening never does.)
        if ((db.prepare("PRAGMA page_count").get() as { page_count: number }).page_count === 0) {
          db.exec(`PRAGMA page_size = ${PAGE_SIZE}`);
          db.exec("PRAGMA auto_vacuum = INCREMENTAL");
        }
        // Deleted rows leave no bytes in the pages that stay in use, at no extra I/O.
        db.exec("PRAGMA secure_delete = FAST");
        // A file in another journal mode that may not be written (a copy made by `VACUUM INTO`,
        // opened read-only) is read in its own mode: the switch would be its only write.
        try {
          db.exec("PRAGMA journal_mode = WAL");
        } catch (error) {
          if (!isReadOnly(error)) throw error;
        }
        db.exec("PRAGMA synchronous = NORMAL");
        db.exec(`PRAGMA journal_size_limit = ${WAL_SIZE_LIMIT}`);
        // No memory map: a file that another program cuts short (`truncate`, a `cp` over it) would
        // be read past its end through the map, and the process killed by SIGBUS, where read()
        // returns an error (a miss). (Explicit, for a SQLite built to map by default.)
        db.exec("PRAGMA mmap_size = 0");
      }
      // `size` precedes `value`, so the stats and eviction scans never read a blob.
      db.exec(`CREATE TABLE IF NOT EXISTS ${SQLITE_TABLE} (
        key TEXT PRIMARY KEY NOT NULL, delete_at INTEGER, size INTEGER NOT NULL, value BLOB NOT NULL)`);
      db.exec(`CREATE INDEX IF NOT EXISTS ${SQLITE_TABLE}_delete_at ON ${SQLITE_TABLE} (delete_at, size)`);
      const live = "(delete_at IS NULL OR delete_at > ?)";
      // REPLACE gives a replaced row a new rowid, so rowid order is write order.
      const order = "delete_at IS NULL, delete_at, rowid";
      const prepare = (text: string) => plainRows(db.prepare(text));
      const sql: Statements = {
        get: prepare(`SELECT value FROM ${SQLITE_TABLE} WHERE key = ? AND ${live}`),
        set: prepare(
          `INSERT OR REPLACE INTO ${SQLITE_TABLE} (key, delete_at, size, value) VALUES (?, ?, ?, ?)`,
        ),
        delete: prepare(`DELETE FROM ${SQLITE_TABLE} WHERE key IN (SELECT value FROM json_each(?))`),
        keysFrom: prepare(
          `SELECT key FROM ${SQLITE_TABLE} WHERE key >= ? AND key < ? AND ${live} ORDER BY key LIMIT ?`,
        ),
        keysAfter: prepare(
          `SELECT key FROM ${SQLITE_TABLE} WHERE key > ? AND key < ? AND ${live} ORDER BY key LIMIT ?`,
        ),
        clear: prepare(`DELETE FROM ${SQLITE_TABLE}`),
        purge: prepare(
          `DELETE FROM ${SQLITE_TABLE} WHERE rowid IN (SELECT rowid FROM ${SQLITE_TABLE} WHERE delete_at <= ? LIMIT ?)`,
        ),
        stats: prepare(`SELECT count(*) AS entries, coalesce(sum(size), 0) AS bytes FROM ${SQLITE_TABLE}`),
        // Evicts the first rows in `order` until both excesses are covered, the row just written
        // aside: it would go first when it is to be deleted soonest, and never be read.
        evict: prepare(`DELETE FROM ${SQLITE_TABLE} WHERE key IN (
          SELECT key FROM (SELECT key, row_number() OVER w AS n, sum(size) OVER w - size AS before
            FROM ${SQLITE_TABLE} WHERE key <> ? WINDOW w AS (ORDER BY ${order}))
          WHERE n <= ? OR before < ?)`),
      };
      // Only reclaims space: a database locked by another connection is purged another time, and
      // one that may be read but not written (another user's file, one opened read-only) is read.
      try {
        this.#purge(sql);
      } catch (error) {
        if (!isLocked(error) && !isReadOnly(error)) throw error;
      }
      return { db, sql };
    } catch (error) {
      if (this.#options.database === undefined) db.close();
      throw error;
    }
  }
}

/**
 * Has a statement return rows as objects of plain numbers, whatever the connection was opened with
 * (a `database` passed in): `readBigInts` and `returnArrays` of `node:sqlite`, `safeIntegers` of
 * `bun:sqlite`.
 */
function plainRows(statement: SQLiteStatement): SQLiteStatement {
  const settable = statement as {
    setReadBigInts?: unknown;
    setReturnArrays?: unknown;
    safeIntegers?: unknown;
  };
  if (typeof settable.setReadBigInts === "function") settable.setReadBigInts(false);
  if (typeof settable.setReturnArrays === "function") settable.setReturnArrays(false);
  if (typeof settable.safeIntegers === "function") settable.safeIntegers(false);
  return statement;
}

/** Opens a database file with the runtime's built-in SQLite. */
async function openDatabase(path: string): Promise<SQLiteDatabase> {
  let sqlite: typeof import("node:sqlite");
  try {
    sqlite = await import("node:sqlite");
  } catch (error) {
    if ("Bun" in globalThis) {
      // A Bun older than its node:sqlite. Not `import()`: Deno and Node never see a bun: specifier.
      const { Database } = (globalThis as unknown as BunProcess).process.getBuiltinModule("bun:sqlite");
      return new Database(path, { create: true, strict: true });
    }
    throw new TypeError(
      `Cannot open SQLiteBackend: node:sqlite is not available in ${runtime()}: use Node 22.13 or later ` +
        "(22.5 to 22.12: run it with --experimental-sqlite), Deno or Bun, or another backend such as MemoryBackend",
      { cause: error },
    );
  }
  try {
    return new sqlite.DatabaseSync(path) as unknown as SQLiteDatabase;
  } catch (error) {
    throw namingFile(error, path);
  }
}

/**
 * The error of a file that did not open, its path at the end of the message as Deno gives it
 * (`unable to open database file: ~/cache.db`): Node and Bun name no file.
 */
function namingFile(error: unknown, path: string): unknown {
  if (error instanceof Error && !error.message.includes(path)) error.message += `: ${path}`;
  return error;
}

type BunProcess = {
  process: {
    getBuiltinModule(id: "bun:sqlite"): {
      Database: new (path: string, options: { create: boolean; strict: boolean }) => SQLiteDatabase;
    };
  };
};

function runtime(): string {
  const versions = (globalThis as { process?: { versions?: Record<string, string | undefined> } }).process
    ?.versions;
  if (versions?.bun) return `Bun ${versions.bun}`;
  if (versions?.deno) return `Deno ${versions.deno}`;
  return versions?.node ? `Node ${versions.node}` : "this runtime";
}
