/**
 * Takes a network body for the cache: read whole when it is small and its length is declared,
 * else streamed to the caller while the cache collects it.
 *
 * A streamed body is split with `tee()`: the caller reads its branch at its own pace, the cache reads the
 * other to the end. So a response is stored even when the caller stops reading, and never when
 * the network stream fails: then the caller's branch errors exactly as plain fetch would, and the
 * collected bytes are dropped. A body that outgrows the limit is let go: its branch is cancelled,
 * the caller's branch streams on untouched, and nothing more is held.
 *
 * @module
 */

import { storedBody } from "./response.ts";

/** A body split between the caller and the cache. */
export interface CapturedBody {
  /** The caller's branch. */
  stream: ReadableStream<Uint8Array> | null;
  /**
   * The complete body, or `undefined` when it was larger than the limit; rejects with the
   * stream's error when the body failed.
   */
  bytes: Promise<Uint8Array | undefined>;
}

const EMPTY = new Uint8Array(0);

/**
 * Takes a storable network body: reads it whole when {@linkcode readsWhole} says so, else splits
 * it between the caller and the cache ({@linkcode captureBody}). Either way `store` receives the
 * complete bytes (`undefined` when they outgrew `limit`, a rejection when the body failed), and
 * the caller's body ends only once what `store` returned has settled ({@linkcode STORE_WAIT_LIMIT}
 * at most): a caller that has read a body finds it in the cache.
 *
 * @param response The network response.
 * @param limit Largest body the cache collects, in bytes.
 * @param store Stores the bytes; settles when the cache is done with them.
 * @returns The body to hand to the caller.
 */
export async function takeBody(
  response: Response,
  limit: number,
  store: (bytes: Promise<Uint8Array | undefined>) => Promise<unknown>,
): Promise<BodyInit | null> {
  if (readsWhole(response.headers, limit)) {
    const bytes = readWhole(response);
    const stored = store(bytes);
    let body: Uint8Array<ArrayBuffer>;
    try {
      body = await bytes;
    } catch (error) {
      return failedBody(error);
    }
    await settledWithin(stored);
    return storedBody(body);
  }
  const captured = captureBody(response.body, limit);
  const stored = store(captured.bytes);
  return captured.stream && endAfter(captured.stream, stored);
}

/**
 * Largest body read whole before the response is handed over: 1 MiB. One read of the whole body
 * costs far less than a stream through the cache (each chunk a promise, both ends in JavaScript),
 * and the caller of a body this small rarely gains anything from its first bytes coming earlier.
 */
export const READ_WHOLE_LIMIT = 1024 * 1024;

/**
 * Whether a response body is read whole: its `Content-Length` is declared and at most `limit`,
 * and it has no content coding (a decoded body could be any size).
 *
 * @param headers The response's headers.
 * @param limit Largest body the cache collects, in bytes.
 * @returns `true` to read it whole.
 */
export function readsWhole(headers: Headers, limit: number): boolean {
  const length = headers.get("content-length");
  if (length === null || !(Number(length) <= Math.min(limit, READ_WHOLE_LIMIT))) return false;
  const coding = headers.get("content-encoding");
  return coding === null || coding === "identity";
}

/**
 * Reads a body whole.
 *
 * @param response The response.
 * @returns The body's bytes.
 * @throws {unknown} The body's error when it failed.
 */
async function readWhole(response: Response): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await response.arrayBuffer());
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
export function captureBody(body: ReadableStream<Uint8Array> | null, limit: number): CapturedBody {
  if (body === null) return { stream: null, bytes: Promise.resolve(EMPTY) };
  const [stream, copy] = body.tee();
  return { stream, bytes: collect(copy, limit) };
}

/**
 * Reads a stream to the end.
 *
 * @param stream The stream.
 * @param limit Largest size collected, in bytes.
 * @returns The bytes, or `undefined` when the stream exceeded the limit.
 * @throws {unknown} The stream's error when it failed.
 */
export async function collect(
  stream: ReadableStream<Uint8Array>,
  limit: number,
): Promise<Uint8Array | undefined> {
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
  if (chunks.length === 1) return chunks[0]!;
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
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
export function endAfter(
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
export async function settledWithin(work: Promise<unknown>, limit: number = STORE_WAIT_LIMIT): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<void>((resolve) => timer = setTimeout(resolve, limit));
  await Promise.race([work.catch(() => {}), late]);
  clearTimeout(timer);
}
