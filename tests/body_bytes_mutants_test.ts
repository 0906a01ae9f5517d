/**
 * Following a caller's abort signal while the cache reads a body, the bytes the cache keeps and
 * hands out, and the forms a URL's keys take for deletes and listings by URL: behaviour that
 * mutation testing of `src/abort_follow.ts`, `src/bytes.ts` and `src/key_forms.ts` found no test for.
 */
import { deepEqual, equal, notEqual, rejects } from "node:assert/strict";
import { Buffer } from "node:buffer";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { CacheBackend, CachedSession, type Storage } from "../mod.ts";
import { MemoryStorage } from "../backends/memory.ts";
import { fillsBuffer, joined, startsWith } from "../src/bytes.ts";
import { origin, reply, settle } from "./_origin.ts";
import { Switched, until, within } from "./_fixtures.ts";
import { CANCELLED_READ_TIMEOUT } from "../src/deadline.ts";
import { tempDir } from "./_runtime.ts";

const URL_A = "http://127.0.0.1/resource";

/**
 * A session whose `filter` aborts the request's signal: the filter runs once the response's
 * headers have come (`fetch` resolves with the response) and before the cache takes the body, so
 * the body is taken under a signal that has aborted already.
 */
function abortingAfterHeaders(headers: Record<string, string>) {
  const controller = new AbortController();
  const reason = new Error("gave up after the headers");
  const o = origin(() => reply("the body", { "cache-control": "max-age=600", ...headers }));
  const session = new CachedSession({
    fetch: o.fetch,
    filter: () => {
      controller.abort(reason);
      return true;
    },
  });
  return { session, signal: controller.signal, reason };
}

/** Waits until the cache holds `count` entries (its write follows the body's end). */
async function stored(session: CachedSession, count: number): Promise<void> {
  await within(
    5000,
    (async () => {
      while (await session.cache.count() !== count) await settle();
    })(),
  );
}

// Kills abort_follow.ts:21 `if (signal.aborted)` → `if (false)`, and abort_follow.ts:22 `abort()`
// dropped: a body followed from a signal that has aborted already must fail at once, as fetch's
// does after an abort ("abort fetch"); the mutants leave it readable.
Deno.test("a streamed body whose signal aborted before the cache took it fails with the signal's reason; the body is stored", async () => {
  const { session, signal, reason } = abortingAfterHeaders({});
  const response = await session.fetch(URL_A, { signal });
  await rejects(response.text(), (error) => error === reason);
  // The abort ends the caller's reading, not the cache's: the body is stored.
  await stored(session, 1);
  equal(await (await session.fetch(URL_A)).text(), "the body");
  await session.close();
});

// Kills abort_follow.ts:21/22 as above, for a body the cache reads whole (of declared length, on
// Deno and Bun: laterBody) and its caller reads by its stream; taken whole, it fails through
// abort_follow.ts:63 (`unlessAborted` on a signal that has aborted: body_abort_test.ts kills the
// mutants of that line).
Deno.test("a body of declared length whose signal aborted before the cache took it fails when read, and when taken whole; it is stored", async () => {
  for (const whole of [false, true]) {
    const { session, signal, reason } = abortingAfterHeaders({ "content-length": "8" });
    const response = await session.fetch(URL_A, { signal });
    const read = whole ? response.text() : response.body!.getReader().read();
    await rejects(read, (error) => error === reason);
    await stored(session, 1);
    equal(await (await session.fetch(URL_A)).text(), "the body");
    await session.close();
  }
});

// Kills abort_follow.ts:67 `promise.then(resolve, reject)` → `promise.then(resolve, () => {})`:
// the body's failure must reach a caller that takes it whole under a signal, not leave it waiting
// (within(5000, …) bounds the hang). On Deno and Bun, which read a body of declared length whole
// (laterBody); on Node it streams. (model_test.ts catches the mutant too, on Deno, only as a
// promise left pending when its event loop ends.)
Deno.test("a body of declared length that fails at the origin fails the caller's read of the whole, with a signal that never aborts", async () => {
  const broke = new Error("the origin broke off");
  const o = origin(() =>
    new Response(
      new ReadableStream({
        pull(controller) {
          controller.enqueue(new TextEncoder().encode("abc"));
          controller.error(broke);
        },
      }),
      { headers: { "cache-control": "max-age=600", "content-length": "10" } },
    )
  );
  const session = new CachedSession({ fetch: o.fetch });
  const response = await session.fetch(URL_A, { signal: new AbortController().signal });
  await rejects(within(5000, response.text()), (error) => error === broke);
  equal(await session.cache.count(), 0);
  await session.close();
});

// Kills abort_follow.ts:94 `clear()` dropped from what stops following: once the cache's read of
// a body its caller cancelled has ended, the time limit's timer goes too (the mutant leaves it, and
// all the read holds, for 30 s).
Deno.test("a cancelled body the cache reads on to its end and stores leaves no time limit behind", async () => {
  // The time limit of the cache's read alone (CANCELLED_READ_TIMEOUT) is a timer: watched here.
  const { setTimeout: setTimer, clearTimeout: clearTimer } = globalThis;
  const limits: unknown[] = [];
  const cleared = new Set<unknown>();
  globalThis.setTimeout = ((fn: () => void, ms?: number) => {
    const timer = setTimer(fn, ms);
    if (ms === CANCELLED_READ_TIMEOUT) limits.push(timer);
    return timer;
  }) as typeof setTimeout;
  globalThis.clearTimeout = ((timer: Parameters<typeof clearTimeout>[0]) => {
    cleared.add(timer);
    clearTimer(timer);
  }) as typeof clearTimeout;
  let rest!: () => void;
  const session = new CachedSession({
    fetch: () => {
      const body = new ReadableStream<Uint8Array>({
        start: (controller) => {
          controller.enqueue(new TextEncoder().encode("first "));
          rest = () => (controller.enqueue(new TextEncoder().encode("and last")), controller.close());
        },
      });
      return Promise.resolve(new Response(body, { headers: { "cache-control": "max-age=600" } }));
    },
  });
  try {
    const reader = (await session.fetch(URL_A)).body!.getReader();
    await reader.read();
    await reader.cancel();
    equal(limits.length, 1, "the read alone has a time limit");
    rest();
    await within(5000, until(() => cleared.has(limits[0])));
    equal(await (await session.fetch(URL_A)).text(), "first and last");
  } finally {
    globalThis.setTimeout = setTimer;
    globalThis.clearTimeout = clearTimer;
    for (const timer of limits) clearTimer(timer as number);
    await session.close();
  }
});

// Kills key_forms.ts:42 `new Set(DEFAULT_METHODS)` → `new Set()`: the methods looked under for a
// storage start from GET and HEAD whatever its sessions store. A HEAD's entry, stored on its own
// where no GET response answers it, by another process (here: another view of the same storage),
// is found by a session here that stores GETs only, as by a backend with no session at all
// (key_forms.ts:26 `["GET", "HEAD"]` → `["GET"]`, which inspection_test.ts kills too).
Deno.test("deleteUrls finds the entry a HEAD stored, whatever the sessions of this process store", async () => {
  const o = origin(() => reply(null, { "cache-control": "max-age=600" }));
  const memory = new MemoryStorage();
  const elsewhere = new CachedSession({ fetch: o.fetch, backend: new CacheBackend(new Switched(memory)) });
  const storeHead = async () => {
    await elsewhere.fetch(URL_A, { method: "HEAD" });
    equal((await elsewhere.fetch(URL_A, { method: "HEAD" })).fromCache, true);
    equal(await elsewhere.cache.count({ urls: [URL_A] }), 1);
  };
  await storeHead();
  await new CacheBackend(memory).deleteUrls(URL_A);
  equal(await elsewhere.cache.count(), 0, "no session over the storage here");
  await storeHead();
  const getsOnly = new CachedSession({
    fetch: o.fetch,
    backend: new CacheBackend(memory),
    allowedMethods: ["GET"],
  });
  await getsOnly.cache.deleteUrls(URL_A);
  equal(await elsewhere.cache.count(), 0, "a session that stores GETs only");
  await getsOnly.close();
  await elsewhere.close();
});

// Kills key_forms.ts:46 every session's `ignoredParameters` noted under one name (`""`: the last
// replaced the others), and key_forms.ts:72 the forms of the first or of the last session alone.
Deno.test("a URL is looked for in the form of each session over the backend, whatever parameters each leaves out", async () => {
  const o = origin((request) => reply(new URL(request.url).search, { "cache-control": "max-age=600" }));
  const backend = new CacheBackend(new MemoryStorage());
  const sessions = [["a"], ["b"], ["a", "b"]].map((ignoredParameters) =>
    new CachedSession({ fetch: o.fetch, backend, ignoredParameters })
  );
  const url = "http://127.0.0.1/x?a=1&b=2&c=3";
  for (const session of sessions) await (await session.fetch(url)).text();
  deepEqual((await backend.urls({ urls: [url] })).sort(), [
    "http://127.0.0.1/x?a=1&c=3",
    "http://127.0.0.1/x?b=2&c=3",
    "http://127.0.0.1/x?c=3",
  ]);
  equal(await backend.delete({ urls: [url] }), 3);
  equal(await backend.count(), 0);
  for (const session of sessions) await session.close();
});

/**
 * A storage that hands out each record as a driver may: a Node `Buffer` (whose `slice()` makes a
 * view), a view into a larger buffer that it keeps, and hands out again on the next read.
 */
class PooledStorage implements Storage {
  readonly name = "pooled";
  readonly #pools = new Map<string, ArrayBuffer>();
  get(key: string): Promise<Uint8Array | undefined> {
    const pool = this.#pools.get(key);
    return Promise.resolve(pool && Buffer.from(pool, 8, pool.byteLength - 16));
  }
  set(key: string, value: Uint8Array): Promise<void> {
    const pool = new ArrayBuffer(value.length + 16);
    new Uint8Array(pool).fill(0xee).set(value, 8);
    this.#pools.set(key, pool);
    return Promise.resolve();
  }
  delete(keys: string[]): Promise<void> {
    for (const key of keys) this.#pools.delete(key);
    return Promise.resolve();
  }
  async *keys(prefix = ""): AsyncIterable<string> {
    for (const key of [...this.#pools.keys()]) if (key.startsWith(prefix)) yield key;
  }
  clear(): Promise<void> {
    this.#pools.clear();
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

// Kills bytes.ts:50 `new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)` made at
// offset 0, or over the whole buffer: a driver's Buffer is often a view into a larger one, and the
// record was read from the wrong bytes. (On Node it kills bytes.ts:48 `bytes.constructor ===
// Uint8Array` → `true` too: a hit's body streams from a copy made by `slice()`, a view for a
// Buffer, whose buffer, the storage's own, the byte stream took over. owned_body_test.ts kills
// that mutant on every runtime.)
Deno.test("a hit from a storage that hands out Buffers into a larger buffer reads its record, and leaves the stored bytes alone", async () => {
  const o = origin(() => reply("stored body", { "cache-control": "max-age=600" }));
  const session = new CachedSession({ fetch: o.fetch, backend: new CacheBackend(new PooledStorage()) });
  await (await session.fetch(URL_A)).text();
  for (let i = 0; i < 3; i++) {
    const hit = await session.fetch(URL_A);
    equal(hit.fromCache, true);
    const reader = hit.body!.getReader();
    const chunks: Uint8Array[] = [];
    for (let read = await reader.read(); !read.done; read = await reader.read()) chunks.push(read.value);
    equal(new TextDecoder().decode(Buffer.concat(chunks)), "stored body");
    for (const chunk of chunks) chunk.fill(0x21); // the caller's own bytes
  }
  equal(o.calls, 1);
  await session.close();
});

// Kills bytes.ts:59 `parts.length === 1 && fillsBuffer(part)` → `parts.length === 1`: the miss's
// arrayBuffer() was the chunk's whole buffer, bytes around the body included.
Deno.test("a streamed body whose one chunk is a view into a larger buffer is taken whole as just those bytes", async () => {
  const session = new CachedSession({
    fetch: () => {
      const body = new ReadableStream<Uint8Array>({
        start: (controller) => {
          controller.enqueue(new Uint8Array([0, 1, 2, 3, 4]).subarray(1, 4));
          controller.close();
        },
      });
      return Promise.resolve(new Response(body, { headers: { "cache-control": "max-age=600" } }));
    },
  });
  const miss = await session.fetch(URL_A);
  deepEqual([...new Uint8Array(await miss.arrayBuffer())], [1, 2, 3]);
  const hit = await session.fetch(URL_A);
  equal(hit.fromCache, true);
  deepEqual([...new Uint8Array(await hit.arrayBuffer())], [1, 2, 3]);
  await session.close();
});

// Kills bytes.ts:25 `bytes.buffer instanceof ArrayBuffer` dropped: shared memory taken for a
// buffer of its own.
Deno.test("fillsBuffer: only bytes that are the whole of an ArrayBuffer of their own stand for their buffer", () => {
  equal(fillsBuffer(new Uint8Array(8)), true);
  equal(fillsBuffer(new Uint8Array(0)), true);
  equal(fillsBuffer(new Uint8Array(8).subarray(0, 7)), false);
  equal(fillsBuffer(new Uint8Array(8).subarray(1)), false);
  equal(fillsBuffer(new Uint8Array(new SharedArrayBuffer(8))), false);
});

// Kills bytes.ts:93 `bytes.length < head.length` → `<=`, and bytes.ts:94 the native comparison
// made without the first or the last byte of the head. (DecodedHeads compares a record's head
// with this: a byte left out could take another record's metadata.)
Deno.test("startsWith: every byte of the head counts, and bytes as long as their head start with it", () => {
  const bytes = new Uint8Array([1, 2, 3, 4]);
  equal(startsWith(bytes, new Uint8Array([1, 2, 3])), true);
  equal(startsWith(bytes, new Uint8Array([1, 2, 3, 4])), true);
  equal(startsWith(bytes, new Uint8Array(0)), true);
  equal(startsWith(bytes, new Uint8Array([9, 2, 3])), false);
  equal(startsWith(bytes, new Uint8Array([1, 2, 9])), false);
  equal(startsWith(bytes, new Uint8Array([1, 2, 3, 9])), false);
  equal(startsWith(bytes.subarray(0, 2), new Uint8Array([1, 2, 3])), false);
});

// Kills bytes.ts:59 the single part returned without `fillsBuffer`, with `parts.length <= 1` (no
// parts: a throw), or never (a copy, where the part that fills its buffer is documented to be
// returned itself).
Deno.test("joined: the parts one after the other, in bytes that fill their buffer; one part that fills its own is itself", () => {
  const whole = new Uint8Array([1, 2, 3]);
  equal(joined([whole]), whole);
  const view = new Uint8Array([0, 1, 2, 3, 4]).subarray(1, 4);
  for (const parts of [[view], [view.subarray(0, 1), view.subarray(1)], [new Uint8Array(0), view]]) {
    const bytes = joined(parts);
    deepEqual([...bytes], [1, 2, 3]);
    equal(fillsBuffer(bytes), true);
  }
  const none = joined([]);
  equal(none.length, 0);
  equal(fillsBuffer(none), true);
});

// Kills, on a runtime without a global Buffer, bytes.ts:95 the loop started at 1 or ended a byte
// early, bytes.ts:96 `return true` → `false`, and bytes.ts:113 a zeroed array a byte too long.
Deno.test("bytes: where the runtime has no global Buffer, the same answers, from plain arrays", async () => {
  // A copy of the module (it imports nothing), loaded while `Buffer` is hidden, as on a runtime
  // without one.
  const copy = join(tempDir("bytes_without_buffer_"), "bytes.ts");
  writeFileSync(copy, readFileSync(new URL("../src/bytes.ts", import.meta.url)));
  const hidden = Object.getOwnPropertyDescriptor(globalThis, "Buffer");
  let fresh: typeof import("../src/bytes.ts");
  try {
    delete (globalThis as { Buffer?: unknown }).Buffer;
    equal((globalThis as { Buffer?: unknown }).Buffer, undefined, "Buffer is hidden");
    fresh = await import(pathToFileURL(copy).href);
  } finally {
    if (hidden !== undefined) Object.defineProperty(globalThis, "Buffer", hidden);
  }
  notEqual(fresh.startsWith, startsWith);
  const bytes = new Uint8Array([1, 2, 3, 4]);
  equal(fresh.startsWith(bytes, new Uint8Array([1, 2, 3])), true);
  equal(fresh.startsWith(bytes, bytes.slice()), true);
  equal(fresh.startsWith(bytes, new Uint8Array([9, 2, 3])), false);
  equal(fresh.startsWith(bytes, new Uint8Array([1, 2, 9])), false);
  equal(fresh.startsWith(bytes.subarray(0, 2), new Uint8Array([1, 2, 3])), false);
  const unfilled = fresh.unfilled(5);
  equal(unfilled.constructor, Uint8Array);
  equal(unfilled.length, 5);
  equal(fresh.fillsBuffer(unfilled), true);
  deepEqual([...fresh.joined([new Uint8Array([1]), new Uint8Array([2, 3])])], [1, 2, 3]);
});
