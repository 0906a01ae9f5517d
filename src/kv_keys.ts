/**
 * Deno KV's key size limit, and how the cache's keys are fitted to it: KV refuses a key over
 * 2,048 bytes. A storage key too long for one (a `keyFn`'s that holds a long URL or header) is
 * kept under its start, a "§" and a digest of it whole: no storage key holds a "§" (they are
 * printable ASCII), so that form is no other key's, and reads as itself.
 *
 * @module
 */

import { digestText } from "./sha256.ts";

const MAX_KEY_BYTES = 2048;
/** Bytes of a number part of a KV key: a type byte and a float64. */
const NUMBER_PART_BYTES = 9;
const LONG_KEY_MARK = "\u00a7";
/**
 * Bytes a prefix leaves, at least, to the last part of an entry's key: a long key's digest form
 * takes 26, a chunk's key 47 after the prefix's "entry".
 */
const MIN_KEY_ROOM = 64;
/** The most bytes a prefix's parts take in a KV key (each part's bytes and two of framing). */
const MAX_PREFIX_BYTES = MAX_KEY_BYTES - MIN_KEY_ROOM - 7;

/**
 * The bytes the last part of an entry's KV key (`[...prefix, "entry", key]`) may take.
 *
 * @param backend The class being created, for the message.
 * @param prefix The key prefix.
 * @returns The room.
 * @throws {RangeError} When the prefix leaves no room for a record's key (nor its chunks' keys):
 *   every call would fail.
 */
export function keyRoom(backend: string, prefix: readonly string[]): number {
  const room = MAX_KEY_BYTES - keyBytes([...prefix, "entry"]);
  if (room < MIN_KEY_ROOM) {
    throw new RangeError(
      `Cannot create ${backend}: prefix must take at most ${MAX_PREFIX_BYTES} bytes of a ${MAX_KEY_BYTES}-byte ` +
        `KV key (each part its UTF-8 bytes and 2), leaving room for the cache's keys: received one of ` +
        `${MAX_KEY_BYTES - room - partBytes("entry")} bytes`,
    );
  }
  return room;
}

/**
 * A storage key as the last part of its KV key: itself when it fits, else its start, "§" and a
 * digest of it whole.
 *
 * @param key The storage key.
 * @param room The bytes it may take ({@linkcode keyRoom}).
 * @returns The key part.
 */
export function fittedKey(key: string, room: number): string {
  if (partBytes(key) <= room) return key;
  const digest = LONG_KEY_MARK + digestText(key);
  let head = key.slice(0, room);
  while (head !== "" && partBytes(head + digest) > room) {
    head = head.slice(0, head.length - (partBytes(head + digest) - room));
  }
  return head + digest;
}

/** Bytes of a KV key of string and number parts, as KV counts them against its limits. */
export function keyBytes(key: readonly (string | number)[]): number {
  return key.reduce<number>(
    (sum, part) => sum + (typeof part === "number" ? NUMBER_PART_BYTES : partBytes(part)),
    0,
  );
}

/** Bytes of a string part of a KV key: a type byte, its UTF-8 (a NUL escaped in two), a NUL. */
function partBytes(part: string): number {
  let bytes = 2;
  for (let i = 0; i < part.length; i++) {
    const code = part.charCodeAt(i);
    bytes += code === 0 ? 2 : code < 0x80 ? 1 : code < 0x800 ? 2 : 3;
  }
  return bytes;
}
