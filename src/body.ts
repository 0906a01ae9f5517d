/**
 * Takes a network body for the cache: read whole, straight into the entry's record, when it is
 * small and its length is declared; else streamed to the caller while the cache collects it, and
 * copied into the record once complete. Either way the body is copied once for the cache.
 *
 * A streamed body is split with `tee()`: the caller reads its branch at its own pace, the cache
 * reads the other to the end. So a response is stored even when the caller stops reading, and
 * never when the network stream fails: then the caller's branch errors exactly as plain fetch
 * would, and the collected bytes are dropped. A body that outgrows the limit is let go: its
 * branch is cancelled, the caller's branch streams on untouched, and nothing more is held.
 *
 * @module
 */

import { type CacheEntry, draftEntry, type RecordDraft, sealRecord } from "./record.ts";
import { storedBody } from "./served_body.ts";

/** A body split between the caller and the cache. */
interface CapturedBody {
  /** The caller's branch. */
  stream: ReadableStream<Uint8Array> | null;
  /**
   * The complete body in its chunks, or `undefined` when it was larger than the limit; rejects
   * with the stream's error when the body failed.
   */
  chunks: Promise<Uint8Array[] | undefined>;
}

/** What the cache gets of a body: its bytes, and the record they were read into, if they were. */
export interface TakenBody {
  /** The complete body. */
  body: Uint8Array;
  /** The entry's whole record, when the body was read straight into it. */
  record?: Uint8Array;
  /**
   * The same bytes in a buffer nothing else holds, when the body was read before it was copied
   * into the record: the caller gets them as they are, without a copy of its own.
   */
  own?: Uint8Array;
}

/**
 * Takes a storable network body: reads it whole, straight into the entry's record, when
 * {@linkcode wholeLength} says so; else splits it between the caller and the cache
 * ({@linkcode captureBody}). Either way `store` receives the complete body (`undefined` when it
 * outgrew `limit`, a rejection when it failed), and the caller's body ends only once what
 * `store` returned has settled ({@linkcode STORE_WAIT_LIMIT} at most): a caller that has read a
 * body finds it in the cache.
 *
 * @param response The network response.
 * @param limit Largest body the cache collects, in bytes.
 * @param entry The entry being stored, without its body.
 * @param store Stores the body; settles when the cache is done with it.
 * @returns The body to hand to the caller.
 */
export async function takeBody(
  response: Response,
  limit: number,
  entry: Omit<CacheEntry, "body">,
  store: (taken: Promise<TakenBody | undefined>) => Promise<unknown>,
): Promise<BodyInit | null> {
  const length = wholeLength(response.headers, limit);
  if (length !== undefined) {
    const taken = readWhole(response, draftEntry(entry, length));
    const stored = store(taken);
    let body: TakenBody;
    try {
      body = await taken;
    } catch (error) {
      return failedBody(error);
    }
    await settledWithin(stored);
    return body.own === undefined ? storedBody(body.body) : storedBody(body.own, true);
  }
  const captured = captureBody(response.body, limit);
  const stored = store(captured.chunks.then((chunks) => chunks && assemble(entry, chunks)));
  return captured.stream && endAfter(captured.stream, stored);
}

/**
 * Largest body read whole before the response is handed over: 1 MiB. One read of the whole body
 * costs far less than a stream through the cache (each chunk a promise, both ends in JavaScript),
 * and the caller of a body this small rarely gains anything from its first bytes coming earlier.
 */
export const READ_WHOLE_LIMIT = 1024 * 1024;

/**
 * The length of a body that is read whole: its `Content-Length`, when declared, at most `limit`
 * and {@linkcode READ_WHOLE_LIMIT}, and the body has no content coding (a decoded body could be
 * any size).
 *
 * @param headers The response's headers.
 * @param limit Largest body the cache collects, in bytes.
 * @returns The length, or `undefined` when the body streams.
 */
function wholeLength(headers: Headers, limit: number): number | undefined {
  const declared = headers.get("content-length");
  const length = Number(declared);
  if (declared === null || !Number.isSafeInteger(length) || length < 0) return undefined;
  if (length > Math.min(limit, READ_WHOLE_LIMIT)) return undefined;
  const coding = headers.get("content-encoding");
  return coding === null || coding === "identity" ? length : undefined;
}

/** Smallest body read straight into its record rather than read, then copied in: 16 KiB. */
const READ_INTO_RECORD_MIN = 16 * 1024;

/**
 * Reads a body whole into the body part of a drafted record, without a copy where the stream
 * lets the reader bring its own buffer (a byte stream), else with one. A body that turns out
 * shorter or longer than declared (a hand-made `Response`) is returned without a record.
 *
 * @param response The response.
 * @param draft The entry's record, with room for the declared length.
 * @returns The body, and the sealed record when it matched the declared length.
 * @throws {unknown} The body's error when it failed.
 */
async function readWhole(response: Response, draft: RecordDraft): Promise<TakenBody> {
  const { bodyAt } = draft;
  let bytes = draft.bytes;
  let reader: ReadableStreamBYOBReader | undefined;
  try {
    // A small body costs less to copy than a second read (to learn that it has ended) costs.
    if (bytes.length - bodyAt >= READ_INTO_RECORD_MIN) reader = response.body?.getReader({ mode: "byob" });
  } catch {
    // Not a byte stream: read it the plain way, then copy it in.
  }
  if (reader === undefined) {
    const body = new Uint8Array(await response.arrayBuffer());
    if (body.length !== bytes.length - bodyAt) return { body };
    bytes.set(body, bodyAt);
    return { body: bytes.subarray(bodyAt), record: sealRecord(bytes, bodyAt), own: body };
  }
  let at = bodyAt;
  while (at < bytes.length) {
    // Each read hands the buffer over and back: keep the latest view of it.
    const { done, value } = await reader.read(new Uint8Array(bytes.buffer, at, bytes.length - at));
    if (value !== undefined) {
      bytes = new Uint8Array(value.buffer);
      at += value.byteLength;
    }
    if (done) return { body: bytes.slice(bodyAt, at) };
  }
  // The body should end here: one byte of room is enough to learn that it does.
  const parts = [bytes.subarray(bodyAt)];
  for (let room = 1;; room = 64 * 1024) {
    const { done, value } = await reader.read(new Uint8Array(room));
    if (value !== undefined && value.byteLength > 0) parts.push(value);
    if (done) break;
  }
  if (parts.length > 1) return { body: concat(parts) };
  return { body: parts[0]!, record: sealRecord(bytes, bodyAt) };
}

/**
 * A body that fails with `error` when it is read: what a caller of plain fetch would have met.
 *
 * @param error The error.
 * @returns The stream.
 */
function failedBody(error: unknown): ReadableStream<Uint8Array> {
  return new ReadableStream({ start: (controller) => controller.error(error) });
}

/** Longest wait, once a body has ended, for the cache's write of it: 2,000 ms. */
export const STORE_WAIT_LIMIT = 2000;

/**
 * Splits a body between the caller and the cache.
 *
 * @param body The network body.
 * @param limit Largest body collected, in bytes.
 * @returns The caller's stream and the collected bytes.
 */
function captureBody(body: ReadableStream<Uint8Array> | null, limit: number): CapturedBody {
  if (body === null) return { stream: null, chunks: Promise.resolve([]) };
  const [stream, copy] = body.tee();
  return { stream, chunks: collect(copy, limit) };
}

/**
 * Reads a stream to the end.
 *
 * @param stream The stream.
 * @param limit Largest size collected, in bytes.
 * @returns The chunks, or `undefined` when the stream exceeded the limit.
 * @throws {unknown} The stream's error when it failed.
 */
async function collect(
  stream: ReadableStream<Uint8Array>,
  limit: number,
): Promise<Uint8Array[] | undefined> {
  const reader = stream.getReader();
  let chunks: Uint8Array[] = [];
  let size = 0;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > limit) {
      chunks = []; // let go of what was collected before the stream ends
      // Not awaited: a tee branch's cancel settles only once the other branch is cancelled or
      // read to the end (Streams §ReadableStreamDefaultTee), i.e. maybe never (Node follows this).
      reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
  return chunks;
}

/** Builds an entry's record around a body collected in chunks: one copy, into the record. */
function assemble(entry: Omit<CacheEntry, "body">, chunks: Uint8Array[]): TakenBody {
  const draft = draftEntry(entry, sizeOf(chunks));
  copyInto(draft.bytes, draft.bodyAt, chunks);
  return { body: draft.bytes.subarray(draft.bodyAt), record: sealRecord(draft.bytes, draft.bodyAt) };
}

/** The parts, one after the other (the part itself when there is one). */
function concat(parts: Uint8Array[]): Uint8Array {
  return parts.length === 1 ? parts[0]! : copyInto(new Uint8Array(sizeOf(parts)), 0, parts);
}

function sizeOf(parts: Uint8Array[]): number {
  return parts.reduce((size, part) => size + part.length, 0);
}

/** Writes the parts into `bytes` one after the other, from `at`. */
function copyInto(bytes: Uint8Array, at: number, parts: Uint8Array[]): Uint8Array {
  for (const part of parts) {
    bytes.set(part, at);
    at += part.length;
  }
  return bytes;
}

/**
 * Wraps the caller's branch so that it ends only once `stored` has settled: a caller that has
 * read a body to the end finds it in the cache on its next request, under its key and under its
 * redirect aliases. Errors and cancellation pass through unchanged. The wait is bounded: a backend
 * whose write never settles delays the end of the body by `limit` ms at most, never forever.
 *
 * @param stream The caller's branch.
 * @param stored Settles when the cache is done with the body (stored, refused or failed).
 * @param limit Longest wait for `stored` once the body has ended, in ms.
 * @returns The stream to hand to the caller.
 */
function endAfter(
  stream: ReadableStream<Uint8Array>,
  stored: Promise<unknown>,
  limit: number = STORE_WAIT_LIMIT,
): ReadableStream<Uint8Array> {
  const reader = stream.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (!done) return controller.enqueue(value);
      await settledWithin(stored, limit);
      controller.close();
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
}

/**
 * Waits for `work` to settle, `limit` ms at most.
 *
 * @param work The work.
 * @param limit Longest wait, in ms.
 */
async function settledWithin(work: Promise<unknown>, limit: number = STORE_WAIT_LIMIT): Promise<void> {
  let settled = false;
  const done = work.then(() => settled = true, () => settled = true);
  // A write to memory or to a synchronous database is done within a few microtasks: wait those
  // out before arming a timer, which would cost more than the write itself.
  for (let turn = 0; turn < QUICK_TURNS && !settled; turn++) await undefined;
  if (settled) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<void>((resolve) => timer = setTimeout(resolve, limit));
  await Promise.race([done, late]);
  clearTimeout(timer);
}

/** Microtask turns a write gets to finish before a timer bounds the wait. */
const QUICK_TURNS = 16;
