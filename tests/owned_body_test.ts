/**
 * Handing a stored body over instead of copying it: a storage that copies values (SQLite) lets a
 * plain hit on Node give the caller the array it just read. Any other storage, any array that is
 * not a whole buffer of its own, and every path that uses the entry again (a background refresh,
 * a range) still copy, so no stored record is ever detached. A miss's body read whole goes to its
 * caller as it was read where the runtime hands it over without a copy (Bun: `OWNS_READ_BODY`),
 * and every runtime gives the same answers: every way of reading it gives the origin's bytes, and
 * a caller that writes into what it got changes nothing stored.
 *
 * @module
 */

import { deepEqual, equal } from "node:assert/strict";
import { Buffer } from "node:buffer";
import { Readable } from "node:stream";
import { CacheBackend } from "../backends/base.ts";
import { MemoryBackend, MemoryStorage } from "../backends/memory.ts";
import { CachedSession } from "../mod.ts";
import { Clock, origin, reply } from "./_origin.ts";
import { RUNTIME } from "./_runtime.ts";

const BODY = "x".repeat(3000);

/**
 * Keeps records like the memory store, but `get` returns a new whole-buffer copy (`copy`), a copy
 * inside a larger buffer (`view`), both saying they copy values, or the stored array itself
 * (`own`), saying nothing.
 */
class CopyingStorage extends MemoryStorage {
  override readonly keepsValues = false;
  readonly copiesValues: boolean;
  /** Every array `get` returned. */
  readonly handedOut: Uint8Array[] = [];
  #shape: "copy" | "view" | "own";

  constructor(shape: "copy" | "view" | "own") {
    super();
    this.#shape = shape;
    this.copiesValues = shape !== "own";
  }

  override async get(key: string): Promise<Uint8Array | undefined> {
    const stored = await super.get(key);
    if (stored === undefined) return undefined;
    let value = stored;
    if (this.#shape === "copy") value = stored.slice();
    if (this.#shape === "view") {
      // A copy inside a larger buffer, as a driver that parses several replies from one chunk.
      const chunk = new Uint8Array(stored.length + 8);
      chunk.set(stored, 4);
      value = chunk.subarray(4, 4 + stored.length);
    }
    this.handedOut.push(value);
    return value;
  }
}

function session(
  storage: CopyingStorage,
  options: { clock?: Clock; script?: Parameters<typeof origin>[0] } = {},
) {
  const clock = options.clock ?? new Clock();
  const server = origin(
    options.script ?? (() => reply(BODY, { "cache-control": "max-age=60", etag: '"v1"' }, { clock })),
  );
  const background: Promise<unknown>[] = [];
  return {
    server,
    background,
    session: new CachedSession({
      backend: new CacheBackend(storage),
      fetch: server.fetch,
      now: clock.fn,
      waitUntil: (work) => background.push(work),
    }),
  };
}

/** A hit's body, read through its stream (as a caller that streams it would) or by `text()`. */
async function hit(s: CachedSession, read: "stream" | "text" = "stream"): Promise<string> {
  const response = await s.fetch("http://127.0.0.1/item");
  equal(response.fromCache, true);
  return await (read === "text" ? response : new Response(response.body)).text();
}

Deno.test("owned body: a storage that copies values gives a streamed hit its own array (detached on Node), body whole", async () => {
  const storage = new CopyingStorage("copy");
  const { session: s } = session(storage);
  await (await s.fetch("http://127.0.0.1/item")).text();
  for (let i = 0; i < 3; i++) equal(await hit(s), BODY);
  equal(storage.handedOut.length, 3);
  // Node streams the array itself (and so detaches it); Deno and Bun copy it into the Response.
  const detached = storage.handedOut.map((array) => array.byteLength === 0);
  deepEqual(detached, [0, 1, 2].map(() => RUNTIME === "node"));
  await s.close();
});

Deno.test("owned body: a hit read whole by text() decodes the array in place: nothing is detached", async () => {
  const storage = new CopyingStorage("copy");
  const { session: s } = session(storage);
  await (await s.fetch("http://127.0.0.1/item")).text();
  for (let i = 0; i < 3; i++) equal(await hit(s, "text"), BODY);
  deepEqual(storage.handedOut.map((array) => array.byteLength > BODY.length), [true, true, true]);
  await s.close();
});

Deno.test("owned body: an array the storage keeps, or a view into a larger buffer, is never detached", async () => {
  for (const shape of ["own", "view"] as const) {
    const storage = new CopyingStorage(shape);
    const { session: s } = session(storage);
    await (await s.fetch("http://127.0.0.1/item")).text();
    for (let i = 0; i < 3; i++) equal(await hit(s), BODY, `${shape} hit ${i}`);
    equal(storage.handedOut.length, 3);
    for (const array of storage.handedOut) equal(array.byteLength > BODY.length, true, shape);
    await s.close();
  }
});

Deno.test("owned body: a stale entry served while it is refreshed, or a range of it, keeps its whole body", async () => {
  const clock = new Clock();
  const storage = new CopyingStorage("copy");
  const { session: s, background, server } = session(storage, {
    clock,
    script: (request) =>
      request.headers.get("if-none-match") === '"v1"'
        ? reply(null, { "cache-control": "max-age=10, stale-while-revalidate=60", etag: '"v1"' }, {
          status: 304,
          clock,
        })
        : reply(BODY, { "cache-control": "max-age=10, stale-while-revalidate=60", etag: '"v1"' }, { clock }),
  });
  await (await s.fetch("http://127.0.0.1/item")).text();
  clock.tick(20);
  // Served stale at once; the refresh (a 304) stores the entry again with the same body.
  equal(await hit(s), BODY);
  await Promise.all(background);
  equal(server.calls, 2);
  const range = await s.fetch("http://127.0.0.1/item", { headers: { range: "bytes=0-9" } });
  deepEqual([range.status, await range.text()], [206, BODY.slice(0, 10)]);
  for (let i = 0; i < 2; i++) equal(await hit(s), BODY);
  equal(server.calls, 2);
  await s.close();
});

Deno.test("owned body: a miss gives the caller bytes of its own: writing into them changes neither the stored entry nor what a request that waited for it gets", async () => {
  const server = origin(() =>
    reply(BODY, { "cache-control": "max-age=60", "content-length": String(BODY.length) })
  );
  const s = new CachedSession({ fetch: server.fetch });
  const [miss, waiter] = await Promise.all([
    s.fetch("http://127.0.0.1/item"),
    s.fetch("http://127.0.0.1/item"),
  ]);
  equal(server.calls, 1);
  equal(miss.fromCache, false);
  const bytes = await miss.bytes();
  equal(bytes.buffer.byteLength, BODY.length);
  bytes.fill(0);
  equal(await waiter.text(), BODY);
  const hit = await s.fetch("http://127.0.0.1/item");
  deepEqual([hit.fromCache, await hit.text()], [true, BODY]);
  await s.close();
});

Deno.test("owned body: bytes handed out as Node Buffers (whose slice() is a view) are copied all the same", async () => {
  // What the Deno KV driver for Node and Bun hands out: a Buffer inside a larger buffer.
  const storage = new (class extends MemoryStorage {
    override readonly keepsValues = false;
    override async get(key: string): Promise<Uint8Array | undefined> {
      const stored = await super.get(key);
      return stored &&
        Buffer.concat([Buffer.alloc(4), stored, Buffer.alloc(4)]).subarray(4, 4 + stored.length);
    }
  })();
  const clock = new Clock();
  const server = origin((request) =>
    request.headers.get("if-none-match") === '"v1"'
      ? reply(null, { "cache-control": "max-age=60", etag: '"v1"' }, { status: 304, clock })
      : reply(BODY, { "cache-control": "max-age=60", etag: '"v1"' }, { clock })
  );
  const s = new CachedSession({ backend: new CacheBackend(storage), fetch: server.fetch, now: clock.fn });
  const url = "http://127.0.0.1/item";
  await (await s.fetch(url)).text();
  // A hit's arrayBuffer() is the body alone, not the buffer the body lies in.
  const whole = await (await s.fetch(url)).arrayBuffer();
  equal(new TextDecoder().decode(whole), BODY);
  // Requests that share one revalidation share its entry: one streamed does not empty the others.
  const ask = () => s.fetch(url, { headers: { "cache-control": "no-cache" } });
  const [first, second] = await Promise.all([ask(), ask()]);
  equal(await new Response(first.body).text(), BODY);
  equal(await second.text(), BODY);
  // And so are the responses that inspection reads.
  for await (const response of s.cache.responses()) {
    equal(new TextDecoder().decode(await response.arrayBuffer()), BODY);
  }
  await s.close();
});

Deno.test("owned body: a body that arrives in Node Buffers is stored as a copy: writing into the chunks read changes nothing stored", async () => {
  // A Response over a Node stream (`Readable.toWeb`) streams Buffers, whose slice() is a view.
  const server = origin(() =>
    new Response(Readable.toWeb(Readable.from([Buffer.from("abc"), Buffer.from("def")])) as ReadableStream, {
      headers: { "cache-control": "max-age=60" },
    })
  );
  const s = new CachedSession({ fetch: server.fetch });
  const url = "http://127.0.0.1/item";
  const reader = (await s.fetch(url)).body!.getReader();
  for (let read = await reader.read(); !read.done; read = await reader.read()) read.value.fill(0x7a);
  const hit = await s.fetch(url);
  equal(hit.fromCache, true);
  equal(await hit.text(), "abcdef");
  await s.close();
});

/** Above the size that is handed over without a copy (16 KiB), and below it. */
const SIZES = [64 * 1024, 1024];

function bytesOf(size: number): Uint8Array<ArrayBuffer> {
  return Uint8Array.from({ length: size }, (_, i) => (i * 7 + 3) & 0xff);
}

const READS: Record<string, (response: Response) => Promise<Uint8Array>> = {
  arrayBuffer: async (response) => new Uint8Array(await response.arrayBuffer()),
  bytes: (response) => response.bytes(),
  blob: async (response) => new Uint8Array(await (await response.blob()).arrayBuffer()),
  stream: async (response) => new Uint8Array(await new Response(response.body).arrayBuffer()),
  clone: async (response) => {
    const copy = response.clone();
    const [mine, theirs] = await Promise.all([response.arrayBuffer(), copy.arrayBuffer()]);
    deepEqual(new Uint8Array(theirs), new Uint8Array(mine));
    return new Uint8Array(mine);
  },
};

for (const size of SIZES) {
  for (const signal of [false, true]) {
    Deno.test(`owned body: a ${size}-byte miss${signal ? " with a signal" : ""} reads whole every way, and what the caller writes into changes nothing stored`, async () => {
      const body = bytesOf(size);
      const server = origin(() =>
        reply(body, { "cache-control": "max-age=60", "content-length": String(size) })
      );
      // (try/finally, not `await using`: Node 22 cannot parse `using` declarations.)
      const session = new CachedSession({ backend: new MemoryBackend(), fetch: server.fetch });
      try {
        for (const [name, read] of Object.entries(READS)) {
          const url = `http://127.0.0.1/${size}/${name}`;
          const init = signal ? { signal: new AbortController().signal } : undefined;
          const miss = await session.fetch(url, init);
          equal(miss.fromCache, false);
          const got = await read(miss);
          deepEqual(got, body, name);
          got.fill(0); // the caller's own bytes
          const hit = await session.fetch(url);
          equal(hit.fromCache, true, name);
          deepEqual(new Uint8Array(await hit.arrayBuffer()), body, `${name}: stored intact`);
        }
      } finally {
        await session.close();
      }
    });
  }
}
