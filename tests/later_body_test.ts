/**
 * A body of declared length read whole (Deno, Bun: laterBody) is read on by the cache, once its
 * caller cancels it, only as a streamed one is: for 30 s at most, and until the session closes.
 * And a HEAD's response, which has no body to read, comes once its entry is stored, as a
 * streamed one does.
 */
import { equal, ok } from "node:assert/strict";
import { CacheBackend } from "../backends/base.ts";
import { MemoryStorage } from "../backends/memory.ts";
import { CachedSession } from "../mod.ts";
import { CANCELLED_READ_TIMEOUT } from "../src/deadline.ts";
import { RUNTIME } from "./_runtime.ts";

/**
 * A cacheable response of declared length whose origin sends 100 bytes of 64 KiB, then stalls. A
 * byte stream, as fetch's body is: Deno reads a body this large into its record by a reader that
 * brings its own buffer, which the cache can cancel.
 */
function stalled(cancelled: unknown[]): Response {
  const body = new ReadableStream({
    type: "bytes",
    start: (controller) => controller.enqueue(new Uint8Array(100)),
    cancel: (reason) => void cancelled.push(reason),
  });
  return new Response(body, {
    headers: { "cache-control": "max-age=600", "content-length": String(64 * 1024) },
  });
}

/** Bun reads such a body by `arrayBuffer()`, which cannot be given up: it is read to its end. */
const UNSTOPPABLE = { ignore: RUNTIME === "bun" };

async function until(done: () => boolean, ms: number): Promise<void> {
  for (let waited = 0; waited < ms && !done(); waited += 5) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

Deno.test({
  name:
    "later body: a cancelled body of declared length that stalls is given up at the time limit, not stored",
  ...UNSTOPPABLE,
}, async () => {
  const setTimer = globalThis.setTimeout;
  globalThis.setTimeout = ((fn: () => void, ms?: number) =>
    setTimer(fn, ms === CANCELLED_READ_TIMEOUT ? 20 : ms)) as typeof setTimeout;
  const cancelled: unknown[] = [];
  const session = new CachedSession({
    onError: () => {},
    fetch: () =>
      Promise.resolve(stalled(cancelled)),
  });
  try {
    const response = await session.fetch("http://127.0.0.1/declared");
    await response.body!.cancel();
    await until(() => cancelled.length > 0, 2000);
    equal(cancelled.length, 1, "the network body was cancelled");
    equal((cancelled[0] as Error | undefined)?.name, "TimeoutError");
    equal(await session.cache.count(), 0);
  } finally {
    globalThis.setTimeout = setTimer;
    await session.close();
  }
});

Deno.test({
  name: "later body: close() gives up a cancelled body of declared length that stalls",
  ...UNSTOPPABLE,
}, async () => {
  const cancelled: unknown[] = [];
  const session = new CachedSession({ onError: () => {}, fetch: () => Promise.resolve(stalled(cancelled)) });
  const response = await session.fetch("http://127.0.0.1/declared");
  await response.body!.cancel();
  await session.close();
  await until(() => cancelled.length > 0, 500);
  equal(cancelled.length, 1, "the network body was cancelled by close()");
});

Deno.test("later body: a HEAD miss with a Content-Length is stored before fetch resolves: the next HEAD is a hit", async () => {
  class SlowWrites extends MemoryStorage {
    override async set(...args: Parameters<MemoryStorage["set"]>) {
      await new Promise((resolve) => setTimeout(resolve, 50)); // a remote backend's round trip
      return await super.set(...args);
    }
  }
  let asked = 0;
  const session = new CachedSession({
    backend: new CacheBackend(new SlowWrites()),
    fetch: () => {
      asked++;
      return Promise.resolve(
        new Response(null, { headers: { "cache-control": "max-age=600", "content-length": "1234" } }),
      );
    },
  });
  try {
    await session.fetch("http://127.0.0.1/x", { method: "HEAD" });
    const second = await session.fetch("http://127.0.0.1/x", { method: "HEAD" });
    ok(second.fromCache, "the second HEAD went to the origin");
    equal(asked, 1);
  } finally {
    await session.close();
  }
});
