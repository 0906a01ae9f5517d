/**
 * Bytes as a storage hands them out: the test the cache makes before it keeps or hands over a
 * buffer itself rather than a view into it, and plain arrays in place of a subclass's.
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

/**
 * The same bytes as a plain `Uint8Array`. A driver may hand out a subclass, such as Node's
 * `Buffer`, whose `slice()` makes a view instead of a copy: the cache copies a body with
 * `slice()` before it hands it to a caller, and a view would share (and, once streamed, detach)
 * the stored record's buffer.
 *
 * @param bytes The bytes.
 * @returns `bytes` itself when it is a plain `Uint8Array`, else a plain view of the same memory.
 *
 * @example
 * ```ts
 * import { Buffer } from "node:buffer";
 * import { plainBytes } from "./bytes.ts";
 *
 * const buffer = Buffer.from("hello");
 * console.log(buffer.slice().buffer === buffer.buffer, plainBytes(buffer).slice().buffer === buffer.buffer); // true false
 * ```
 */
export function plainBytes(bytes: Uint8Array): Uint8Array {
  return bytes.constructor === Uint8Array
    ? bytes
    : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
