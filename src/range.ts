/**
 * Answering a `Range` request from a stored complete response (RFC 9110 §14): a single byte
 * range — `a-b`, open-ended `a-` or suffix `-n` — becomes a `206` with `Content-Range`; a range
 * that starts past the end becomes a `416`. Several ranges or another unit are answered with the
 * whole `200`, which a server may always do (§14.2).
 *
 * @module
 */

/** A satisfiable range: first and last byte, inclusive. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * Parses a `Range` header against a body length.
 *
 * @param value The `Range` field value.
 * @param length The length of the complete body.
 * @returns The range, `"unsatisfiable"`, or `undefined` when the whole body should be sent.
 *
 * @example
 * ```ts
 * import { parseRange } from "./range.ts";
 * console.log(parseRange("bytes=-3", 10)); // { start: 7, end: 9 }
 * console.log(parseRange("bytes=20-", 10)); // "unsatisfiable"
 * ```
 */
export function parseRange(value: string, length: number): ByteRange | "unsatisfiable" | undefined {
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(value);
  if (match === null) return undefined;
  const [, first, last] = match as unknown as [string, string, string];
  if (first === "" && last === "") return undefined;
  if (first === "") {
    // A suffix range: the last n bytes (§14.1.2); -0 selects nothing. Any other is satisfiable,
    // though of an empty body it selects no byte, which no Content-Range can say: the whole body.
    const suffix = Number(last);
    if (suffix === 0) return "unsatisfiable";
    if (length === 0) return undefined;
    return { start: Math.max(0, length - suffix), end: length - 1 };
  }
  // §14.1.1: a last position before the first makes the range invalid, and the field is ignored;
  // compared exactly, as positions past 2^53 differ where the numbers they read as may not.
  if (last !== "" && BigInt(last) < BigInt(first)) return undefined;
  const start = Number(first);
  const end = last === "" ? length - 1 : Math.min(Number(last), length - 1);
  if (start >= length) return "unsatisfiable";
  return { start, end };
}

/**
 * Builds the partial answer to a range request from a complete stored body.
 *
 * @param headers The headers of the complete response (changed in place).
 * @param body The complete body.
 * @param range The `Range` field value.
 * @returns Status, headers and body to serve, or `undefined` to serve the whole response.
 */
export function partialContent(
  headers: Headers,
  body: Uint8Array,
  range: string,
): { status: 206 | 416; headers: Headers; body: Uint8Array } | undefined {
  const selected = parseRange(range, body.length);
  if (selected === undefined) return undefined;
  // The digests of the message content are of the whole body, not of a part (RFC 9530 §2).
  headers.delete("content-digest");
  headers.delete("content-md5");
  // The cache takes byte ranges of this response, whatever the origin said of its own (`none`).
  headers.set("accept-ranges", "bytes");
  if (selected === "unsatisfiable") {
    headers.set("content-range", `bytes */${body.length}`);
    headers.delete("content-length");
    // Empty, not absent: a 416 is no null body status, and fetch gives it a body to read.
    return { status: 416, headers, body: new Uint8Array(0) };
  }
  const part = body.subarray(selected.start, selected.end + 1);
  headers.set("content-range", `bytes ${selected.start}-${selected.end}/${body.length}`);
  headers.set("content-length", String(part.length));
  return { status: 206, headers, body: part };
}
