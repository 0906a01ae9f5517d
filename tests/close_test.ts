/**
 * `close()`: background work gets its time, then what only the cache waits for stops, so that
 * `close()` returns however an origin behaves; and from the call on, requests leave the backend
 * alone, on every backend alike.
 *
 * @module
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import { existsSync } from "node:fs";
import { CacheBackend } from "../backends/base.ts";
import { MemoryStorage } from "../backends/memory.ts";
import { RedisBackend } from "../backends/redis.ts";
import { SQLiteBackend } from "../backends/sqlite.ts";
import { BackendError, CachedSession } from "../mod.ts";
import { tempDir } from "./_runtime.ts";
import { serviceUrl } from "./_services.ts";

const URL_A = "http://127.0.0.1/a";
const redis = serviceUrl("REDIS_URL");

/** A promise that rejects with the signal's reason once it aborts, and never settles before. */
function untilAborted(signal: AbortSignal | null | undefined): Promise<never> {
  return new Promise((_resolve, reject) => signal?.addEventListener("abort", () => reject(signal.reason)));
}

Deno.test("close: a background refresh that never ends is aborted, and is neither stored nor reported", async () => {
  let calls = 0;
  const aborted: unknown[] = [];
  const errors: unknown[] = [];
  const session = new CachedSession({
    fetch: (_input, init) => {
      if (++calls === 1) {
        return Promise.resolve(
          new Response("v1", { headers: { "cache-control": "max-age=0, stale-while-revalidate=60" } }),
        );
      }
      return untilAborted(init?.signal).catch((error) => (aborted.push(error), Promise.reject(error)));
    },
    onError: (error) => errors.push(error),
  });
  equal(await (await session.fetch(URL_A)).text(), "v1");
  const stale = await session.fetch(URL_A); // served stale; the refresh hangs
  deepEqual([stale.fromCache, await stale.text()], [true, "v1"]);
  await session.close();
  deepEqual([calls, aborted.length, errors.length], [2, 1, 0]);
});

Deno.test("close: a body its caller cancelled, from an origin that stalls, is given up and not stored", async () => {
  const session = new CachedSession({
    fetch: () => {
      const body = new ReadableStream<Uint8Array>({
        start: (controller) => controller.enqueue(new TextEncoder().encode("the start, then nothing")),
      });
      return Promise.resolve(new Response(body, { headers: { "cache-control": "max-age=60" } }));
    },
  });
  const response = await session.fetch(URL_A);
  await response.body!.cancel();
  await session.close(); // returned: the cache's read of the body was given up
  equal(await session.cache.count(), 0);
});

Deno.test({
  name:
    "close: requests still under way, and those made after, go to the network and leave the backend alone",
  ignore: redis.skip !== undefined,
  async fn() {
    let calls = 0;
    const errors: unknown[] = [];
    const session = new CachedSession({
      backend: new RedisBackend({ url: redis.url!, prefix: `http-cache-test:${crypto.randomUUID()}:v1:` }),
      fetch: async () => {
        calls++;
        await new Promise((resolve) => setTimeout(resolve, 50));
        return new Response(`body ${calls}`, { headers: { "cache-control": "max-age=60" } });
      },
      onError: (error) => errors.push(error),
    });
    await session.cache.clear();
    const underWay = session.fetch(URL_A);
    await new Promise((resolve) => setTimeout(resolve, 10)); // at the origin
    await session.close();
    equal(await (await underWay).text(), "body 1");
    const after = await session.fetch(URL_A);
    deepEqual([after.fromCache, await after.text()], [false, "body 2"]);
    // Nothing was read from or written to the closed backend, so nothing failed.
    deepEqual(errors, []);
    ok(calls === 2);
  },
});

Deno.test("close: an unsafe request after close() still invalidates what it changed, so that no later session serves it", async () => {
  const path = `${tempDir("http_cache_close_")}/cache.db`;
  let version = 1;
  const fetch = (_input: RequestInfo | URL, init?: RequestInit) => {
    if (init?.method === "POST") version++;
    return Promise.resolve(new Response(`v${version}`, { headers: { "cache-control": "max-age=60" } }));
  };
  const first = new CachedSession({ backend: new SQLiteBackend({ path }), fetch });
  equal(await (await first.fetch(URL_A)).text(), "v1");
  await first.close();
  equal(await (await first.fetch(URL_A, { method: "POST", body: "change" })).text(), "v2");
  // The invalidation opened the file again, and closed it: SQLite removes the write-ahead log
  // when the last connection to the file closes. (Before: it stayed open until the process ended.)
  equal(existsSync(`${path}-wal`), false, "the file is closed again");
  const later = new CachedSession({ backend: new SQLiteBackend({ path }), fetch });
  const read = await later.fetch(URL_A);
  deepEqual([read.fromCache, await read.text()], [false, "v2"]);
  await later.close();
});

Deno.test("close: a body its caller is still reading after the first 2 s is stored if it ends within 2 s more", async () => {
  const path = `${tempDir("http_cache_close_")}/cache.db`;
  const encoder = new TextEncoder();
  let finish!: () => void;
  const session = new CachedSession({
    backend: new SQLiteBackend({ path }),
    fetch: () => {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(encoder.encode("first "));
          finish = () => {
            controller.enqueue(encoder.encode("last"));
            controller.close();
          };
        },
      });
      return Promise.resolve(new Response(body, { headers: { "cache-control": "max-age=60" } }));
    },
  });
  const response = await session.fetch(URL_A);
  const text = response.text(); // the caller reads on
  const closed = session.close();
  await new Promise((resolve) => setTimeout(resolve, 2500)); // past close()'s first 2 s
  finish();
  equal(await text, "first last");
  await closed;
  const reopened = new SQLiteBackend({ path });
  try {
    equal(await reopened.count(), 1, "what the caller read by then is stored");
  } finally {
    await reopened.close();
  }
});

Deno.test("close: a storage that fails to close rejects close() with a BackendError naming it, its cause kept", async () => {
  const storage = new MemoryStorage();
  const refused = new Error("socket hang up");
  storage.close = () => Promise.reject(refused);
  const session = new CachedSession({ backend: new CacheBackend(storage) });
  const error = await session.close().then(() => undefined, (error: unknown) => error);
  ok(error instanceof BackendError, String(error));
  equal(error.message, "Cannot close memory storage: socket hang up");
  equal(error.backend, "memory");
  equal(error.cause, refused);
});
