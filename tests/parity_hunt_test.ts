/**
 * Where what `session.fetch` gives differs between runtimes while plain `fetch` there does not: a
 * hunt that ran one battery of requests through plain fetch and the cache on Deno, Node 22,
 * Node 24 and Bun, and compared what each gave.
 *
 * @module
 */

import { CachedSession } from "../mod.ts";
import { SQLiteBackend } from "../backends/sqlite.ts";
import { assert, assertEquals } from "./_assert.ts";
import { loopback, patterned } from "./_fixtures.ts";
import { tempDir } from "./_runtime.ts";

const dir = tempDir("http_cache_parity_");

/** Whether `bytes` are `patterned(length)`. */
function intact(bytes: Uint8Array, length: number): boolean {
  const expected = patterned(length);
  return bytes.length === length && bytes.every((byte, i) => byte === expected[i]);
}

/** Reads a body chunk by chunk, writing into each chunk once read; returns the bytes read. */
async function readAndScribble(body: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value.slice());
    value.fill(7);
  }
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) out.set(part, (at += part.length) - part.length);
  return out;
}

// On Deno a hit and its clone() shared one buffer (Deno's Response built from bytes tees one chunk,
// and arrayBuffer()/bytes() return it as it is): writing into what one of them read changed what
// the other read. Plain fetch's clone there, and the cache's on Node and Bun, read bytes of their own.
Deno.test("parity: a hit and its clone read bytes of their own, whichever is read first and however", async () => {
  const server = await loopback((request, response) => {
    const length = Number(new URL(request.url ?? "/", "http://127.0.0.1").searchParams.get("n"));
    response.writeHead(200, { "cache-control": "max-age=60", "content-length": String(length) });
    response.end(patterned(length));
  });
  const backends = [undefined, new SQLiteBackend({ path: `${dir}/clone.db` })];
  const reads = ["bytes", "arrayBuffer", "stream"] as const;
  const failures: string[] = [];
  for (const backend of backends) {
    const session = new CachedSession(backend === undefined ? {} : { backend });
    for (const length of [10, 200_000]) {
      for (const read of reads) {
        const url = `${server.url}/?n=${length}&read=${read}`;
        await (await session.fetch(url)).arrayBuffer();
        for (const first of ["original", "clone"] as const) {
          const hit = await session.fetch(url);
          assert(hit.fromCache, `${url}: a hit`);
          const copy = hit.clone();
          const [one, other] = first === "original" ? [hit, copy] : [copy, hit];
          const bytes = read === "bytes"
            ? await one.bytes()
            : read === "arrayBuffer"
            ? new Uint8Array(await one.arrayBuffer())
            : await readAndScribble(one.body!);
          if (!intact(bytes, length)) failures.push(`${url} ${first}: read wrong bytes`);
          bytes.fill(7);
          if (!intact(await other.bytes(), length)) {
            failures.push(`${url}: ${first} written into, the other changed`);
          }
          if (!intact(await (await session.fetch(url)).bytes(), length)) {
            failures.push(`${url}: stored body changed`);
          }
        }
      }
    }
    await session.close();
  }
  await server.close();
  assertEquals(failures, []);
});

// Checks that needed no fix, kept as a regression: a hit's clone of a clone, and a clone taken
// after the original's headers were changed, still read the whole stored body.
Deno.test("parity: a clone of a hit's clone reads the stored body, with the status and headers of the one cloned", async () => {
  const session = new CachedSession({
    fetch: () =>
      Promise.resolve(
        new Response("stored body", { status: 203, headers: { "cache-control": "max-age=60", "x-a": "1" } }),
      ),
  });
  await (await session.fetch("http://127.0.0.1/clone")).text();
  const hit = await session.fetch("http://127.0.0.1/clone");
  hit.headers.set("x-a", "2");
  const copy = hit.clone();
  const again = copy.clone();
  assertEquals(
    [hit.fromCache, copy.fromCache, again.fromCache, again.status, again.headers.get("x-a")],
    [true, true, true, 203, "2"],
  );
  assertEquals([await hit.text(), await copy.text(), await again.text()], [
    "stored body",
    "stored body",
    "stored body",
  ]);
  await session.close();
});
