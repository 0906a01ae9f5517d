/**
 * Cache URLs of the CLI (`sqlite:./http_cache.db`, `redis://…`, `mongodb://…`, `kv:./path`) to
 * backends. Each backend module is imported only when its scheme is used, so opening a SQLite
 * file never loads a Redis or MongoDB driver.
 *
 * @module
 */

import { statSync } from "node:fs";
import type { CacheBackend } from "../../backends/base.ts";
import { redact, USERINFO } from "../backend_options.ts";
import { UsageError } from "./args.ts";

export { redact };

/** A cache the CLI opened. */
export interface OpenedCache {
  /** The backend. */
  cache: CacheBackend;
  /** The cache URL as shown in messages, with any password replaced by `***`. */
  label: string;
}

/** A cache that cannot be opened as asked; the CLI exits with 1. */
export class OpenError extends Error {
  /**
   * Creates the error.
   *
   * @param message What is wrong.
   */
  constructor(message: string) {
    super(message);
    this.name = "OpenError";
  }
}

const FORMS =
  "sqlite:PATH, redis://HOST:PORT, rediss://…, mongodb://HOST:PORT/DB, mongodb+srv://… or kv:PATH";

/**
 * Opens the cache a URL names. Nothing connects yet: servers are contacted by the first command.
 *
 * @param spec The cache URL.
 * @returns The backend and a printable label.
 * @throws {UsageError} When the URL has no supported form.
 * @throws {OpenError} When a SQLite or KV file does not exist, or is not a cache, or a backend
 *   cannot be created (a Deno permission its driver needs is missing).
 *
 * @example Open a SQLite cache
 * ```ts ignore
 * import { openCache } from "./open.ts";
 * const { cache, label } = await openCache("sqlite:./http_cache.db");
 * console.log(label, await cache.count());
 * await cache.close();
 * ```
 */
export async function openCache(spec: string): Promise<OpenedCache> {
  const label = redact(spec);
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(spec)?.[1]?.toLowerCase();
  if (scheme === "sqlite") {
    const path = spec.slice("sqlite:".length).replace(/^\/\/(?=\/|\.)/, "");
    if (path === "") throw new UsageError(`The cache ${label} has no path: use sqlite:./http_cache.db`);
    if (path !== ":memory:") await checkSQLiteFile(path, label);
    const { SQLiteBackend } = await import("../../backends/sqlite.ts");
    return { cache: new SQLiteBackend({ path }), label };
  }
  // A scheme is case-insensitive (RFC 3986 §3.1); the drivers take it in lower case.
  const server = scheme === undefined ? spec : scheme + spec.slice(scheme.length);
  if (scheme === "redis" || scheme === "rediss") {
    const { url, params } = takeParams(server, ["prefix"]);
    const { RedisBackend } = await import("../../backends/redis.ts");
    const prefix = params.get("prefix");
    // (An empty one is refused by the backend, not taken for the default: a `?prefix=$PREFIX`
    // whose variable is unset must not open, nor clear, the default cache.)
    return {
      cache: refusedAsUsage(
        () => new RedisBackend({ url, ...(prefix === undefined ? {} : { prefix }) }),
        label,
      ),
      label,
    };
  }
  if (scheme === "mongodb" || scheme === "mongodb+srv") {
    const { url, params } = takeParams(server, ["collection"]);
    const db = /^mongodb(?:\+srv)?:\/\/[^/?]*\/([^?]+)/i.exec(url)?.[1];
    const collection = params.get("collection");
    const { MongoDBBackend } = await import("../../backends/mongodb.ts");
    const options = {
      url,
      ...(db ? { db: databaseName(db, label) } : {}),
      ...(collection === undefined ? {} : { collection }),
    };
    return { cache: refusedAsUsage(() => new MongoDBBackend(options), label), label };
  }
  if (scheme === "kv") {
    const path = spec.slice("kv:".length);
    if (path === "") throw new UsageError(`The cache ${label} has no path: use kv:./http_cache.kv`);
    if (!/^https?:\/\//.test(path)) await checkKvFile(path, label);
    const { DenoKVBackend } = await import("../../backends/deno_kv.ts");
    try {
      return { cache: new DenoKVBackend({ path }), label };
    } catch (error) {
      throw new OpenError(`Cannot open ${label}: ${(error as Error).message}`);
    }
  }
  if (scheme === "memory") {
    throw new UsageError(
      "A memory: cache lives inside one process and is gone when it ends: point the CLI at a " +
        `persistent cache instead (${FORMS})`,
    );
  }
  const hint = scheme === undefined && /\.(db|sqlite3?)$/i.test(spec)
    ? ` (a SQLite file? sqlite:${spec})`
    : "";
  throw new UsageError(`Unsupported cache URL ${JSON.stringify(label)}: use ${FORMS}${hint}`);
}

/**
 * Replaces the passwords of the URLs of the command line with `***` wherever they appear in a
 * message: a driver's message may quote a URL it could not parse, or a password alone, in its own
 * words, so a password is matched as written, decoded and percent-encoded too.
 *
 * @param message The message.
 * @param args The command-line arguments (the cache URL, URLs to show or delete).
 * @returns The message without those passwords.
 */
export function redactMessage(message: string, args: readonly string[]): string {
  let redacted = redact(message);
  for (const arg of args) {
    for (const [, , password] of arg.matchAll(USERINFO)) {
      for (const form of passwordForms(password!)) redacted = redacted.replaceAll(form, "***");
    }
  }
  return redacted;
}

/** A password as written, as decoded, and as a URL parser writes it back. */
function passwordForms(written: string): string[] {
  const forms = new Set([written]);
  try {
    forms.add(decodeURIComponent(written));
  } catch {
    // Not valid percent-encoding: a parser keeps it as written.
  }
  const url = new URL("http://host");
  url.password = written;
  forms.add(url.password);
  forms.delete("");
  // Longest first: a form inside another must not break it up before it is replaced.
  return [...forms].sort((a, b) => b.length - a.length);
}

/**
 * Creates a backend; the options it refuses (a port out of range, say) come from the cache URL as
 * given: a usage error, as an unsupported URL is. Any other failure (Deno's refusal of a variable
 * a driver reads) is the cache's that cannot be opened, named by its label.
 */
function refusedAsUsage<T>(create: () => T, label: string): T {
  try {
    return create();
  } catch (error) {
    if (error instanceof TypeError || error instanceof RangeError) throw new UsageError(error.message);
    throw new OpenError(`Cannot open ${label}: ${(error as Error | undefined)?.message ?? String(error)}`);
  }
}

/**
 * Removes the CLI's own query parameters (the first of each name counts); drivers reject
 * parameters they do not know, and get the others as written. A value is percent-decoded as a
 * URL's query is, not as a form: `+` is a plus sign (`?prefix=app+v2:`), `%20` a space.
 */
function takeParams(spec: string, names: string[]): { url: string; params: Map<string, string> } {
  const at = spec.indexOf("?");
  const taken = new Map<string, string>();
  if (at === -1) return { url: spec, params: taken };
  const rest: string[] = [];
  for (const pair of spec.slice(at + 1).split("&")) {
    const equals = pair.indexOf("=");
    const name = percentDecoded(equals === -1 ? pair : pair.slice(0, equals));
    if (!names.includes(name)) {
      if (pair !== "") rest.push(pair);
    } else if (!taken.has(name)) {
      taken.set(name, percentDecoded(equals === -1 ? "" : pair.slice(equals + 1)));
    }
  }
  const base = spec.slice(0, at);
  return { url: rest.length === 0 ? base : `${base}?${rest.join("&")}`, params: taken };
}

/**
 * The database a MongoDB URL's path names, percent-decoded as the driver decodes it.
 *
 * @throws {UsageError} When its percent-encoding is malformed (`/%zz`), which no driver takes.
 */
function databaseName(path: string, label: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    throw new UsageError(
      `The cache ${label} names its database in malformed percent-encoding: ${JSON.stringify(path)}`,
    );
  }
}

/** Decodes the valid percent-encoded UTF-8 of a text; anything else stays as written. */
function percentDecoded(text: string): string {
  return text.replace(/(?:%[0-9a-f]{2})+/gi, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run;
    }
  });
}

/** Refuses a missing file (opening would create one) and a database without the cache's table. */
async function checkSQLiteFile(path: string, label: string): Promise<void> {
  const { SQLITE_TABLE } = await import("../../backends/sqlite.ts");
  await checkTables(path, label, [SQLITE_TABLE], `an http-cache database (no table ${SQLITE_TABLE})`);
}

/**
 * Refuses a missing file and one that is not a Deno KV database: Deno.openKv would create its
 * tables in any SQLite file (an http-cache SQLite file, say) or fill an empty one, and the
 * listing would then report an empty cache.
 */
function checkKvFile(path: string, label: string): Promise<void> {
  return checkTables(path, label, ["kv", "migration_state"], "a Deno KV database");
}

/** Refuses a missing file, a directory, and a SQLite file without `tables`, opened read-only. */
async function checkTables(path: string, label: string, tables: string[], what: string): Promise<void> {
  const stats = statSync(path, { throwIfNoEntry: false });
  if (stats === undefined) {
    throw new OpenError(`Cannot open ${label}: no such file (the CLI opens existing caches only)`);
  }
  // (SQLite would say "disk I/O error" of a directory, as of a failing disk.)
  if (stats.isDirectory()) throw new OpenError(`Cannot open ${label}: it is a directory, not a file`);
  let sqlite: typeof import("node:sqlite");
  try {
    sqlite = await import("node:sqlite");
  } catch {
    return; // A runtime without node:sqlite: the backend finds its own way in.
  }
  let db;
  try {
    db = new sqlite.DatabaseSync(path, { readOnly: true });
    const query = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?");
    if (tables.some((table) => query.get(table) === undefined)) {
      throw new OpenError(`Cannot open ${label}: it is not ${what}`);
    }
  } catch (error) {
    if (error instanceof OpenError) throw error;
    throw new OpenError(`Cannot open ${label}: ${(error as Error).message}`);
  } finally {
    db?.close();
  }
}
