/**
 * Streams a network body to the caller while collecting it for the cache.
 *
 * The body is split with `tee()`: the caller reads its branch at its own pace, the cache reads the
 * other to the end. So a response is stored even when the caller stops reading, and never when
 * the network stream fails: then the caller's branch errors exactly as plain fetch would, and the
 * collected bytes are dropped. A body that outgrows the limit is let go: its branch is cancelled,
 * the caller's branch streams on untouched, and nothing more is held.
 *
 * @module
 */

/** A body split between the caller and the cache. */
export interface CapturedBody {
  /** The caller's branch. */
  stream: ReadableStream<Uint8Array> | null;
  /** The complete body, or `undefined` when it failed or was larger than the limit. */
  bytes: Promise<Uint8Array | undefined>;
}

const EMPTY = new Uint8Array(0);

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
 * @returns The bytes, or `undefined` when the stream failed or exceeded the limit.
 */
export async function collect(
  stream: ReadableStream<Uint8Array>,
  limit: number,
): Promise<Uint8Array | undefined> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > limit) {
        // Not awaited: a tee branch's cancel settles only once the other branch is cancelled or
        // read to the end (Streams §ReadableStreamDefaultTee), i.e. maybe never (Node follows this).
        reader.cancel().catch(() => {});
        return undefined;
      }
      chunks.push(value);
    }
  } catch {
    return undefined;
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
 * redirect aliases. Errors and cancellation pass through unchanged.
 *
 * @param stream The caller's branch.
 * @param stored Settles when the cache is done with the body (stored, refused or failed).
 * @returns The stream to hand to the caller.
 */
export function endAfter(
  stream: ReadableStream<Uint8Array>,
  stored: Promise<unknown>,
): ReadableStream<Uint8Array> {
  const reader = stream.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (!done) return controller.enqueue(value);
      await stored.catch(() => {});
      controller.close();
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
}
