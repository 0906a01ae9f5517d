/**
 * The record codec and the synchronous SHA-256 behind cache keys: round trips, the compact
 * forms, damage detection, and agreement with WebCrypto.
 *
 * @module
 */

import { deepEqual, equal, throws } from "node:assert/strict";
import fc from "fast-check";
import {
  type CacheEntry,
  decodeRecord,
  encodeAlias,
  encodeEntry,
  OtherVersionError,
  RECORD_VERSION,
  sealRecord,
} from "../src/record.ts";
import { digestBytes, digestText, sha256 } from "../src/sha256.ts";
import { normalizeUrl, urlKeyPrefix } from "../src/cache_keys.ts";
import { UNSERVABLE_FIELDS } from "./_entry.ts";
import { fillsBuffer, joined, unfilled } from "../src/bytes.ts";

function entry(overrides: Partial<CacheEntry> = {}): CacheEntry {
  return {
    method: "GET",
    url: "https://example.com/a?b=1",
    redirected: false,
    status: 200,
    statusText: "OK",
    headers: [["content-type", "application/json"], ["etag", '"v1"'], ["x-custom", "yes"]],
    vary: [["accept-language", "en"], ["x-missing", null]],
    requestTime: 1_700_000_000_000,
    responseTime: 1_700_000_000_250.5,
    createdAt: 1_700_000_000_300,
    expiresAt: Infinity,
    varyGeneration: 0.25,
    body: new TextEncoder().encode("hello"),
    ...overrides,
  };
}

Deno.test("record: an entry survives a round trip, body as a view into the record", () => {
  const original = entry();
  const bytes = encodeEntry(original);
  equal(bytes[0], RECORD_VERSION);
  const decoded = decodeRecord(bytes);
  deepEqual(decoded, { kind: "entry", entry: original });
  if (decoded.kind !== "entry") throw new Error("not an entry");
  equal(decoded.entry.body.buffer, bytes.buffer);
});

Deno.test("record: an alias survives a round trip", () => {
  deepEqual(decodeRecord(encodeAlias(["abc+def.ghi"])), { kind: "alias", targets: ["abc+def.ghi"] });
  deepEqual(decodeRecord(encodeAlias(["new", "old key"])), { kind: "alias", targets: ["new", "old key"] });
});

Deno.test("record: an alias written with one target and no line feed, as before, still reads", () => {
  const key = "abc+def.ghi";
  const utf8 = new TextEncoder().encode(key);
  const newer = encodeAlias([key]);
  const older = new Uint8Array(6 + 1 + utf8.length + 4);
  older.set(newer.subarray(0, 2)); // version and kind
  new DataView(older.buffer).setUint32(2, 1 + utf8.length);
  older[6] = 2 * key.length + 2; // the code of a literal of the key's length
  older.set(utf8, 7);
  sealRecord(older, older.length);
  deepEqual(decodeRecord(older), { kind: "alias", targets: [key] });
});

Deno.test("record: common strings take one byte, so a typical entry's metadata stays small", () => {
  const common = encodeEntry(entry({ headers: [["content-type", "application/json"]], vary: [] }));
  const rare = encodeEntry(entry({ headers: [["x-content-typ", "application/jsom"]], vary: [] }));
  equal(rare.length - common.length, "x-content-typ".length + "application/jsom".length);
});

Deno.test("record: empty, non-ASCII and long strings, many fields, null Vary values", () => {
  const long = "x".repeat(70_000);
  const original = entry({
    url: "https://example.com/caf%C3%A9",
    statusText: "",
    headers: [
      ["x-long", long],
      ["x-empty", ""],
      ...Array.from({ length: 300 }, (_, i) => [`x-${i}`, `${i}`]),
    ] as [
      string,
      string,
    ][],
    vary: [["a", null], ["b", ""], ["c", "é ü"]],
    expiresAt: -5,
  });
  deepEqual(decodeRecord(encodeEntry(original)), { kind: "entry", entry: original });
});

Deno.test("record: any entry survives a round trip (property)", () => {
  // Whole code points (never a lone surrogate, which no header or URL holds), and no line break
  // in a URL or status text; fields as `Headers` gives them: a token and Latin-1 without a line break.
  const text = fc.string({ unit: "binary", maxLength: 40 });
  const line = text.map((value) => value.replace(/[\0\r\n]/g, " "));
  const name = fc.string({ unit: fc.constantFrom(..."!#$%&'*+.^_`|~09azAZ-"), minLength: 1, maxLength: 12 });
  const latin1 = fc.string({ unit: fc.integer({ min: 1, max: 255 }).map((c) => String.fromCharCode(c)) })
    .map((value) => value.replace(/[\r\n]/g, " "));
  fc.assert(
    fc.property(
      fc.record({
        url: line,
        statusText: line,
        status: fc.integer({ min: 200, max: 599 }),
        headers: fc.array(fc.tuple(name, latin1), { maxLength: 8 }),
        vary: fc.array(fc.tuple(name, fc.option(text, { nil: null })), { maxLength: 4 }),
        body: fc.uint8Array({ maxLength: 64 }),
      }),
      (fields) => {
        const original = entry(fields);
        deepEqual(decodeRecord(encodeEntry(original)), { kind: "entry", entry: original });
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("record: a lone surrogate is stored as U+FFFD, as TextEncoder writes it, and the rest intact", () => {
  // Not side by side: the record's strings are encoded as one text, where two would make a pair.
  const original = entry({ url: "https://example.com/\ud800", statusText: "ok \udc00" });
  original.headers = [["x-c", "é ü"]];
  original.vary = [["x-a", "a\ud800b"], ["x-b", "end\ud83d"], ["x-c", "😀 é ✓"]];
  const decoded = decodeRecord(encodeEntry(original));
  deepEqual(decoded, {
    kind: "entry",
    entry: {
      ...original,
      url: "https://example.com/\ufffd",
      statusText: "ok \ufffd",
      vary: [["x-a", "a\ufffdb"], ["x-b", "end\ufffd"], ["x-c", "😀 é ✓"]],
    },
  });
});

Deno.test("record: an entry with fields no Headers takes, or a line break in its status text or URL, does not decode", () => {
  for (const fields of UNSERVABLE_FIELDS) {
    throws(() => decodeRecord(encodeEntry({ ...entry(), ...fields })), SyntaxError, JSON.stringify(fields));
  }
});

Deno.test("record: U+FEFF and U+FFFD are text like any other, at the start of the strings too", () => {
  for (
    const url of ["\ufeffhttps://example.com/", "\ufffdhttps://example.com/", "https://example.com/\ufffd"]
  ) {
    const original = entry({ url, statusText: "\ufeff" });
    deepEqual(decodeRecord(encodeEntry(original)), { kind: "entry", entry: original });
  }
});

Deno.test("record: bytes that are not UTF-8 are refused, though the checksum matches", () => {
  const bytes = encodeEntry(entry({ url: "https://example.com/\u00e9" }));
  const at = bytes.indexOf(0xc3); // the first byte of é
  bytes[at] = 0xff;
  const metaEnd = 6 + new DataView(bytes.buffer).getUint32(2);
  new DataView(bytes.buffer).setUint32(metaEnd, fnv(bytes.subarray(6, metaEnd), bytes.length - metaEnd - 4));
  throws(() => decodeRecord(bytes), /invalid UTF-8/);
});

/** The record's checksum (record.ts): FNV-1a over the metadata, then the body's length. */
function fnv(metadata: Uint8Array, bodyLength: number): number {
  let hash = 0x811c9dc5;
  for (const byte of metadata) hash = Math.imul(hash ^ byte, 0x01000193);
  for (let shift = 24; shift >= 0; shift -= 8) {
    hash = Math.imul(hash ^ ((bodyLength >>> shift) & 0xff), 0x01000193);
  }
  return hash >>> 0;
}

Deno.test("record: every damaged byte of the metadata is caught, never decoded into a wrong entry", () => {
  const bytes = encodeEntry(entry());
  const metaEnd = 6 + new DataView(bytes.buffer).getUint32(2) + 4;
  for (let i = 0; i < metaEnd; i++) {
    const damaged = bytes.slice();
    damaged[i]! ^= 0x41;
    throws(() => decodeRecord(damaged), SyntaxError, `byte ${i}`);
  }
  throws(() => decodeRecord(bytes.subarray(0, 20)), SyntaxError);
  throws(() => decodeRecord(new Uint8Array(0)), /shorter than its frame/);
});

Deno.test("record: an intact record of another version is told from a damaged one by its envelope", () => {
  for (const version of [0, 1, RECORD_VERSION + 1, 255]) {
    const bytes = encodeEntry(entry());
    bytes[0] = version;
    throws(
      () => decodeRecord(bytes),
      (error) => error instanceof OtherVersionError && error.version === version,
    );
    bytes[7]! ^= 1; // damaged too: corrupt, whatever its version
    throws(
      () => decodeRecord(bytes),
      (error) => !(error instanceof OtherVersionError) && /checksum/.test(String(error)),
    );
  }
});

Deno.test("record: the layout is pinned: this code writes, and reads back, the bytes its version wrote", () => {
  // A record outlives the code that wrote it. If this fails, the layout (or the COMMON strings)
  // changed: bump RECORD_VERSION, so that records written before read as misses, not as other
  // entries, and write the new bytes here.
  const written = Uint8Array.from(
    atob(
      "AwEAAABtAADIQni8/laAAABCeLz+Vo+oAEJ4vP5WksAAf/AAAAAAAAA/0AAAAAAAAAMCATQFCW0PChIIWQYUAGh0dHBzOi8vZXhhbXBsZS5jb20vYT9iPTEidjEieC1jdXN0b215ZXNlbngtbWlzc2luZ1b7SWtoZWxsbw==",
    ),
    (char) => char.charCodeAt(0),
  );
  equal(RECORD_VERSION, 3);
  deepEqual(encodeEntry(entry()), written);
  deepEqual(decodeRecord(written), { kind: "entry", entry: entry() });
});

Deno.test("record: memory that is not zeroed first is a plain array of its own buffer, and joined bodies fill it", () => {
  // Records and joined bodies start with whatever the memory held: every byte of them is written.
  // (An unwritten byte of a record fails the round-trip property above on Bun, whose allocator
  // hands freed memory out again at once.)
  for (const length of [0, 1, 64, 100_000]) {
    const bytes = unfilled(length);
    equal(bytes.constructor, Uint8Array);
    equal(bytes.length, length);
    equal(fillsBuffer(bytes), true);
  }
  deepEqual(joined([new Uint8Array([1, 2]), new Uint8Array([3])]), new Uint8Array([1, 2, 3]));
});

Deno.test("sha256: the same digest as WebCrypto, for every length around the block boundaries", async () => {
  for (let length = 0; length < 300; length++) {
    const bytes = new Uint8Array(length).map((_, i) => (i * 31 + length) & 0xff);
    const expected = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    deepEqual(sha256(bytes), expected, `length ${length}`);
  }
});

/** The first 128 bits of WebCrypto's SHA-256 of some bytes, in base64url: what digestText gives. */
async function webDigest(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return btoa(String.fromCharCode(...hash.subarray(0, 16))).slice(0, 22).replaceAll("+", "-").replaceAll(
    "/",
    "_",
  );
}

Deno.test("sha256: digestText is the first 128 bits of the UTF-8 digest, in base64url", async () => {
  // Every length around one block's 55 characters, ASCII (hashed from its characters) and not.
  const around = Array.from({ length: 64 }, (_, n) => "GET https://example.com/".repeat(3).slice(0, n));
  const texts = [...around, ...around.map((text) => `${text}é`), "é".repeat(100), "x".repeat(1000)];
  for (const text of texts) equal(digestText(text), await webDigest(new TextEncoder().encode(text)));
});

Deno.test("sha256: digestText and digestBytes of ever longer texts of three-byte characters", async () => {
  // Kills src/sha256.ts:135 `text.length * 3 + 72` -> `text.length * 2 + 72`, and the guard
  // `text.length * 3 + 72 > scratch.length` -> `text.length > scratch.length`: the buffer the text
  // is encoded into kept its size while the text's UTF-8 outgrew it, and `encodeInto` cut the
  // text short. Each text is half as long again as the one before, so one of them is longer than
  // any the buffer was sized for, whatever this process hashed earlier.
  const encoder = new TextEncoder();
  for (let length = 20; length < 400_000; length = Math.ceil(length * 1.5)) {
    for (const text of ["€".repeat(length), `a${"€".repeat(length - 2)}😀`]) {
      const bytes = encoder.encode(text);
      const expected = await webDigest(bytes);
      equal(digestText(text), expected, `${text.length} characters`);
      equal(digestBytes(bytes), expected, `${bytes.length} bytes`);
    }
  }
});

Deno.test("keys: the digests kept for recent URLs are always those of the URL asked for", () => {
  // Each URL keyed eight times, GET and HEAD in turn, so kept digests are found again; more URLs
  // than are kept, so they are dropped too; with and without ignored parameters, whose keys differ.
  const ignored = new Set(["token"]);
  for (let i = 0; i < 3000; i++) {
    const url = new URL(`http://127.0.0.1/item/${i}?token=${i}&b=2&a=${i % 7}#part`);
    for (let use = 0; use < 8; use++) {
      const method = use % 2 === 0 ? "GET" : "HEAD";
      const parameters = use % 4 < 2 ? ignored : new Set<string>();
      equal(
        urlKeyPrefix(method, url, parameters.size === 0 ? undefined : parameters),
        digestText(`${method} ${normalizeUrl(url, parameters)}`),
        `${method} ${url} ignoring ${[...parameters]}`,
      );
    }
  }
});
