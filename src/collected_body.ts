/**
 * {@linkcode Collected}: a streamed body as the cache gathers it for its record, beside the
 * caller's reading of it.
 *
 * @module
 */

import { copyInto } from "./bytes.ts";
import { type CacheEntry, draftEntry, type RecordDraft, sealRecord } from "./record.ts";
import type { TakenBody } from "./body.ts";

/**
 * A body as the cache collects it while it streams: straight into the entry's record when its
 * length is declared, else as copies of its chunks, put together into the record once it has
 * ended. Let go of (nothing more held) once it outgrows the limit or a chunk is not bytes, or when
 * the memory to hold it is refused: that failure is the cache's own, kept in `failure`, and never
 * the body's (a record's room for the declared length, refused up front, is no failure yet: the
 * body is then collected as it comes).
 */
export class Collected {
  /** Whether the body is still collected. */
  collecting = true;
  /** Why the cache let go of the body when it could not hold it (memory refused, a chunk it could not copy). */
  failure: { error: unknown } | undefined;
  #entry: Omit<CacheEntry, "body">;
  #limit: number;
  #draft: RecordDraft | undefined;
  #parts: Uint8Array[] = [];
  #size = 0;

  /**
   * @param entry The entry being stored, without its body.
   * @param limit Largest body collected, in bytes.
   * @param declared The body's declared length, when it is known (and at most `limit`): the body
   *   is then copied straight into the record, as long as it is no longer.
   */
  constructor(entry: Omit<CacheEntry, "body">, limit: number, declared: number | undefined) {
    this.#entry = entry;
    this.#limit = limit;
    this.#draft = declared === undefined ? undefined : roomFor(entry, declared);
  }

  /** Copies a chunk for the cache (the caller may write into the chunk itself). */
  add(chunk: Uint8Array): void {
    if (!this.collecting) return;
    try {
      this.#add(chunk);
    } catch (error) {
      this.#letGo({ error });
    }
  }

  #add(chunk: Uint8Array): void {
    const at = this.#size;
    this.#size += chunk.length;
    const draft = this.#draft;
    if (!(chunk instanceof Uint8Array) || this.#size > this.#limit) {
      this.#letGo();
    } else if (draft !== undefined && draft.bodyAt + this.#size <= draft.bytes.length) {
      draft.bytes.set(chunk, draft.bodyAt + at);
    } else {
      // Longer than declared (a hand-made Response): collected aside from here on.
      if (draft !== undefined) this.#parts = [draft.bytes.slice(draft.bodyAt, draft.bodyAt + at)];
      this.#draft = undefined;
      // A copy: `slice()` would not be one for a Node `Buffer`, which may lie in a pool that is reused.
      this.#parts.push(new Uint8Array(chunk));
    }
  }

  /** The whole body, once it has ended, or `undefined` when it was let go of. */
  taken(): TakenBody | undefined {
    if (!this.collecting) return undefined;
    try {
      return this.#taken();
    } catch (error) {
      this.#letGo({ error });
      return undefined;
    }
  }

  #taken(): TakenBody {
    const draft = this.#draft;
    if (draft !== undefined && draft.bodyAt + this.#size === draft.bytes.length) {
      return { body: draft.bytes.subarray(draft.bodyAt), record: sealRecord(draft.bytes, draft.bodyAt) };
    }
    // Collected aside, or shorter than declared (a hand-made Response): into a record of its own.
    const parts = draft === undefined
      ? this.#parts
      : [draft.bytes.subarray(draft.bodyAt, draft.bodyAt + this.#size)];
    const { bytes, bodyAt } = draftEntry(this.#entry, this.#size);
    copyInto(bytes, bodyAt, parts);
    return { body: bytes.subarray(bodyAt), record: sealRecord(bytes, bodyAt) };
  }

  /** Holds nothing more of the body, for good; `failure` is the cache's, when it could not hold it. */
  #letGo(failure?: { error: unknown }): void {
    this.collecting = false;
    this.#draft = undefined;
    this.#parts = [];
    this.failure = failure;
  }
}

/**
 * A record drafted with room for a body of `length` bytes, or `undefined` when the memory for it
 * is refused (a large declared length, memory short): the body can still be taken as it comes.
 *
 * @param entry The entry being stored, without its body.
 * @param length The body's declared length.
 * @returns The draft, if it could be allocated.
 */
export function roomFor(entry: Omit<CacheEntry, "body">, length: number): RecordDraft | undefined {
  try {
    return draftEntry(entry, length);
  } catch {
    return undefined;
  }
}
