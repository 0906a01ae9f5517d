/**
 * Bytes as a storage hands them out: the test the cache makes before it keeps or hands over a
 * buffer itself rather than a view into it, and plain arrays in place of a subclass's; and a
 * body's parts joined into one array, in new memory that is not zeroed first.
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
 * The same bytes as a plain `Uint8Array` over an `ArrayBuffer`. A driver may hand out a subclass,
 * such as Node's `Buffer`, whose `slice()` makes a view instead of a copy: the cache copies a body
 * with `slice()` before it hands it to a caller, and a view would share (and, once streamed,
 * detach) the stored record's buffer. Bytes in shared memory (a `SharedArrayBuffer`) are copied
 * out of it: Deno's `Response` refuses a view of shared memory as a body.
 *
 * @param bytes The bytes.
 * @returns `bytes` itself when it is a plain `Uint8Array` over an `ArrayBuffer`, else a plain view
 *   of the same memory, or a copy of bytes in shared memory.
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
  if (bytes.constructor === Uint8Array && bytes.buffer instanceof ArrayBuffer) return bytes;
  const plain = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return bytes.buffer instanceof ArrayBuffer ? plain : plain.slice();
}

/**
 * The parts, one after the other, in a plain `Uint8Array` that fills its buffer: the part itself
 * when there is one that does (as a plain view of it when it is a subclass, such as a Node
 * `Buffer` a custom fetch streams: `bytes()` gives a `Uint8Array`, as fetch's does).
 */
export function joined(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const [part] = parts;
  if (parts.length === 1 && fillsBuffer(part!)) return plainBytes(part) as Uint8Array<ArrayBuffer>;
  return copyInto(unfilled(sizeOf(parts)), 0, parts);
}

/** What the cache uses of the global `Buffer` of Node, Bun and Deno (where there is one). */
const NativeBuffer = (globalThis as {
  Buffer?: {
    allocUnsafeSlow?: (size: number) => Uint8Array;
    compare?: (a: Uint8Array, b: Uint8Array) => number;
  };
}).Buffer;
/** Allocation without zeroing. */
const allocUnsafeSlow = NativeBuffer?.allocUnsafeSlow;
/** Comparison in native code (`memcmp`). */
const compare = NativeBuffer?.compare;

/**
 * Whether `bytes` start with `head`, compared in native code where the runtime has it
 * (`Buffer.compare`): a hit on a storage that hands out new bytes compares its record's metadata
 * with what it decoded before, some hundreds of bytes, in 40–80 ns instead of 200–450 (measured on
 * Deno, Node and Bun).
 *
 * @param bytes The bytes.
 * @param head What they should start with.
 * @returns Whether they do.
 *
 * @example
 * ```ts
 * import { startsWith } from "./bytes.ts";
 *
 * console.log(startsWith(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2]))); // true
 * ```
 */
export function startsWith(bytes: Uint8Array, head: Uint8Array): boolean {
  if (bytes.length < head.length) return false;
  if (compare !== undefined) return compare(bytes.subarray(0, head.length), head) === 0;
  for (let i = 0; i < head.length; i++) if (bytes[i] !== head[i]) return false;
  return true;
}

/**
 * New bytes with a buffer of their own, not zeroed first where the runtime allows it
 * (`Buffer.allocUnsafeSlow`): only for bytes that are written in full before anything reads
 * them, since they start with whatever the memory held. Records and joined bodies are such bytes.
 * Zeroing costs most where the heap is large: with a memory backend holding its default 256 MiB of
 * records, measured side by side, a 100 KB miss on Bun took 72 µs of the cache's own work once
 * its response had come instead of 111 µs (plain fetch took 150 µs for the whole request); on Node
 * 24 the record's allocation took 19 µs instead of 92, though the whole miss moved by less than
 * this machine's noise; on Deno neither moved.
 *
 * @param length The length in bytes.
 * @returns Bytes that fill their own `ArrayBuffer`, as a plain `Uint8Array`.
 */
export function unfilled(length: number): Uint8Array<ArrayBuffer> {
  if (allocUnsafeSlow === undefined) return new Uint8Array(length);
  const bytes = allocUnsafeSlow(length);
  // (Should a runtime hand out a view into a pool, its buffer is not the bytes' own.)
  return fillsBuffer(bytes) ? new Uint8Array(bytes.buffer) : new Uint8Array(length);
}

function sizeOf(parts: Uint8Array[]): number {
  return parts.reduce((size, part) => size + part.length, 0);
}

/** Writes the parts into `bytes` one after the other, from `at`. */
export function copyInto<T extends Uint8Array>(bytes: T, at: number, parts: Uint8Array[]): T {
  for (const part of parts) {
    bytes.set(part, at);
    at += part.length;
  }
  return bytes;
}
