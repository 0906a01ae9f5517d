/**
 * Ranges cut from stored responses, fourth pass: what the cache answers to each `Range` value,
 * beside what plain fetch gets from an origin that answers the same `Range` itself by RFC 9110
 * §14, over real sockets.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { assertEquals } from "./_assert.ts";
import { loopback } from "./_fixtures.ts";
import { CachedSession } from "../mod.ts";

const BODY = "0123456789";

/**
 * Answers a GET of `BODY` as RFC 9110 §14 has an origin do, positions compared exactly
 * (`BigInt`): a single byte range, in any case of its unit, is a 206; one starting past the end, or
 * a suffix of 0, a 416; anything else (an invalid range, several) the whole 200.
 */
function answerRange(request: IncomingMessage, response: ServerResponse): void {
  response.setHeader("cache-control", "max-age=60");
  const match = /^bytes=(\d*)-(\d*)$/i.exec(request.headers.range ?? "");
  const [first, last] = [match?.[1] ?? "", match?.[2] ?? ""];
  const length = BigInt(BODY.length);
  const unsatisfiable = () => {
    response.writeHead(416, { "content-range": `bytes */${BODY.length}` }).end();
  };
  if (match === null || (first === "" && last === "")) return void response.end(BODY);
  if (first === "" && BigInt(last) === 0n) return unsatisfiable();
  if (first !== "" && last !== "" && BigInt(last) < BigInt(first)) return void response.end(BODY);
  if (first !== "" && BigInt(first) >= length) return unsatisfiable();
  const start = first === "" ? (BigInt(last) > length ? 0n : length - BigInt(last)) : BigInt(first);
  const end = first === "" || last === "" || BigInt(last) >= length ? length - 1n : BigInt(last);
  response.writeHead(206, { "content-range": `bytes ${start}-${end}/${BODY.length}` });
  response.end(BODY.slice(Number(start), Number(end) + 1));
}

/** Status, `Content-Range` and body. */
async function answer(response: Response): Promise<[number, string | null, string]> {
  return [response.status, response.headers.get("content-range"), await response.text()];
}

Deno.test("RFC 9110 §14.1.1: a range whose last position is before its first is ignored however long its numbers, as by the origin", async () => {
  // Positions past 2^53 read as the same number when they differ: `bytes=2^53+1 - 2^53` is
  // invalid (its last position is before its first), and the field is ignored: the whole 200.
  // (Before: the cache compared the numbers, found them equal, and answered a 416.)
  const origin = await loopback(answerRange);
  const url = `${origin.url}/resource`;
  const session = new CachedSession();
  try {
    await (await session.fetch(url)).text();
    const values = [
      "bytes=9007199254740993-9007199254740992",
      "bytes=99999999999999999999-99999999999999999998",
      // The same positions the right way round are a range that starts past the end: a 416.
      "bytes=9007199254740992-9007199254740993",
      "bytes=99999999999999999999-",
      // A last position, or a suffix, beyond 2^53 and the body's end selects up to its end.
      "bytes=0-99999999999999999999",
      "bytes=-99999999999999999999",
      "bytes=0010-",
      "bytes=-0000",
      // The range unit is case-insensitive (§14.1).
      "Bytes=2-4",
      "BYTES=-3",
    ];
    for (const range of values) {
      const plain = await answer(await fetch(url, { headers: { range } }));
      const cached = await session.fetch(url, { headers: { range } });
      assertEquals([cached.fromCache, ...await answer(cached)], [true, ...plain], range);
    }
    assertEquals(origin.hits, 1 + values.length);
  } finally {
    await session.close();
    await origin.close();
  }
});
