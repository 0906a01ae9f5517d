/**
 * The streaming scans behind the inspection and bulk-delete methods of `CacheBackend`
 * (`entries`, `responses`, `urls`, `count`, `size`, `delete(filter)`), written once over the
 * `Storage` contract so every backend gets them.
 *
 * A scan lists keys with the storage's own streaming listing and reads records a bounded batch
 * at a time (at most {@linkcode READ_AHEAD} records or about {@linkcode READ_AHEAD_BYTES}), so
 * memory stays flat however large the cache is. Deletes go out in batches of
 * {@linkcode DELETE_BATCH} keys while the listing goes on.
 *
 * @module
 */

import type { Storage } from "../backends/base.ts";
import { ALIAS_PREFIX, normalizeUrl, urlKeyPrefix } from "./cache_keys.ts";
import { plainBytes } from "./bytes.ts";
import { type BackendError, backendError, CorruptRecordError } from "./errors.ts";
import { describe } from "./expiration.ts";
import { invalidationsOf } from "./invalidations.ts";
import { type ResponseFilter, select, type Selection } from "./response_filter.ts";
import { type CacheEntry, type DecodedRecord, decodeRecord, OtherVersionError } from "./record.ts";

export type { ResponseFilter } from "./response_filter.ts";

/** Most records a scan reads at once. */
export const READ_AHEAD = 32;
/** A scan reads fewer records at once when they are large, aiming at about this many bytes: 8 MiB. */
export const READ_AHEAD_BYTES = 8 * 1024 * 1024;
/** Keys deleted per storage call. */
export const DELETE_BATCH = 500;
/** A bulk delete reports progress at least every this many entries scanned. */
export const PROGRESS_EVERY = 1000;

/** Progress of a bulk delete, reported after every batch. */
export interface DeleteProgress {
  /** Entries looked at so far. */
  scanned: number;
  /** Entries deleted so far. */
  deleted: number;
}

/** Options of a bulk delete. */
export interface DeleteOptions {
  /**
   * Called after each batch of {@linkcode DELETE_BATCH} deletions, every
   * {@linkcode PROGRESS_EVERY} entries scanned, and once at the end.
   */
  onProgress?: (progress: DeleteProgress) => void;
}

/** An entry as a scan finds it. */
export interface StoredEntry {
  /** The entry's cache key. */
  key: string;
  /** The decoded entry; its `body` is a view into the record. */
  entry: CacheEntry;
  /** Size of the stored record in bytes: metadata, headers and body. */
  size: number;
}

/** What a scan needs of a `CacheBackend`. */
export interface ScanScope {
  /** The byte storage. */
  readonly storage: Storage;
  /** The clock (epoch ms) that decides expiry. */
  readonly now: () => number;
}

/**
 * Streams the entries a filter selects, each read once; corrupt records are deleted and skipped.
 *
 * @param scope The cache.
 * @param filter Which entries.
 * @param operation Names the calling method in error messages.
 * @returns The entries, in the storage's listing order.
 * @throws {TypeError} When the filter is malformed.
 * @throws {BackendError} When the storage fails.
 */
export async function* scanEntries(
  scope: ScanScope,
  filter: ResponseFilter = {},
  operation = "list responses",
): AsyncIterableIterator<StoredEntry> {
  const selection = select(scope.storage, filter, operation);
  for await (const found of candidates(scope, selection)) {
    if (found.kind === "entry" && found.selected) {
      yield { key: found.key, entry: found.entry, size: found.size };
    }
  }
}

/**
 * Deletes the entries a filter selects, in batches, while the listing goes on.
 *
 * @param scope The cache.
 * @param filter Which entries; it must name at least one criterion (`clear()` empties the cache).
 * @param options Progress reporting.
 * @param methods The methods whose entries of the filter's `urls` are deleted: by default every
 *   method stored.
 * @returns How many entries were deleted.
 * @throws {TypeError} When the filter is malformed or selects every entry, or the options are.
 * @throws {BackendError} When the storage fails.
 */
export async function deleteEntries(
  scope: ScanScope,
  filter: ResponseFilter,
  options: DeleteOptions = {},
  methods?: readonly string[],
): Promise<number> {
  options = checkDeleteOptions(options);
  const selection = select(scope.storage, filter, "delete", methods);
  if (selection.urls === undefined && selection.test === undefined) {
    throw new TypeError(
      "Cannot delete: the filter must give urls, urlPattern, olderThan, expired: true or valid: true: " +
        `received ${JSON.stringify(filter)} (clear() deletes everything)`,
    );
  }
  // What the delete names is invalidated, stored yet or not: a response already asked for is not
  // written after it. A pattern's URLs cannot be told from the digests a write is checked by, so
  // a pattern invalidates every URL. A delete by state (expired, valid, older than) names none:
  // a response still on its way is newer than anything it selects.
  const { expired, valid, olderThan } = filter;
  // (`expired: false` and `valid: false` select nothing of their own: such a delete names URLs.)
  if (expired || valid || olderThan !== undefined) {
    return await removeSelected(scope, selection, options, false);
  }
  const invalidations = invalidationsOf(scope.storage);
  return await invalidations.whileDeleting(async () => {
    if (selection.urls === undefined) await invalidations.invalidatingAll();
    else await invalidations.invalidating(...selection.urls.map((url) => urlKeyPrefix("GET", url)));
    return await removeSelected(scope, selection, options, true);
  });
}

/**
 * Checks the options of a bulk delete before anything is deleted: an `onProgress` that is no
 * function would fail the delete after its first batch is gone, and a misspelt option (or a
 * progress function passed in place of the options) would be ignored without a word.
 *
 * @param options What was given.
 * @returns The options, read once.
 * @throws {TypeError} When they are no object, name an unknown option, or `onProgress` is no function.
 */
function checkDeleteOptions(options: DeleteOptions): DeleteOptions {
  const fail = (message: string, value: unknown): never => {
    throw new TypeError(`Cannot delete: ${message}: received ${describe(value)}`);
  };
  // (A Map or an array holds its entries where no option is read.)
  if (typeof options !== "object" || options === null || Symbol.iterator in options) {
    fail("options must be an object", options);
  }
  for (const name of Object.keys(options)) {
    if (name !== "onProgress") fail("unknown option: allowed is onProgress", name);
  }
  const { onProgress } = options;
  if (onProgress !== undefined && typeof onProgress !== "function") {
    fail("onProgress must be a function", onProgress);
  }
  return onProgress === undefined ? {} : { onProgress };
}

/**
 * Deletes the entries a selection selects, a batch at a time.
 *
 * @param invalidating Whether the delete invalidated the selection's URLs: those that it could
 *   not delete are then not served (`Invalidations.undone`).
 */
async function removeSelected(
  scope: ScanScope,
  selection: Selection,
  options: DeleteOptions,
  invalidating: boolean,
): Promise<number> {
  const invalidations = invalidationsOf(scope.storage);
  const { onProgress } = options;
  const progress: DeleteProgress = { scanned: 0, deleted: 0 };
  const batch: { key: string; read: number; entry: boolean }[] = [];
  const flush = async () => {
    // A key a session wrote since the scan read it holds a record the filter did not select (a
    // fresh response where an expired one was): it is kept.
    const keys: string[] = [];
    let entries = 0;
    for (const { key, read, entry } of batch.splice(0)) {
      if (invalidations.writtenSince(key, read)) continue;
      keys.push(key);
      if (entry) entries++;
    }
    if (keys.length > 0) await call(scope, "delete", () => scope.storage.delete(keys));
    // (Counted once the storage has deleted them: progress reported meanwhile says no more.)
    progress.deleted += entries;
    onProgress?.({ ...progress });
  };
  // A URL's entries that could not all be deleted are not served while the storage holds them.
  const urls = invalidating ? selection.urls : undefined;
  try {
    for await (const found of candidates(scope, selection)) {
      if (found.kind === "alias") {
        if (found.orphan) batch.push({ key: found.key, read: found.read, entry: false });
      } else {
        progress.scanned++;
        if (found.selected) batch.push({ key: found.key, read: found.read, entry: true });
      }
      if (batch.length >= DELETE_BATCH) await flush();
      else if (found.kind === "entry" && progress.scanned % PROGRESS_EVERY === 0) {
        onProgress?.({ ...progress });
      }
    }
    await flush();
  } catch (error) {
    if (urls !== undefined) invalidations.undone(urls, selection.methods);
    throw error;
  }
  if (urls !== undefined) invalidations.deleted(urls, selection.methods);
  return progress.deleted;
}

/**
 * Adds up the size of every record of the cache (entries and redirect aliases).
 *
 * @param scope The cache.
 * @returns Bytes.
 * @throws {BackendError} When the storage fails.
 */
export async function storedBytes(scope: ScanScope): Promise<number> {
  let bytes = 0;
  // (The records of a newer version, which a scan keeps, hold bytes too.)
  const kept = (size: number) => bytes += size;
  for await (const { size } of readRecords(scope, listKeys(scope, ""), kept)) bytes += size;
  return bytes;
}

/**
 * Lists the keys under a prefix, turning storage failures into {@linkcode BackendError}s.
 *
 * @param scope The cache.
 * @param prefix Key prefix (`""` for all).
 * @returns The keys.
 * @throws {BackendError} When the storage fails.
 */
export async function* listKeys(scope: ScanScope, prefix: string): AsyncIterableIterator<string> {
  try {
    for await (const key of scope.storage.keys(prefix)) yield key;
  } catch (cause) {
    throw backendError(scope.storage.name, "list", cause);
  }
}

/** What a scan finds: an entry (selected by the filter or not), or a redirect alias of a URL. */
type Candidate =
  | { kind: "entry"; key: string; entry: CacheEntry; size: number; selected: boolean; read: number }
  | { kind: "alias"; key: string; orphan: boolean; read: number };

async function* candidates(scope: ScanScope, selection: Selection): AsyncIterableIterator<Candidate> {
  const { test } = selection;
  if (selection.urls === undefined) {
    const entryKeys = filterKeys(listKeys(scope, ""), (key) => !key.startsWith(ALIAS_PREFIX));
    for await (const { key, record, size, read } of readRecords(scope, entryKeys)) {
      if (record.kind !== "entry") continue;
      const selected = test === undefined || test(record.entry, scope.now());
      yield { kind: "entry", key, entry: record.entry, size, selected, read };
    }
    return;
  }
  // One entry may be found under two URLs (a redirect from one to the other): it is yielded once.
  const seen = new Map<string, boolean>(); // key -> selected
  for (const url of selection.urls) yield* urlCandidates(scope, url, selection.methods, test, seen);
}

/**
 * The entries of one URL: those keyed under the prefix of each method given, and those its redirect
 * aliases point to when they were stored for this URL. An alias is an orphan — deleted with the
 * entries — when its target is gone or selected, or when only URLs were asked for.
 */
async function* urlCandidates(
  scope: ScanScope,
  url: URL,
  methods: readonly string[],
  test: Selection["test"],
  seen: Map<string, boolean>,
): AsyncIterableIterator<Candidate> {
  const normalized = normalizeUrl(url);
  // Every method's entries and aliases are listed at once: where a listing scans the storage
  // (Redis), a POST then waits for the longest of them, not for their sum.
  const listings = await Promise.all(methods.map((method) => {
    const prefix = urlKeyPrefix(method, url);
    return Promise.all([collect(listKeys(scope, prefix)), collect(listKeys(scope, ALIAS_PREFIX + prefix))]);
  }));
  for (const [entryKeys, aliasKeys] of listings) {
    for await (const { key, record, size, read } of readRecords(scope, entryKeys)) {
      if (record.kind !== "entry" || seen.has(key)) continue;
      const selected = test === undefined || test(record.entry, scope.now());
      seen.set(key, selected);
      yield { kind: "entry", key, entry: record.entry, size, selected, read };
    }
    for await (const alias of readRecords(scope, aliasKeys)) {
      if (alias.record.kind !== "alias") continue;
      // The alias names the slots of the URLs that were asked for: their entries and Vary variants.
      let anyEntry = false, anySelected = false;
      const slots = slotKeys(scope, alias.record.targets);
      for (const { key, record, size, read } of await collect(readRecords(scope, slots))) {
        if (record.kind !== "entry") continue;
        anyEntry = true;
        let selected = seen.get(key) ?? false;
        if (!seen.has(key) && isEntryOf(record.entry, normalized)) {
          selected = test === undefined || test(record.entry, scope.now());
          seen.set(key, selected);
          yield { kind: "entry", key, entry: record.entry, size, selected, read };
        }
        anySelected ||= selected;
      }
      yield {
        kind: "alias",
        key: alias.key,
        orphan: !anyEntry || anySelected || test === undefined,
        read: alias.read,
      };
    }
  }
}

/** Whether an entry is of a URL (normalised); one of another writer whose URL does not parse is of none. */
function isEntryOf(entry: CacheEntry, normalized: string): boolean {
  const url = URL.parse(entry.url);
  return url !== null && normalizeUrl(url) === normalized;
}

/**
 * Reads records a batch at a time; missing records are skipped, corrupt ones and those of an older
 * version deleted and skipped, those of a newer version skipped (their sizes given to `kept`).
 */
async function* readRecords(
  scope: ScanScope,
  keys: AsyncIterable<string> | Iterable<string>,
  kept?: (size: number) => void,
): AsyncIterableIterator<{ key: string; record: DecodedRecord; size: number; read: number }> {
  let width = READ_AHEAD;
  const batch: string[] = [];
  const invalidations = invalidationsOf(scope.storage);
  const read = async function* () {
    const keys = batch.splice(0);
    // (What a delete checks: whether a session wrote a key since its record was read.)
    const read = invalidations.keyWrites;
    // A storage that finds a record corrupt below the record format (a Deno KV manifest) deletes
    // it and rejects with a CorruptRecordError: skipped, as a record that does not decode is.
    const values = await Promise.all(
      keys.map((key) =>
        call(scope, "read", () => scope.storage.get(key, true)).catch((error: BackendError) => {
          if (CorruptRecordError.is(error.cause)) return undefined;
          throw error;
        })
      ),
    );
    const dropped: string[] = [];
    let bytes = 0;
    for (let i = 0; i < keys.length; i++) {
      const value = values[i];
      if (value === undefined) continue;
      bytes += value.length;
      let record: DecodedRecord;
      try {
        record = decodeRecord(plainBytes(value));
      } catch (error) {
        // (A newer version's record is kept for the code that reads it.)
        if (!(error instanceof OtherVersionError) || error.older) dropped.push(keys[i]!);
        else kept?.(value.length);
        continue;
      }
      yield { key: keys[i]!, record, size: value.length, read };
    }
    if (dropped.length > 0) await Promise.resolve().then(() => scope.storage.delete(dropped)).catch(() => {});
    // Large records: read fewer at once next time, so a batch stays near READ_AHEAD_BYTES.
    const average = bytes / Math.max(1, keys.length);
    width = Math.max(1, Math.min(READ_AHEAD, Math.floor(READ_AHEAD_BYTES / Math.max(1, average))));
  };
  for await (const key of keys) {
    batch.push(key);
    if (batch.length >= width) yield* read();
  }
  if (batch.length > 0) yield* read();
}

async function call<T>(scope: ScanScope, operation: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (cause) {
    throw backendError(scope.storage.name, operation, cause);
  }
}

async function* filterKeys(
  keys: AsyncIterable<string>,
  keep: (key: string) => boolean,
): AsyncIterableIterator<string> {
  for await (const key of keys) if (keep(key)) yield key;
}

/** The slots of some keys: each key, and the keys of the Vary variants stored beside it. */
async function* slotKeys(scope: ScanScope, keys: readonly string[]): AsyncIterableIterator<string> {
  for (const key of keys) {
    yield key;
    yield* listKeys(scope, `${key}.`);
  }
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}
