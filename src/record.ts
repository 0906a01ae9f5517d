/**
 * The stored-entry codec: one compact, versioned binary record per cache entry.
 *
 * Layout (all integers big-endian):
 *
 * ```
 * u8 version | u8 kind | u32 metaLength | meta | u32 fnv1a(meta) | body bytes to the end
 * ```
 *
 * The checksum guards the metadata, so a truncated or foreign record fails to decode instead of
 * turning into a wrong response; the body is never base64- or JSON-encoded and is decoded as a
 * view, without a copy.
 *
 * @module
 */

/** Version of the record layout written by this code. Bump it when the layout changes. */
export const RECORD_VERSION = 1;

const KIND_ENTRY = 1;
const KIND_ALIAS = 2;
const FRAME = 2 + 4 + 4;

/** A response as the cache keeps it: everything a later request needs to serve or revalidate it. */
export interface CacheEntry {
  /** Method of the request that produced the response. */
  method: string;
  /** Final URL of the response, with ignored parameters redacted. */
  url: string;
  /** Whether the response was reached through redirects. */
  redirected: boolean;
  /** HTTP status code. */
  status: number;
  /** HTTP status text. */
  statusText: string;
  /** Response headers as `[lower-case name, value]` pairs; hop-by-hop headers are left out. */
  headers: [string, string][];
  /** Request header values nominated by `Vary` (`null` when the request lacked the header). */
  vary: [string, string | null][];
  /** When the request was sent (epoch ms), for the Age calculation of RFC 9111 §4.2.3. */
  requestTime: number;
  /** When the response headers arrived (epoch ms). */
  responseTime: number;
  /** When the entry was first stored (epoch ms). */
  createdAt: number;
  /** When the entry stops being fresh (epoch ms); `Infinity` when it never does. */
  expiresAt: number;
  /** The complete response body. */
  body: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Encodes an entry as one binary record.
 *
 * @param entry The entry to encode.
 * @returns The record bytes.
 */
export function encodeEntry(entry: CacheEntry): Uint8Array {
  const head = [entry.method, entry.url, entry.statusText].map((text) => encoder.encode(text));
  const headers = entry.headers.flat().map((text) => encoder.encode(text));
  const vary = entry.vary.flat().map((text) => text === null ? NULL_STRING : encoder.encode(text));
  let metaLength = 1 + 2 + 8 * 4 + 4 + 4;
  for (const bytes of [...head, ...headers, ...vary]) metaLength += 4 + bytes.length;
  const out = frame(KIND_ENTRY, metaLength, entry.body.length);
  const view = new DataView(out.buffer);
  view.setUint8(6, entry.redirected ? 1 : 0);
  view.setUint16(7, entry.status);
  view.setFloat64(9, entry.requestTime);
  view.setFloat64(17, entry.responseTime);
  view.setFloat64(25, entry.createdAt);
  view.setFloat64(33, entry.expiresAt);
  let at = 41;
  for (const bytes of head) at = writeString(out, view, at, bytes);
  view.setUint32(at, entry.headers.length);
  at += 4;
  for (const bytes of headers) at = writeString(out, view, at, bytes);
  view.setUint32(at, entry.vary.length);
  at += 4;
  for (const bytes of vary) at = writeString(out, view, at, bytes);
  return seal(out, view, at, entry.body);
}

/**
 * Encodes an alias record: a pointer from one key to the key that holds the entry (used for the
 * final URL of a redirected response).
 *
 * @param target The key the alias points to.
 * @returns The record bytes.
 */
export function encodeAlias(target: string): Uint8Array {
  const bytes = encoder.encode(target);
  const out = frame(KIND_ALIAS, 4 + bytes.length, 0);
  const view = new DataView(out.buffer);
  const at = writeString(out, view, 6, bytes);
  return seal(out, view, at, EMPTY);
}

/** A decoded record: an entry, or an alias to another key. */
export type DecodedRecord = { kind: "entry"; entry: CacheEntry } | { kind: "alias"; target: string };

/**
 * Decodes a record written by {@linkcode encodeEntry} or {@linkcode encodeAlias}. The body of an
 * entry is a view into `bytes`.
 *
 * @param bytes The record bytes.
 * @returns The entry or alias.
 * @throws {SyntaxError} When the bytes are not a complete, intact record of a known version.
 */
export function decodeRecord(bytes: Uint8Array): DecodedRecord {
  if (bytes.length < FRAME) fail("shorter than its frame");
  if (bytes[0] !== RECORD_VERSION) fail(`unknown version ${bytes[0]}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const metaLength = view.getUint32(2);
  const metaEnd = 6 + metaLength;
  if (metaEnd + 4 > bytes.length) fail("metadata overruns the record");
  if (view.getUint32(metaEnd) !== fnv1a(bytes, 6, metaEnd)) fail("checksum mismatch");
  const reader = new Reader(bytes, view, 6, metaEnd);
  let record: DecodedRecord;
  if (bytes[1] === KIND_ALIAS) {
    if (metaEnd + 4 !== bytes.length) fail("alias has trailing bytes");
    record = { kind: "alias", target: reader.string() };
  } else if (bytes[1] === KIND_ENTRY) {
    const redirected = reader.u8() === 1;
    const status = reader.u16();
    const requestTime = reader.f64();
    const responseTime = reader.f64();
    const createdAt = reader.f64();
    const expiresAt = reader.f64();
    const method = reader.string();
    const url = reader.string();
    const statusText = reader.string();
    const headers: [string, string][] = [];
    for (let n = reader.u32(); n > 0; n--) headers.push([reader.string(), reader.string()]);
    const vary: [string, string | null][] = [];
    for (let n = reader.u32(); n > 0; n--) vary.push([reader.string(), reader.nullableString()]);
    if (status < 200 || status > 599) fail(`status ${status} out of range`);
    record = {
      kind: "entry",
      entry: {
        method,
        url,
        redirected,
        status,
        statusText,
        headers,
        vary,
        requestTime,
        responseTime,
        createdAt,
        expiresAt,
        body: bytes.subarray(metaEnd + 4),
      },
    };
  } else {
    fail(`unknown kind ${bytes[1]}`);
  }
  if (reader.at !== metaEnd) fail("metadata has trailing bytes");
  return record;
}

const EMPTY = new Uint8Array(0);
const NULL_STRING = new Uint8Array(0);
const NULL_LENGTH = 0xffffffff;

function frame(kind: number, metaLength: number, bodyLength: number): Uint8Array {
  const out = new Uint8Array(FRAME + metaLength + bodyLength);
  out[0] = RECORD_VERSION;
  out[1] = kind;
  new DataView(out.buffer).setUint32(2, metaLength);
  return out;
}

function writeString(out: Uint8Array, view: DataView, at: number, bytes: Uint8Array): number {
  if (bytes === NULL_STRING) {
    view.setUint32(at, NULL_LENGTH);
    return at + 4;
  }
  view.setUint32(at, bytes.length);
  out.set(bytes, at + 4);
  return at + 4 + bytes.length;
}

function seal(out: Uint8Array, view: DataView, metaEnd: number, body: Uint8Array): Uint8Array {
  view.setUint32(metaEnd, fnv1a(out, 6, metaEnd));
  out.set(body, metaEnd + 4);
  return out;
}

/** 32-bit FNV-1a: cheap, and enough to tell an intact record from a damaged one. */
function fnv1a(bytes: Uint8Array, start: number, end: number): number {
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
  return hash >>> 0;
}

function fail(reason: string): never {
  throw new SyntaxError(`Cannot decode cache record: ${reason}`);
}

class Reader {
  #bytes: Uint8Array;
  #view: DataView;
  #end: number;
  at: number;

  constructor(bytes: Uint8Array, view: DataView, at: number, end: number) {
    this.#bytes = bytes;
    this.#view = view;
    this.at = at;
    this.#end = end;
  }

  #take(length: number): number {
    const at = this.at;
    if (at + length > this.#end) fail("truncated metadata");
    this.at = at + length;
    return at;
  }

  u8(): number {
    return this.#view.getUint8(this.#take(1));
  }

  u16(): number {
    return this.#view.getUint16(this.#take(2));
  }

  u32(): number {
    return this.#view.getUint32(this.#take(4));
  }

  f64(): number {
    const value = this.#view.getFloat64(this.#take(8));
    if (Number.isNaN(value)) fail("time is not a number");
    return value;
  }

  string(): string {
    const value = this.nullableString();
    if (value === null) fail("missing string");
    return value;
  }

  nullableString(): string | null {
    const length = this.u32();
    if (length === NULL_LENGTH) return null;
    const at = this.#take(length);
    try {
      return decoder.decode(this.#bytes.subarray(at, at + length));
    } catch {
      fail("invalid UTF-8");
    }
  }
}
