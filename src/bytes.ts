/**
 * Bytes that fill their buffer: the test the cache makes before it keeps or hands over a buffer
 * itself rather than a view into it.
 *
 * @module
 */

/**
 * Whether `bytes` span the whole of their `ArrayBuffer` (not a view into a larger one, nor shared
 * memory), so that the buffer itself stands for them.
 *
 * @param bytes The bytes.
 * @returns Whether their buffer is an `ArrayBuffer` of exactly their length, from their start.
 *
 * @example
 * ```ts
 * import { fillsBuffer } from "./bytes.ts";
 *
 * const bytes = new Uint8Array(8);
 * console.log(fillsBuffer(bytes), fillsBuffer(bytes.subarray(1))); // true false
 * ```
 */
export function fillsBuffer(bytes: Uint8Array): bytes is Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer && bytes.byteOffset === 0 &&
    bytes.byteLength === bytes.buffer.byteLength;
}
