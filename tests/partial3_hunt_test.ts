/**
 * Ranges cut from stored responses, third pass: parity with what plain fetch gets from an origin
 * that answers the same `Range` itself, over real sockets.
 *
 * @module
 */
import { assertEquals } from "./_assert.ts";
import { loopback } from "./_fixtures.ts";
import { CachedSession } from "../mod.ts";

const BODY = "0123456789";

/** Whether a body is there to read, and what reading it with a reader gives. */
async function readByReader(response: Response): Promise<[boolean, string]> {
  if (response.body === null) return [false, ""];
  const reader = response.body.getReader();
  let text = "";
  for (let read = await reader.read(); !read.done; read = await reader.read()) {
    text += new TextDecoder().decode(read.value);
  }
  return [true, text];
}

Deno.test("RFC 9110 §15.5.17: a 416 cut from a stored response has a body to read, empty, as fetch's 416 has", async () => {
  // A 416 is no null body status: fetch gives it a body stream, which a caller reads, pipes or
  // hands on (`response.body.getReader()`) as it does any other's.
  const origin = await loopback((request, response) => {
    response.setHeader("cache-control", "max-age=60");
    if (request.headers.range === undefined) return void response.end(BODY);
    response.statusCode = 416;
    response.setHeader("content-range", `bytes */${BODY.length}`);
    response.end();
  });
  const url = `${origin.url}/resource`;
  const session = new CachedSession();
  try {
    await (await session.fetch(url)).text();
    const asked = { headers: { range: "bytes=20-" } };
    const plain = await fetch(url, asked);
    const cached = await session.fetch(url, asked);
    assertEquals([plain.status, await readByReader(plain)], [416, [true, ""]]);
    assertEquals([cached.status, cached.fromCache, await readByReader(cached)], [416, true, [true, ""]]);
    assertEquals(origin.hits, 2);
  } finally {
    await session.close();
    await origin.close();
  }
});
