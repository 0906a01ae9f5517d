/**
 * The decoded forms of records that a backend keeps, so that a hot record is not decoded on every
 * hit: whole records for a storage that keeps values (the memory backend), and the decoded
 * metadata of records for a storage that hands out new bytes on every read (the others).
 *
 * @module
 */

import { type CacheEntry, type DecodedRecord, decodeRecord } from "./record.ts";
import { keepInitialAge } from "./policy.ts";
import { startsWith } from "./bytes.ts";

/** How many small decoded records are kept: the 1,024 read last. */
export const DECODED_RECORDS = 1024;
/**
 * Most bytes of records that the small decoded records keep alive (their bodies are views into
 * them, and a record the storage has let go of lives on as long as it is kept), and most bytes of
 * the heads that decoded heads keep: 2 MiB.
 */
const KEPT_BYTES = 2 * 1024 * 1024;
/**
 * Smallest record whose decoded form lives as long as its bytes: 64 KiB. A decoded form costs
 * about as much memory as a small record, so only the small records read last keep theirs; beside
 * a large record it is a rounding error (at most a few percent).
 */
const LARGE_RECORD = 64 * 1024;
/** Bits of the filter of keys read once: 2^16 (8 KiB). */
const SEEN_BITS = 1 << 16;
/** Keys marked in the filter before it starts afresh: at most 1 bit in 16 is set. */
const SEEN_MARKS = SEEN_BITS / 16;

interface Kept {
  bytes: Uint8Array;
  record: DecodedRecord;
}

/** What is kept of a record read as a copy: its bytes up to the body, and its entry without one. */
interface KeptHead {
  head: Uint8Array;
  length: number;
  entry: CacheEntry;
}

const NO_BODY = new Uint8Array(0);

/**
 * Decoded records by key, for bytes that the storage never changes: a read of the same bytes
 * finds its record decoded. A small record is kept from its second read on (a key read once in a
 * while, as in a large store visited at random, never churns the kept records: measured on Deno,
 * keeping every one made a hit among 100k entries a quarter slower, in garbage collection), and
 * stays among the 1,024 read last (those of 2 MiB of records at most: its body is a view into its
 * record, which it keeps alive after the storage has let go of it). A large one is kept as long as
 * the storage holds its bytes.
 *
 * Kept entries are shared by every read: treat them as read-only.
 *
 * @example A record read twice is decoded once
 * ```ts
 * import { DecodedRecords } from "./decoded_records.ts";
 * import { encodeAlias } from "./record.ts";
 *
 * const records = new DecodedRecords();
 * const bytes = encodeAlias(["target"]);
 * records.decode("key", bytes);
 * const second = records.decode("key", bytes);
 * console.log(second === records.decode("key", bytes)); // true
 * ```
 */
export class DecodedRecords {
  #small = new KeptLately<Kept>((kept) => kept.bytes.byteLength);
  /** By the buffer of their bytes: held weakly, so a record the storage lets go of is not kept. */
  #large = new WeakMap<ArrayBufferLike, Kept>();

  /**
   * Decodes a record, or finds it decoded.
   *
   * @param key The storage key.
   * @param bytes The record's bytes, as the storage keeps them.
   * @returns The decoded record.
   * @throws {SyntaxError} When the bytes are not an intact record.
   */
  decode(key: string, bytes: Uint8Array): DecodedRecord {
    const large = bytes.byteLength >= LARGE_RECORD;
    const known = large ? this.#large.get(bytes.buffer) : this.#small.get(key);
    if (
      known !== undefined && known.bytes.buffer === bytes.buffer &&
      known.bytes.byteOffset === bytes.byteOffset && known.bytes.byteLength === bytes.byteLength
    ) {
      return known.record;
    }
    const record = decodeRecord(bytes);
    if (large) this.#large.set(bytes.buffer, keep(bytes, record));
    else this.#small.offer(key, () => keep(bytes, record));
    return record;
  }
}

/**
 * Values for the keys read lately: a key is kept from its second read on (a filter with a bit per
 * hash of a key read lately tells; a false positive admits a key early, nothing else), and the
 * {@linkcode DECODED_RECORDS} kept last stay, and of those only as many as weigh
 * {@linkcode KEPT_BYTES} in all.
 */
class KeptLately<T> {
  #kept = new Map<string, T>();
  #seen = new Uint8Array(SEEN_BITS / 8);
  #marks = 0;
  #weigh: (value: T) => number;
  #bytes = 0;

  /**
   * @param weigh The bytes a kept value holds alive.
   */
  constructor(weigh: (value: T) => number) {
    this.#weigh = weigh;
  }

  get(key: string): T | undefined {
    return this.#kept.get(key);
  }

  /** Keeps `value()` for `key` when the key is kept already or was read lately; marks it read. */
  offer(key: string, value: () => T): void {
    const known = this.#kept.get(key);
    if (known !== undefined) {
      this.#kept.delete(key);
      this.#bytes -= this.#weigh(known);
    } else if (!this.#seenBefore(key)) return;
    const kept = value();
    this.#bytes += this.#weigh(kept);
    this.#kept.set(key, kept);
    while (this.#kept.size > DECODED_RECORDS || (this.#bytes > KEPT_BYTES && this.#kept.size > 1)) {
      const [oldest, dropped] = this.#kept.entries().next().value!;
      this.#kept.delete(oldest);
      this.#bytes -= this.#weigh(dropped);
    }
  }

  #seenBefore(key: string): boolean {
    const hash = fnv1a(key) & (SEEN_BITS - 1);
    const bit = 1 << (hash & 7);
    if ((this.#seen[hash >>> 3]! & bit) !== 0) return true;
    if (++this.#marks > SEEN_MARKS) {
      this.#seen.fill(0);
      this.#marks = 1;
    }
    this.#seen[hash >>> 3]! |= bit;
    return false;
  }
}

/**
 * Decoded metadata by key, for a storage that hands out new bytes on every read (SQLite, Redis,
 * MongoDB, Deno KV): a read whose bytes up to the body equal those of a record read before, at the
 * same length, takes that record's decoded entry with the new body instead of decoding it again
 * (comparing 200 bytes costs a fifth of decoding them; a SQLite hit at 1 KB is 4–7% faster), and
 * its initial age, worked out once (parsing a `Date` costs about 0.5 µs a hit on Deno). The
 * checksum is among the bytes compared, so the bytes are as intact as a decoded record's. Only
 * the part before the body is kept (a copy of it), for the small records read more than once
 * lately, as {@linkcode DecodedRecords} keeps them: the 1,024 read last, of 2 MiB of heads at most.
 */
export class DecodedHeads {
  #kept = new KeptLately<KeptHead>((kept) => kept.head.byteLength);

  /**
   * Decodes a record, or its body alone when its metadata is known.
   *
   * @param key The storage key.
   * @param bytes The record's bytes, as the storage handed them out.
   * @returns The decoded record; its entry is new, its fields shared with earlier reads.
   * @throws {SyntaxError} When the bytes are not an intact record.
   */
  decode(key: string, bytes: Uint8Array): DecodedRecord {
    const kept = this.#kept.get(key);
    if (kept !== undefined && kept.length === bytes.length && startsWith(bytes, kept.head)) {
      return { kind: "entry", entry: { ...kept.entry, body: bytes.subarray(kept.head.length) } };
    }
    const record = decodeRecord(bytes);
    if (record.kind !== "entry" || bytes.byteLength >= LARGE_RECORD) return record;
    const { entry } = record;
    this.#kept.offer(key, () => {
      keepInitialAge(entry);
      return {
        head: bytes.slice(0, bytes.length - entry.body.length),
        length: bytes.length,
        entry: { ...entry, body: NO_BODY },
      };
    });
    return record;
  }
}

function keep(bytes: Uint8Array, record: DecodedRecord): Kept {
  if (record.kind === "entry") keepInitialAge(record.entry);
  return { bytes, record };
}

function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}
