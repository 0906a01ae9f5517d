/**
 * The order of invalidations and writes. RFC 9111 §4.4 has a cache invalidate what it stores for
 * a URL once an unsafe request to it succeeds; a response the origin sent before that must not be
 * written after it and bring the old representation back. Such a response is still on its way
 * when a background refresh, or a miss whose body is still being read, races a `POST`. A delete
 * through the cache's own API (`cache.delete(…)`, `deleteUrls`, `clear()`) is an invalidation
 * too: what it deletes does not come back from a write that was already on its way.
 *
 * A delete of a URL's entries that fails (the storage out of reach) is remembered, so that what
 * it should have removed is not served once the storage is back: a read of it is a miss, and
 * deletes again.
 *
 * @module
 */

import { settledWithin } from "./deadline.ts";
import { ALIAS_PREFIX, urlKeyPrefix } from "./cache_keys.ts";

/** A delete of a URL's entries that failed: the URL, and the methods whose entries it was to delete. */
export interface UndoneDelete {
  url: URL;
  methods: readonly string[];
}

/** Invalidated URLs remembered, the latest; a response asked for before the others is not written. */
const REMEMBERED = 4096;

/**
 * Waits for the writes under way to settle, as long as a caller waits for a body's write at most
 * ({@linkcode settledWithin}, 2 s): a storage whose write hangs must not hold up every unsafe
 * request and delete after it. A write that lands later is undone by its writer
 * ({@linkcode Invalidations.write}).
 */
async function writesSettled(writing: ReadonlySet<Promise<unknown>>): Promise<void> {
  if (writing.size > 0) await settledWithin(Promise.allSettled(writing));
}

/**
 * Invalidations of URLs, in order, and the writes under way. A request takes a {@linkcode mark}
 * as it goes to the network; a write for a URL invalidated since that mark is skipped; an
 * invalidation waits for the writes already under way before it deletes (2 s at most), and a
 * write it came during is undone. While no invalidation
 * comes between a request and its write, the write is only counted: its URLs are not even worked
 * out.
 *
 * @example A response asked for before an invalidation is not written
 * ```ts
 * import { Invalidations } from "./invalidations.ts";
 *
 * const invalidations = new Invalidations();
 * const asked = invalidations.mark();
 * await invalidations.invalidating("GET https://example.com/a");
 * const written = await invalidations.write(() => ["GET https://example.com/a"], asked, async () => {});
 * console.log(written); // false
 * ```
 */
export class Invalidations {
  /** URL → the number of its last invalidation, oldest first. */
  #last = new Map<string, number>();
  /** The last number given, to a mark or an invalidation: they share one sequence. */
  #count = 0;
  /** The number of the last invalidation: a mark above it has seen every invalidation. */
  #latest = 0;
  /** The invalidations up to this number are forgotten: a response asked for before is not written. */
  #forgotten = 0;
  #writing = new Set<Promise<unknown>>();
  /** Deletes that failed, by the URL part of the keys they were to delete (one for each method). */
  #undone = new Map<string, UndoneDelete>();
  /**
   * Storage key → the newest write to it (by its request's mark), the {@linkcode REMEMBERED}
   * latest keys: a response asked for before the one written there last is older, and is not
   * written over it.
   */
  #written = new Map<string, KeyWrite>();
  /** Writes of keys ended, counted: {@linkcode Invalidations.keyWrites}. */
  #keyWrites = 0;

  /**
   * A count that every write of a key ending from now on passes: taken before a record is read,
   * it tells whether the key was written since ({@linkcode Invalidations.writtenSince}).
   */
  get keyWrites(): number {
    return this.#keyWrites;
  }

  /**
   * Whether the latest write of `key` ended since {@linkcode Invalidations.keyWrites} was `count`:
   * what the key holds may be newer than a record read of it then. (A write still under way, and
   * a key whose write has left the {@linkcode REMEMBERED} latest, count as not written: a write
   * that hangs keeps no delete from going out.)
   *
   * @param key A storage key.
   * @param count {@linkcode Invalidations.keyWrites} when the key's record was read.
   * @returns Whether the key may hold another record now.
   */
  writtenSince(key: string, count: number): boolean {
    return (this.#written.get(key)?.endedAt ?? 0) > count;
  }

  /**
   * Where each delete under way stood when it began ({@linkcode whileDeleting}), oldest first.
   */
  #deleting: number[] = [];

  /**
   * Where the invalidations stand, for records about to be read: {@linkcode since} at it tells
   * whether one of their URLs was invalidated after the read began, or is being invalidated by a
   * delete not yet ended, which the read may precede. (Not a {@linkcode mark} of its own: a hit
   * takes none.)
   */
  get current(): number {
    return this.#deleting[0] ?? this.#count;
  }

  /**
   * Runs a delete that invalidates what it removes ({@linkcode invalidating} first): until it has
   * ended, a record read may be one it is still to remove, and counts as read before its
   * invalidations ({@linkcode current}).
   *
   * @param remove The delete.
   * @returns What the delete returns.
   */
  async whileDeleting<T>(remove: () => Promise<T>): Promise<T> {
    const begun = this.#count;
    this.#deleting.push(begun);
    try {
      return await remove();
    } finally {
      this.#deleting.splice(this.#deleting.indexOf(begun), 1);
    }
  }

  /**
   * A mark for a request that goes to the network now: each is greater than every mark and
   * invalidation before it.
   *
   * @returns The mark.
   */
  mark(): number {
    return ++this.#count;
  }

  /**
   * Writes what the origin sent for some URLs (the one asked for, and the one a redirect led
   * to), unless one of them was invalidated since the request's mark.
   *
   * @param urls The URLs, as the keys of their entries start (asked for only after an
   *   invalidation since the mark).
   * @param mark The request's mark.
   * @param write The write; `false` from it says it wrote nothing.
   * @param undo Deletes what the write wrote, should an invalidation come while it was under way
   *   (which waits for it 2 s at most, so it may have deleted before the write landed), or a
   *   newer write of `key` stop waiting for it.
   * @param key The storage key the write replaces a record under, if it does: a response asked
   *   for before the one written there last is older, and is not written over it (two requests
   *   for one URL, the older one's body ending later); a write waits for the older one of the key
   *   still under way (2 s at most, after which that one is undone once it lands, and this one
   *   written again).
   * @param later Follows the write again that an overtaken older write of `key` calls for, once
   *   that one has ended (its failure is this write's).
   * @returns Whether it was written, and stands.
   */
  async write(
    urls: () => readonly string[],
    mark: number,
    write: () => Promise<boolean | void>,
    undo?: () => Promise<unknown>,
    key?: string,
    later?: (again: Promise<unknown>) => void,
  ): Promise<boolean> {
    if (this.since(urls, mark)) return false;
    // (Without an older write of the key under way, the write starts at once, as without a key.)
    let mine = key === undefined ? undefined : this.#turn(key, mark);
    if (mine instanceof Promise) mine = await mine;
    if (mine === null) return false;
    let again: Promise<unknown> | undefined;
    try {
      // (An invalidation may have come while it waited for the older write.)
      if (mine !== undefined && this.since(urls, mark)) return false;
      const started = this.#count;
      const before = this.#keyWrites;
      const written = await this.#run(write);
      if (written === false) return false;
      const stands = () => mine?.overtaken !== true && !this.since(urls, started);
      if (undo !== undefined && !stands()) {
        await undo();
        return false;
      }
      // The older write this one stopped waiting for, should it end after this one began, undoes
      // itself (it landed over this one) or fails (its record deleted): either takes this one
      // with it, which was reported as stored. It is written again once that one has ended
      // (`later` follows that), unless a newer write or an invalidation came meanwhile.
      const older = mine?.overtook;
      if (older !== undefined && (!older.ended || older.endedAt > before)) {
        again = older.done.then(async () => {
          if (this.#written.get(key!) !== mine || !stands()) return;
          await this.#run(write);
          if (undo !== undefined && !stands()) await undo();
        }).finally(() => mine!.end());
        if (later === undefined) again.catch(() => {});
        else later(again);
      }
      return true;
    } finally {
      if (again === undefined) mine?.end();
    }
  }

  /** Runs a write, counted among those under way, which an invalidation waits for. */
  async #run(write: () => Promise<boolean | void>): Promise<boolean | void> {
    const work = write();
    this.#writing.add(work);
    try {
      return await work;
    } finally {
      this.#writing.delete(work);
    }
  }

  /**
   * Takes the turn of a write to `key` for a response asked for at `mark`: none (`null`) when a
   * response asked for since was written there, or is being written; else at once, or once the
   * older write of the key under way has ended, 2 s at most ({@linkcode settledWithin}): after
   * that, it is overtaken, and undoes itself once it lands.
   */
  #turn(key: string, mark: number): KeyWrite | null | Promise<KeyWrite | null> {
    const last = this.#written.get(key);
    if (last !== undefined && last.mark > mark) return null;
    if (last === undefined || last.mark === mark || last.ended || last.overtaken) {
      return this.#take(key, mark);
    }
    return settledWithin(last.done).then(() => {
      if (!last.ended) last.overtaken = true;
      return this.#turn(key, mark);
    });
  }

  /** Makes a write of `key` for a response asked for at `mark` the newest of the key's. */
  #take(key: string, mark: number): KeyWrite {
    const last = this.#written.get(key);
    let end!: () => void;
    const done = new Promise<void>((resolve) => end = resolve);
    const mine: KeyWrite = {
      mark,
      done,
      ended: false,
      overtaken: false,
      overtook: last !== undefined && !last.ended && last.mark !== mark ? last : undefined,
      endedAt: 0,
      end: () => {
        mine.ended = true;
        mine.overtook = undefined; // (no chain of ended writes held)
        mine.endedAt = ++this.#keyWrites;
        end();
      },
    };
    remember(this.#written, key, mine);
    return mine;
  }

  /**
   * Whether one of some URLs was invalidated since a mark.
   *
   * @param urls The URLs, as the keys of their entries start (asked for only after an
   *   invalidation since the mark).
   * @param mark A request's mark.
   * @returns Whether a response asked for at the mark is out of date.
   */
  since(urls: () => readonly string[], mark: number): boolean {
    if (mark >= this.#latest) return false;
    return mark < this.#forgotten || urls().some((url) => (this.#last.get(url) ?? 0) > mark);
  }

  /**
   * Starts invalidating `urls`: a later write of a response asked for before now is skipped.
   *
   * @param urls The URLs, as the keys of their entries start.
   * @returns Once the writes already under way have ended (whether they failed or not).
   */
  async invalidating(...urls: string[]): Promise<void> {
    for (const url of urls) {
      const forgotten = remember(this.#last, url, this.#latest = ++this.#count);
      if (forgotten !== undefined) this.#forgotten = forgotten;
    }
    await writesSettled(this.#writing);
  }

  /**
   * Starts invalidating every URL (the cache is being cleared): no response asked for before now
   * is written later.
   *
   * @returns Once the writes already under way have ended (whether they failed or not).
   */
  async invalidatingAll(): Promise<void> {
    this.#last.clear();
    this.#forgotten = this.#latest = ++this.#count;
    await writesSettled(this.#writing);
  }

  /**
   * Starts invalidating the URLs of some storage keys ({@linkcode invalidating}), before they are
   * deleted.
   *
   * @param keys Storage keys: of entries, Vary variants or redirect aliases.
   * @returns Once the writes already under way have ended.
   */
  invalidatingKeys(keys: readonly string[]): Promise<void> {
    return this.invalidating(...new Set(keys.map(urlPartOf)));
  }

  /**
   * Notes that deleting what is stored for some URLs failed: until a delete of them succeeds,
   * {@linkcode undoneOf} names them to the reads of their records. The {@linkcode REMEMBERED}
   * latest pairs of URL and method are kept.
   *
   * @param urls The URLs.
   * @param methods The methods whose entries the delete was to remove.
   */
  undone(urls: readonly URL[], methods: readonly string[]): void {
    for (const url of urls) {
      for (const method of methods) remember(this.#undone, urlKeyPrefix(method, url), { url, methods });
    }
  }

  /**
   * Notes that what is stored for some URLs was deleted.
   *
   * @param urls The URLs.
   * @param methods The methods whose entries were deleted.
   */
  deleted(urls: readonly URL[], methods: readonly string[]): void {
    if (this.#undone.size === 0) return;
    for (const url of urls) for (const method of methods) this.#undone.delete(urlKeyPrefix(method, url));
  }

  /** Notes that the storage was cleared: no delete is left undone. */
  cleared(): void {
    this.#undone.clear();
  }

  /** Whether a delete failed and has not succeeded since: reads then ask {@linkcode undoneOf}. */
  get undoing(): boolean {
    return this.#undone.size > 0;
  }

  /**
   * The delete that failed that a record belongs to: by its key, or by the URL a redirect that
   * led to it ended at.
   *
   * @param key The record's storage key.
   * @param url Where the redirect that led to the entry it holds ended, if one did.
   * @returns The delete to make again, or `undefined`.
   */
  undoneOf(key: string, url: string | undefined): UndoneDelete | undefined {
    return this.#undone.get(urlPartOf(key)) ??
      (url === undefined ? undefined : this.#undone.get(urlKeyPrefix("GET", new URL(url))));
  }
}

/** A write to a storage key, by the mark of the request whose response it writes. */
interface KeyWrite {
  mark: number;
  /** Settles once the write has ended (and its undo, if it had one to make). */
  done: Promise<void>;
  ended: boolean;
  /** Whether a newer write of the key stopped waiting for it: it is undone once it lands. */
  overtaken: boolean;
  /** The older write of the key still under way when this one took its turn, which it overtook. */
  overtook: KeyWrite | undefined;
  /** {@linkcode Invalidations.keyWrites} once it ended; 0 while under way. */
  endedAt: number;
  end(): void;
}

/** How many keys beyond {@linkcode REMEMBERED} a map holds before the oldest are dropped. */
const SLACK = REMEMBERED / 8;

/**
 * Sets a key as the newest of a map that keeps the {@linkcode REMEMBERED} newest, and up to
 * {@linkcode SLACK} more. The oldest go in batches: finding the oldest key walks past the slots
 * of keys deleted before it, which a dropped key leaves and only a rehash removes, so dropping
 * one key per write cost 1.5 to 4 µs (Deno, Node, Bun) once a map was full.
 *
 * @returns The value of the newest key dropped, when some were dropped to make room.
 */
function remember<T>(map: Map<string, T>, key: string, value: T): T | undefined {
  map.delete(key);
  map.set(key, value);
  if (map.size <= REMEMBERED + SLACK) return undefined;
  let dropped: T | undefined;
  for (const [oldest, value] of map) {
    if (map.size <= REMEMBERED) break;
    map.delete(oldest);
    dropped = value;
  }
  return dropped;
}

/** The length of the method-and-URL part of a key: one digest (`urlKeyPrefix`). */
const URL_PART_LENGTH = 22;

/**
 * The part of a storage key that names the method and URL (what `urlKeyPrefix` gives): an entry's
 * key is that part, then perhaps `+` and a digest of body, headers and credentials, then perhaps
 * `.` and a Vary variant's digest; an alias's is `~` and the key of the URL it names. A `keyFn`'s
 * key that extends the default key may go on with anything (`<default key>:<tenant>`): the part
 * is the digest it starts with, whatever follows.
 *
 * @param key The storage key.
 * @returns Its method-and-URL part.
 */
export function urlPartOf(key: string): string {
  const entryKey = key.startsWith(ALIAS_PREFIX) ? key.slice(ALIAS_PREFIX.length) : key;
  return entryKey.slice(0, URL_PART_LENGTH);
}

/** The invalidations of each storage: every session and every delete over it share them. */
const OF_STORAGE = new WeakMap<object, Invalidations>();

/**
 * The invalidations of a storage, shared by every session that writes to it and by the cache's
 * own deletes.
 *
 * @param storage The storage.
 * @returns Its invalidations.
 */
export function invalidationsOf(storage: object): Invalidations {
  let invalidations = OF_STORAGE.get(storage);
  if (invalidations === undefined) OF_STORAGE.set(storage, invalidations = new Invalidations());
  return invalidations;
}
