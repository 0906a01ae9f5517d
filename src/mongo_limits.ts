/**
 * What a MongoDB server takes that its driver does not check: the names of a database and a
 * collection, and the size of one command. The MongoDB backend refuses the names at construction
 * and cuts its deletes to fit, where the server would refuse them at the first request (every
 * request a miss) or fail a delete whole.
 *
 * @module
 */

/** Most bytes of a record and twice its key in one upsert: the 16 MiB a document holds. */
const UPSERT_BYTES = 16 * 1024 * 1024;

/**
 * The server's codes for an index refused for one already there: `IndexOptionsConflict` (the
 * same keys under another name, or other options) and `IndexKeySpecsConflict` (the same name on
 * other keys).
 */
export const INDEX_CONFLICTS: ReadonlySet<unknown> = new Set([85, 86]);

/** Most characters of keys in one `deleteMany`: half of the 16 MiB a command holds. */
const DELETE_CHARACTERS = 8 * 1024 * 1024;

const encoder = new TextEncoder();

/**
 * Keys in batches of at most `most` keys and {@linkcode DELETE_CHARACTERS} characters (keys are
 * ASCII: one byte each). By count alone, a thousand keys of 20,000 characters (a `keyFn`'s) made a
 * command over the 16 MiB MongoDB takes, and the driver failed the delete whole.
 *
 * @param keys The keys to delete.
 * @param most The most keys in one batch.
 * @returns The batches, in order.
 */
export function* deleteBatches(keys: readonly string[], most: number): Generator<string[]> {
  let batch: string[] = [];
  let characters = 0;
  for (const key of keys) {
    if (batch.length === most || (batch.length > 0 && characters + key.length > DELETE_CHARACTERS)) {
      yield batch;
      batch = [];
      characters = 0;
    }
    batch.push(key);
    characters += key.length;
  }
  if (batch.length > 0) yield batch;
}

/**
 * Whether a record fits one upsert beside its key (ASCII: one byte a character). Its document holds
 * the key once and takes at most 16 MiB; the command holds it twice (the filter and the document)
 * and takes at most 16 KiB more, which covers the command's other fields. A record within
 * `maxEntrySize` under a key of 70,000 characters (a `keyFn`'s) made a document MongoDB refuses,
 * and under a longer one a command the driver failed to serialise: a failed write, not a refusal.
 *
 * @param key The record's key.
 * @param bytes The record's length in bytes.
 * @returns Whether MongoDB takes the upsert.
 */
export function fitsUpsert(key: string, bytes: number): boolean {
  return bytes + 2 * key.length <= UPSERT_BYTES;
}

/**
 * Refuses a database or collection name that MongoDB would refuse at the first request: the
 * cache would then miss on every request instead.
 *
 * @param names The `db` and `collection` options (a collection object is not checked).
 * @param defaultDb The database used when `db` is not given.
 * @throws {TypeError} When a name is one the server refuses, naming the option.
 */
export function checkMongoNames(names: { db?: string; collection?: unknown }, defaultDb: string): void {
  const { db, collection } = names;
  if (db !== undefined && !(/^[^/\\. "$\0]+$/.test(db) && encoder.encode(db).length < 64)) {
    throw new TypeError(
      `Cannot create MongoDBBackend: db must be 1 to 63 bytes, without / \\ . " $, spaces or NUL: received ${
        JSON.stringify(db)
      }`,
    );
  }
  if (typeof collection !== "string") return;
  // (The server also refuses a name that starts with "." or holds ".system."; the driver does not.)
  if (
    !(/^[^$\0]+$/.test(collection) && !/^(system)?\./.test(collection) && !collection.includes(".system."))
  ) {
    throw new TypeError(
      "Cannot create MongoDBBackend: collection must be a name without $ or NUL, not starting with " +
        `"system." or ".", nor holding ".system.": received ${JSON.stringify(collection)}`,
    );
  }
  // MongoDB holds `<db>.<collection>` to 255 bytes; the server, not the driver, refuses a longer one.
  const bytes = encoder.encode(`${db ?? defaultDb}.${collection}`).length;
  if (bytes > 255) {
    throw new TypeError(
      `Cannot create MongoDBBackend: collection must leave "<db>.<collection>" within 255 bytes: received ${
        JSON.stringify(collection)
      } (${bytes} bytes with db ${JSON.stringify(db ?? defaultDb)})`,
    );
  }
}
