/**
 * The manifest under which Deno KV keeps a record: KV holds at most 64 KiB in a value, so a larger
 * record is split into chunks under a generation id of its own, and the manifest names the
 * generation; a record of one chunk at most lives inline, after the manifest.
 *
 * Layout: `f64 deleteAt | f64 length | u32 chunks | u8 generation length | generation | inline record`.
 *
 * @module
 */

/** Most bytes of a record in one KV value (65,536 at most), leaving room for the manifest. */
export const CHUNK_SIZE = 63 * 1024;
const HEADER_SIZE = 21;

/** Where a record lives and until when. */
export interface Manifest {
  /** When the record expires (ms since the epoch). */
  deleteAt: number;
  /** The record's length in bytes. */
  length: number;
  /** How many chunks hold it: 0 when it is inline. */
  chunks: number;
  /** The id its chunks are kept under: empty when it is inline. */
  generation: string;
}

/** The record kept inline after a manifest's bytes (`chunks` 0). */
export function inlineBody(bytes: Uint8Array, manifest: Manifest): Uint8Array {
  return bytes.subarray(HEADER_SIZE + manifest.generation.length);
}

/**
 * Encodes a manifest, with the record itself when it is inline.
 *
 * @param manifest The manifest.
 * @param body The whole record, for an inline one (`chunks` 0).
 * @returns The manifest's bytes.
 */
export function encodeManifest(manifest: Manifest, body: Uint8Array | undefined): Uint8Array {
  const generation = new TextEncoder().encode(manifest.generation);
  const out = new Uint8Array(HEADER_SIZE + generation.length + (body?.length ?? 0));
  const view = new DataView(out.buffer);
  view.setFloat64(0, manifest.deleteAt);
  view.setFloat64(8, manifest.length);
  view.setUint32(16, manifest.chunks);
  view.setUint8(20, generation.length);
  out.set(generation, HEADER_SIZE);
  if (body !== undefined) out.set(body, HEADER_SIZE + generation.length);
  return out;
}

/** Decodes a manifest, or `undefined` when there is none or it is corrupt. */
export function readManifest(value: unknown): Manifest | undefined {
  try {
    return value instanceof Uint8Array ? decodeManifest(value) : undefined;
  } catch {
    return undefined;
  }
}

function decodeManifest(bytes: Uint8Array): Manifest {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const generationLength = bytes.length >= HEADER_SIZE ? view.getUint8(20) : Infinity;
  const end = HEADER_SIZE + generationLength;
  if (end > bytes.length) throw new SyntaxError("Cannot decode Deno KV manifest: it is truncated");
  const manifest = {
    deleteAt: view.getFloat64(0),
    length: view.getFloat64(8),
    chunks: view.getUint32(16),
    generation: new TextDecoder().decode(bytes.subarray(HEADER_SIZE, end)),
  };
  if (manifest.chunks === 0 && (generationLength !== 0 || bytes.length - end !== manifest.length)) {
    throw new SyntaxError("Cannot decode Deno KV manifest: inline body has the wrong length");
  }
  // A damaged length or chunk count must not size an allocation or a loop: a chunked record has
  // exactly the chunks its length needs, under a generation id, and nothing inline after it.
  if (
    manifest.chunks !== 0 &&
    (!Number.isSafeInteger(manifest.length) || manifest.length <= CHUNK_SIZE || manifest.generation === "" ||
      manifest.chunks !== Math.ceil(manifest.length / CHUNK_SIZE) || end !== bytes.length)
  ) {
    throw new SyntaxError("Cannot decode Deno KV manifest: its length, chunks and generation do not agree");
  }
  return manifest;
}
