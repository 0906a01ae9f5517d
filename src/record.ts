/**
 * The stored-entry codec: one compact, versioned binary record per cache entry.
 *
 * Layout (fixed-size integers big-endian, `v` a LEB128 varint):
 *
 * ```
 * u8 version | u8 kind | u32 metaLength | meta | u32 fnv1a(meta, body length) | body bytes to the end
 *
 * entry meta: u8 redirected | u16 status | f64 requestTime | f64 responseTime | f64 createdAt
 *             | f64 expiresAt | f64 varyGeneration | v headerCount | v varyCount
 *             | v code of each string: method, URL, status text, header names and values,
 *               Vary names and values | the literal strings, UTF-8, side by side
 * alias meta: v code | the target keys, UTF-8, newest first, each ended by a line feed (one key
 *             without it: an alias of one target, as written before there could be more)
 *
 * code: 0 null | 2n + 1 entry n of COMMON | 2n + 2 a literal of n UTF-16 units
 * ```
 *
 * Common strings (header names, `GET`, `OK`, frequent content types) take one byte. The literal
 * strings sit side by side, so a read decodes them with one `TextDecoder` call and slices the
 * result: one call per string cost more than the rest of a cache hit. The checksum guards the
 * metadata and the body's length, so a truncated, extended or foreign record fails to decode
 * instead of turning into a wrong response; the body is never base64- or JSON-encoded and is decoded as a view, without a copy.
 *
 * @module
 */

import { unfilled } from "./bytes.ts";
import { CorruptRecordError } from "./errors.ts";
import { COMMON } from "./record_strings.ts";

/**
 * Version of the record layout written by this code. Bump it when the layout changes. Every
 * version from 2 on keeps the envelope: byte 0 the version, byte 1 the kind, bytes 2–5 the
 * metadata's length, and after the metadata its checksum ({@linkcode checksum}). So a reader
 * tells an intact record of another version ({@linkcode OtherVersionError}) from a damaged one.
 */
export const RECORD_VERSION = 3;

/**
 * An intact record of another layout version than this code reads: written by an older version of
 * the library before an upgrade, or by a newer one sharing the storage (a rolling deploy). A miss,
 * not a corrupt record.
 */
export class OtherVersionError extends SyntaxError {
  /** The record's version. */
  readonly version: number;

  /**
   * @param version The record's version.
   */
  constructor(version: number) {
    super(`Cannot decode cache record: it is of version ${version}, this code reads ${RECORD_VERSION}`);
    this.name = "OtherVersionError";
    this.version = version;
  }

  /** Whether the record is older than this code's: no code that reads it is left, so it may go. */
  get older(): boolean {
    return this.version < RECORD_VERSION;
  }
}

const CODES: ReadonlyMap<string, number> = new Map(COMMON.map((text, i) => [text, 2 * i + 1]));
/** No longer string has a code: a long value (a URL, a date) is not hashed for the lookup. */
const LONGEST_CODED = Math.max(...COMMON.map((text) => text.length));

const KIND_ENTRY = 1;
const KIND_ALIAS = 2;
const FRAME = 2 + 4 + 4;
// redirected, status, four times and the Vary generation.
const ENTRY_FIXED = 1 + 2 + 8 * 5;

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
  /**
   * Which generation of its URL's Vary variants the entry belongs to (an opaque number). A
   * response that takes its URL's primary slot when that slot is empty, or with other `Vary`
   * names than the response there, starts a new generation; one that replaces it with the same
   * names, or goes beside it, joins its generation. A variant of another generation than the
   * primary slot's is never served: it was stored under names the origin has since changed, or
   * before its URL's entry was deleted (invalidated, say), and is left to expire.
   */
  varyGeneration: number;
  /** The complete response body. */
  body: Uint8Array;
}

const encoder = new TextEncoder();
/**
 * The decoders of a record's text; both keep a leading U+FEFF as the string it belongs to. The
 * lenient one is three times as fast as the fatal one on Deno; a text with U+FFFD in it (rare:
 * an encoder writes only valid UTF-8) is decoded again by the fatal one, to tell a stored U+FFFD
 * from damaged bytes.
 */
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
const strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Encodes an entry as one binary record.
 *
 * @param entry The entry to encode.
 * @returns The record bytes.
 */
export function encodeEntry(entry: CacheEntry): Uint8Array {
  const draft = draftEntry(entry, entry.body.length);
  draft.bytes.set(entry.body, draft.bodyAt);
  return sealRecord(draft.bytes, draft.bodyAt);
}

/** A record whose metadata is written and whose body is still to be filled in. */
export interface RecordDraft {
  /** The whole record: metadata, then `bodyLength` bytes of body from `bodyAt`. */
  bytes: Uint8Array<ArrayBuffer>;
  /** Where the body starts. */
  bodyAt: number;
}

/**
 * Starts the record of an entry whose body is not known yet but its length is: the body can then
 * be read straight into the record, with no copy. Fill it, then {@linkcode sealRecord}.
 *
 * @param entry The entry, without its body.
 * @param bodyLength The body's length in bytes.
 * @returns The draft.
 */
export function draftEntry(entry: Omit<CacheEntry, "body">, bodyLength: number): RecordDraft {
  const strings = new StringWriter();
  strings.add(entry.method);
  strings.add(entry.url);
  strings.add(entry.statusText);
  for (const [name, value] of entry.headers) {
    strings.add(name);
    strings.add(value);
  }
  for (const [name, value] of entry.vary) {
    strings.add(name);
    strings.add(value);
  }
  const counts = [entry.headers.length, entry.vary.length];
  const textLength = utf8Length(strings.text);
  const metaLength = ENTRY_FIXED + varintsLength(counts) + varintsLength(strings.codes) + textLength;
  const out = frame(KIND_ENTRY, metaLength, bodyLength);
  const view = new DataView(out.buffer);
  view.setUint8(6, entry.redirected ? 1 : 0);
  view.setUint16(7, entry.status);
  view.setFloat64(9, entry.requestTime);
  view.setFloat64(17, entry.responseTime);
  view.setFloat64(25, entry.createdAt);
  view.setFloat64(33, entry.expiresAt);
  view.setFloat64(41, entry.varyGeneration);
  let at = writeVarints(out, 6 + ENTRY_FIXED, counts);
  at = writeVarints(out, at, strings.codes);
  // Straight into the record: one allocation fewer than encode() and a copy (~1.5 µs a miss).
  // (The record's memory is not zeroed first: every byte of it is written, these included.)
  if (encoder.encodeInto(strings.text, out.subarray(at, at + textLength)).written !== textLength) {
    throw new Error("A cache record's text is not the length it was measured to be");
  }
  return { bytes: out, bodyAt: at + textLength + 4 };
}

/**
 * Finishes a record once its body is in place: writes the checksum.
 *
 * @param bytes The record (the draft's bytes, or a view of the same memory after a transfer).
 * @param bodyAt Where the body starts.
 * @returns The record.
 */
export function sealRecord<T extends Uint8Array>(bytes: T, bodyAt: number): T {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  view.setUint32(bodyAt - 4, checksum(bytes, 6, bodyAt - 4, bytes.length - bodyAt));
  return bytes;
}

/** Most keys an alias points to: the URLs whose redirects led to one place, the newest first. */
export const ALIAS_TARGETS = 8;

/**
 * Encodes an alias record: pointers from the key of where redirects led (the final URL of a
 * redirected response) to the keys that hold what they led to, one per URL asked for.
 *
 * @param targets The keys the alias points to, the newest first. Keys hold no line feed.
 * @returns The record bytes.
 */
export function encodeAlias(targets: readonly string[]): Uint8Array {
  const text = targets.map((target) => `${target}\n`).join("");
  const utf8 = encoder.encode(text);
  const code = [2 * text.length + 2];
  const out = frame(KIND_ALIAS, varintsLength(code) + utf8.length, 0);
  const at = writeVarints(out, 6, code);
  out.set(utf8, at);
  return sealRecord(out, at + utf8.length + 4);
}

/** A decoded record: an entry, or an alias to another key. */
export type DecodedRecord = { kind: "entry"; entry: CacheEntry } | { kind: "alias"; targets: string[] };

/** A method or field name (an RFC 9110 token), as `Request` and `Headers` take it. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** What a field value may not hold (`Headers` refuses it): NUL, CR, LF, or anything beyond Latin-1. */
const NOT_IN_VALUE = /[\0\r\n\u0100-\uffff]/;
/** What a status text or URL may not hold. */
const BREAK = /[\0\r\n]/;
/** The common strings that are tokens: a method or field name among them needs no other test. */
const COMMON_TOKENS: ReadonlySet<string> = new Set(COMMON.filter((text) => TOKEN.test(text)));
if (COMMON.some((text) => NOT_IN_VALUE.test(text))) throw new Error("A common record string holds a break");

/** Whether a method or field name is a token. */
function isToken(text: string): boolean {
  return COMMON_TOKENS.has(text) || TOKEN.test(text);
}

/**
 * Decodes a record written by {@linkcode encodeEntry} or {@linkcode encodeAlias}. The body of an
 * entry is a view into `bytes`.
 *
 * @param bytes The record bytes.
 * @returns The entry or alias.
 * @throws {OtherVersionError} When the bytes are an intact record of another version.
 * @throws {CorruptRecordError} When the bytes are not a complete, intact record of a known version, or
 * hold an entry that cannot be served: a method or fields that `Headers` refuses, or a line break
 * in its status text or URL. This code writes none; another writer (a crafted file, a shared server) may, and
 * such a record is corrupt (deleted, a miss), not a hit that throws on every fetch of its URL.
 */
export function decodeRecord(bytes: Uint8Array): DecodedRecord {
  if (bytes.length < FRAME) fail("shorter than its frame");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const metaLength = view.getUint32(2);
  const metaEnd = 6 + metaLength;
  if (metaEnd + 4 > bytes.length) fail("metadata overruns the record");
  const bodyLength = bytes.length - metaEnd - 4;
  if (view.getUint32(metaEnd) !== checksum(bytes, 6, metaEnd, bodyLength)) fail("checksum mismatch");
  if (bytes[0] !== RECORD_VERSION) throw new OtherVersionError(bytes[0]!);
  if (bytes[1] === KIND_ALIAS) {
    if (metaEnd + 4 !== bytes.length) fail("alias has trailing bytes");
    const strings = new StringReader(bytes, 6, 1, metaEnd);
    const text = strings.next();
    strings.finish();
    // (An alias written before aliases had several targets holds one key, without a line feed.)
    return { kind: "alias", targets: text.endsWith("\n") ? text.slice(0, -1).split("\n") : [text] };
  }
  if (bytes[1] !== KIND_ENTRY) fail(`unknown kind ${bytes[1]}`);
  if (metaLength < ENTRY_FIXED) fail("truncated metadata");
  const status = view.getUint16(7);
  if (status < 200 || status > 599) fail(`status ${status} out of range`);
  const counts = new Varints(bytes, 6 + ENTRY_FIXED, metaEnd);
  const headerCount = counts.next();
  const varyCount = counts.next();
  const strings = new StringReader(bytes, counts.at, 3 + 2 * (headerCount + varyCount), metaEnd);
  const method = strings.next();
  const url = strings.next();
  const statusText = strings.next();
  const headers: [string, string][] = new Array(headerCount);
  for (let i = 0; i < headerCount; i++) headers[i] = [strings.next(), strings.next()];
  const vary: [string, string | null][] = new Array(varyCount);
  for (let i = 0; i < varyCount; i++) vary[i] = [strings.next(), strings.nullable()];
  strings.finish();
  // One search of the literal text (the common strings hold none of these characters): when it
  // holds none, no field value, status text or URL does, and each need not be searched apart.
  const clean = !NOT_IN_VALUE.test(strings.text);
  if (!isToken(method)) fail(`invalid method ${JSON.stringify(method)}`);
  if (!clean && (BREAK.test(statusText) || BREAK.test(url))) fail("a line break in the status text or URL");
  for (const [name, value] of headers) {
    if (!isToken(name) || (!clean && NOT_IN_VALUE.test(value))) fail(`invalid field ${JSON.stringify(name)}`);
  }
  for (const [name] of vary) if (!isToken(name)) fail(`invalid Vary name ${JSON.stringify(name)}`);
  return {
    kind: "entry",
    entry: {
      method,
      url,
      redirected: bytes[6] === 1,
      status,
      statusText,
      headers,
      vary,
      requestTime: numberAt(view, 9),
      responseTime: numberAt(view, 17),
      createdAt: numberAt(view, 25),
      expiresAt: numberAt(view, 33),
      varyGeneration: numberAt(view, 41),
      body: bytes.subarray(metaEnd + 4),
    },
  };
}

function frame(kind: number, metaLength: number, bodyLength: number): Uint8Array<ArrayBuffer> {
  const out = unfilled(FRAME + metaLength + bodyLength);
  out[0] = RECORD_VERSION;
  out[1] = kind;
  new DataView(out.buffer).setUint32(2, metaLength);
  return out;
}

/**
 * 32-bit FNV-1a over the metadata and then the body's length: cheap, and enough to tell an intact
 * record from a damaged or foreign one, and a whole body from a cut or extended one. The body's
 * bytes themselves are not hashed (that would cost a hit its speed on large bodies): the stores
 * keep bytes exactly, and what goes wrong in practice is a record cut short or run together.
 */
function checksum(bytes: Uint8Array, start: number, end: number, bodyLength: number): number {
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
  for (let shift = 24; shift >= 0; shift -= 8) {
    hash = Math.imul(hash ^ ((bodyLength >>> shift) & 0xff), 0x01000193);
  }
  return hash >>> 0;
}

function numberAt(view: DataView, at: number): number {
  const value = view.getFloat64(at);
  if (Number.isNaN(value)) fail(`the number at byte ${at} is NaN`);
  return value;
}

function fail(reason: string): never {
  throw new CorruptRecordError(`Cannot decode cache record: ${reason}`);
}

/** The UTF-8 length of a string, as `TextEncoder` writes it (a lone surrogate becomes U+FFFD). */
function utf8Length(text: string): number {
  if (!NON_ASCII.test(text)) return text.length;
  let length = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) length += 1;
    else if (unit < 0x800) length += 2;
    else if (unit < 0xdc00 && unit >= 0xd800 && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      length += 4;
      i++;
    } else length += 3;
  }
  return length;
}

const NON_ASCII = /[\u0080-\uffff]/;

function varintsLength(values: readonly number[]): number {
  let length = 0;
  for (let value of values) {
    do {
      length++;
      value = Math.floor(value / 128);
    } while (value > 0);
  }
  return length;
}

function writeVarints(out: Uint8Array, at: number, values: readonly number[]): number {
  for (let value of values) {
    while (value >= 128) {
      out[at++] = (value % 128) | 128;
      value = Math.floor(value / 128);
    }
    out[at++] = value;
  }
  return at;
}

/** The codes and the literal text of a record's strings, as they are added. */
class StringWriter {
  codes: number[] = [];
  text = "";

  add(value: string | null): void {
    if (value === null) return void this.codes.push(0);
    const code = value.length <= LONGEST_CODED ? CODES.get(value) : undefined;
    if (code !== undefined) return void this.codes.push(code);
    this.codes.push(2 * value.length + 2);
    this.text += value;
  }
}

/** Reads varints from `at` up to `end`. */
class Varints {
  #bytes: Uint8Array;
  #end: number;
  at: number;

  constructor(bytes: Uint8Array, at: number, end: number) {
    this.#bytes = bytes;
    this.at = at;
    this.#end = end;
  }

  next(): number {
    let value = 0;
    for (let scale = 1; scale < 2 ** 49; scale *= 128) {
      if (this.at >= this.#end) fail("truncated metadata");
      const byte = this.#bytes[this.at++]!;
      value += (byte & 127) * scale;
      if (byte < 128) return value;
    }
    fail("varint too long");
  }
}

/** The strings of a record: `count` codes from `at`, then the literal text up to `end`. */
class StringReader {
  #codes: Varints;
  #left: number;
  #text = "";
  #offset = 0;

  /** The literal strings, side by side. */
  get text(): string {
    return this.#text;
  }

  constructor(bytes: Uint8Array, at: number, count: number, end: number) {
    const codes = new Varints(bytes, at, end);
    let length = 0;
    for (let i = 0; i < count; i++) {
      const code = codes.next();
      if (code >= 2 && code % 2 === 0) length += code / 2 - 1;
      else if (code % 2 === 1 && (code - 1) / 2 >= COMMON.length) fail(`unknown string code ${code}`);
    }
    this.#codes = new Varints(bytes, at, codes.at);
    this.#left = count;
    const utf8 = bytes.subarray(codes.at, end);
    this.#text = decoder.decode(utf8);
    if (this.#text.includes("\uFFFD")) {
      try {
        strictDecoder.decode(utf8);
      } catch {
        fail("invalid UTF-8");
      }
    }
    if (this.#text.length !== length) fail("string lengths do not match the text");
  }

  next(): string {
    const value = this.nullable();
    if (value === null) fail("missing string");
    return value;
  }

  nullable(): string | null {
    if (this.#left-- <= 0) fail("more strings read than stored");
    const code = this.#codes.next();
    if (code === 0) return null;
    if (code % 2 === 1) return COMMON[(code - 1) / 2]!;
    const start = this.#offset;
    this.#offset += code / 2 - 1;
    return this.#text.slice(start, this.#offset);
  }

  finish(): void {
    if (this.#left !== 0) fail("metadata has trailing strings");
  }
}
