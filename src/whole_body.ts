/**
 * A miss's body of declared length read whole for the cache, on the runtimes that gain by it
 * (Deno and Bun: `READS_WHOLE` in served_body.ts): straight into the entry's record where the reader
 * brings its own buffer, and handed to the caller, who got the response with its headers, once it
 * has all come ({@linkcode laterBody}).
 *
 * @module
 */

import { onAbort, readingAlone, unlessAborted } from "./abort_follow.ts";
import { joined } from "./bytes.ts";
import type { TakenBody, Waiters } from "./body.ts";
import { type RecordDraft, sealRecord } from "./record.ts";
import {
  type BodyController,
  BYTE_BODIES,
  closeStream,
  offerWhole,
  OWNS_READ_BODY,
  pulledStream,
  READS_INTO_RECORD,
} from "./served_body.ts";

/** Smallest body read straight into its record rather than read, then copied in: 16 KiB. */
const READ_INTO_RECORD_MIN = 16 * 1024;

/**
 * Reads a body whole into the body part of a drafted record: without a copy on Deno, where the
 * reader brings its own buffer to a byte stream ({@linkcode READS_INTO_RECORD}), else with one. A
 * body that turns out shorter or longer than declared (a hand-made `Response`) is returned
 * without a record.
 *
 * @param response The response.
 * @param draft The entry's record, with room for the declared length.
 * @param reading Receives how to give the read up, where it can be ({@linkcode WholeRead}).
 * @param waiters The requests that wait for the body, told of each read that comes (but for a
 *   read by `arrayBuffer()`, made while none waits, which shows its start alone: those that come
 *   during it wait for its end as long as for a body that stalls).
 * @returns The body, and the sealed record when it matched the declared length; `undefined` when
 *   the read was given up.
 * @throws {unknown} The body's error when it failed.
 */
export async function readWhole(
  response: Response,
  draft: RecordDraft,
  reading: WholeRead,
  waiters?: Waiters,
): Promise<TakenBody | undefined> {
  const { bodyAt } = draft;
  let bytes = draft.bytes;
  let reader: ReadableStreamBYOBReader | undefined;
  try {
    // A small body costs less to copy than a second read (to learn that it has ended) costs.
    if (READS_INTO_RECORD && bytes.length - bodyAt >= READ_INTO_RECORD_MIN) {
      reader = response.body?.getReader({ mode: "byob" });
    }
  } catch {
    // Not a byte stream: read it the plain way, then copy it in.
  }
  if (reader === undefined) {
    // (A read by `arrayBuffer()` cannot be given up; on Deno a plain reader in its place made a
    // 1 KB miss take half as long again.) Requests that wait for the body already hear of each
    // chunk (a plain read costs little beside theirs); those that come during a read by
    // `arrayBuffer()` hear of its start alone: should the body stall (its connection left half
    // open), they ask the origin themselves, rather than wait for good.
    const body = waiters?.wanted() && response.body !== null
      ? await readTelling(response.body, waiters, reading)
      : (waiters?.progressed(), new Uint8Array(await response.arrayBuffer()));
    if (body === undefined) return undefined;
    if (body.length !== bytes.length - bodyAt) return { body };
    bytes.set(body, bodyAt);
    const taken = { body: bytes.subarray(bodyAt), record: sealRecord(bytes, bodyAt) };
    return OWNS_READ_BODY ? { ...taken, read: body } : taken;
  }
  const given = givingUp(reader, reading);
  let at = bodyAt;
  while (at < bytes.length) {
    waiters?.progressed();
    // Each read hands the buffer over and back: keep the latest view of it.
    const { done, value } = await reader.read(new Uint8Array(bytes.buffer, at, bytes.length - at));
    if (given()) return undefined;
    if (value !== undefined) {
      bytes = new Uint8Array(value.buffer);
      at += value.byteLength;
    }
    if (done) return { body: bytes.slice(bodyAt, at) };
  }
  // The body should end here: one byte of room is enough to learn that it does.
  const parts = [bytes.subarray(bodyAt)];
  for (let room = 1;; room = 64 * 1024) {
    waiters?.progressed();
    const { done, value } = await reader.read(new Uint8Array(room));
    if (given()) return undefined;
    if (value !== undefined && value.byteLength > 0) parts.push(value);
    if (done) break;
  }
  if (parts.length > 1) return { body: joined(parts) };
  return { body: parts[0]!, record: sealRecord(bytes, bodyAt) };
}

/**
 * Reads a body whole by a plain reader, telling the requests that wait for it of each chunk. Unlike
 * a read by `arrayBuffer()`, it can be given up (`reading.giveUp`): once the waiters have left a
 * body that stalls, its caller's cancel frees the origin's connection (at the time limit, or as
 * the session closes), as a streamed body's does.
 *
 * @param body The body.
 * @param waiters The requests that wait for it.
 * @param reading Receives how to give the read up.
 * @returns Its bytes; `undefined` when the read was given up.
 * @throws {TypeError} When a chunk is not bytes, as `arrayBuffer()` does; the body's error when it fails.
 */
async function readTelling(
  body: ReadableStream<Uint8Array>,
  waiters: Waiters,
  reading: WholeRead,
): Promise<Uint8Array<ArrayBuffer> | undefined> {
  const reader = body.getReader();
  const given = givingUp(reader, reading);
  const parts: Uint8Array[] = [];
  for (;;) {
    waiters.progressed();
    const { done, value } = await reader.read();
    if (given()) return undefined;
    if (done) return joined(parts);
    if (!(value instanceof Uint8Array)) throw new TypeError("A body chunk is not a Uint8Array");
    parts.push(value);
  }
}

/**
 * Lets `reading` give up a read by `reader`, which cancels the body.
 *
 * @param reader The reader.
 * @param reading Receives how to give the read up.
 * @returns Whether it was given up.
 */
function givingUp(reader: ReadableStreamGenericReader, reading: WholeRead): () => boolean {
  let given = false;
  reading.giveUp = (reason) => (given = true, reader.cancel(reason).catch(() => {}));
  return () => given;
}

/**
 * The cache's read of a whole body: `giveUp` stops it, when it reads by a reader (one that brings
 * its own buffer, or a plain one while requests wait); a read by `arrayBuffer()` cannot be
 * stopped. The body is then not stored.
 */
export interface WholeRead {
  giveUp?: (reason: unknown) => void;
}

/**
 * A body read whole, handed to the caller before it has all come: a stream that gives a copy of
 * the bytes (they are the stored ones) once they are there, or the body's error. An abort of the
 * request's signal before the caller has read them fails it with the signal's reason, as fetch's
 * would; the read goes on for the cache (for the requests that wait on this one). Taken whole, it
 * is taken without the stream ({@linkcode offerWhole}).
 *
 * @param whole The body, once read: the caller gets a copy of the stored bytes, or the bytes as
 *   they were read, when nothing else holds them (`read`).
 * @param signal The request's abort signal.
 * @param reading How to give the cache's read up, should the caller cancel.
 * @param closing The session's closing signal, which gives it up too.
 * @param waiters The requests that wait for the body (coalesced on it): the read is not timed
 *   while one does.
 * @returns The stream.
 */
export function laterBody(
  whole: Promise<TakenBody>,
  signal: AbortSignal | null | undefined,
  reading: WholeRead,
  closing: AbortSignal | undefined,
  waiters?: Pick<Waiters, "wanted">,
): ReadableStream<Uint8Array> {
  let caller!: BodyController;
  /** Whether the caller took the body whole: its stream's cancel only marks it as read. */
  let taken = false;
  /** Whether the caller's body has ended: read, failed, aborted or cancelled. */
  let ended = false;
  /** Stops following the signal; set iff there is one. */
  let unfollow: (() => void) | undefined;
  const end = () => {
    ended = true;
    unfollow?.();
  };
  // A byte stream, as fetch's body is (not on Bun: {@linkcode BYTE_BODIES}); its one chunk owns its buffer.
  const stream = pulledStream(BYTE_BODIES, {
    start: (controller) => {
      caller = controller;
    },
    pull: () =>
      whole.then(({ body, read }) => {
        if (ended) return;
        end();
        if (body.length > 0) caller.enqueue(read ?? body.slice());
        closeStream(caller);
      }, (error) => {
        if (!ended) caller.error(error);
        end();
      }),
    cancel: () => {
      end();
      if (taken) return;
      // (Followed for the read, which holds `reading`, not for this stream, which may go first.)
      const giveUp = (reason: unknown) => reading.giveUp?.(reason);
      const unfollowAlone = readingAlone(giveUp, closing, reading, undefined, waiters);
      whole.catch(() => {}).finally(unfollowAlone);
    },
  });
  if (signal) {
    unfollow = onAbort(signal, () => {
      if (!ended) caller.error(signal.reason);
      end();
    }, stream);
  }
  offerWhole(stream, () => {
    taken = true;
    return unlessAborted(whole, signal).finally(end).then(({ body, read }) => read ?? body.slice());
  });
  return stream;
}
