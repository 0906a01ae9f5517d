/**
 * Bodies, fourth hunt: the body a caller reads, of a miss and of a hit, behaves as fetch's does,
 * in its bytes and in its types, whichever way it is read.
 */
import { Buffer } from "node:buffer";
import { CachedSession } from "../mod.ts";
import { assert, assertEquals } from "./_assert.ts";

/** A body of one chunk that is a Node `Buffer` filling an `ArrayBuffer` of its own (`Readable.toWeb` streams such chunks). */
function bufferBody(text: string): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      const chunk = Buffer.allocUnsafeSlow(text.length);
      chunk.write(text, "latin1");
      controller.enqueue(chunk);
      controller.close();
    },
  });
}

// Was wrong: a streamed miss taken whole, whose body came in one chunk that was a Node Buffer
// filling its own ArrayBuffer (from a custom fetch over a Node stream), gave that Buffer itself
// to bytes(): not the plain Uint8Array that fetch's bytes() gives, whose slice() copies and
// whose toString() lists the bytes.
Deno.test("bodies4: bytes() of a miss whose one chunk is a Node Buffer is a plain Uint8Array, as fetch's is", async () => {
  for (const signal of [null, new AbortController().signal]) {
    const session = new CachedSession({
      fetch: () =>
        Promise.resolve(new Response(bufferBody("hi!"), { headers: { "cache-control": "max-age=60" } })),
    });
    try {
      const plain = await new Response(bufferBody("hi!")).bytes();
      const miss = await (await session.fetch("http://127.0.0.1/buffered", { signal })).bytes();
      const hit = await session.fetch("http://127.0.0.1/buffered", { signal });
      assert(hit.fromCache);
      for (const bytes of [plain, miss, await hit.bytes()]) {
        assertEquals(Object.getPrototypeOf(bytes), Uint8Array.prototype);
        assertEquals(String(bytes), "104,105,33");
        const copy = bytes.slice();
        copy[0] = 0;
        assertEquals(bytes[0], 104, "slice() is a copy");
      }
    } finally {
      await session.close();
    }
  }
});
