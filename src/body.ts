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
        await reader.cancel();
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
