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
import { READS_WHOLE } from "../src/served_body.ts";
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

Deno.test("later body: a body of declared length that fails as it is read fails the caller's body as fetch's would, and its waiters with the same error; nothing is stored", async () => {
  const failure = new TypeError("connection reset");
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  let asked = 0;
  const errors: unknown[] = [];
  const session = new CachedSession({
    onError: (error) => errors.push(error),
    fetch: async () => {
      asked++;
      await gate;
      // The headers came; the body breaks off after a few bytes.
      let sent = false;
      const body = new ReadableStream<Uint8Array>({
        pull: (controller) => {
          if (sent) return controller.error(failure);
          sent = true;
          controller.enqueue(new TextEncoder().encode("abc"));
        },
      });
      return new Response(body, { headers: { "cache-control": "max-age=600", "content-length": "10" } });
    },
  });
  try {
    const first = session.fetch("http://127.0.0.1/broken");
    const waiter = session.fetch("http://127.0.0.1/broken").then(
      (response) => response.text(),
      (error: unknown) => ({ error }),
    );
    release();
    const response = await first;
    equal(response.status, 200);
    const read = await response.text().then(() => "read", (error: unknown) => error);
    equal(read, failure, "the caller's body failed with the network's error");
    // The identical request that waited on it fails alike, without asking the origin again.
    const waited = await waiter;
    equal((waited as { error?: unknown }).error, failure);
    equal(asked, 1);
    equal(await session.cache.count(), 0);
    // A network failure is the caller's, not the cache's.
    equal(errors.length, 0);
  } finally {
    await session.close();
  }
});

Deno.test({
  name:
    "later body: a redirect the session does not follow (no Location, redirect: manual) or a Location on a 200 is read whole, as any small body of declared length",
  // Node streams every body; the session follows a redirect by streaming its body, which it can give up.
  ignore: !READS_WHOLE,
}, async () => {
  const cases: [number, Record<string, string>, RequestRedirect][] = [
    [302, {}, "follow"],
    [302, { location: "/next" }, "manual"],
    [200, { location: "/next" }, "follow"],
  ];
  for (const [status, headers, redirect] of cases) {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => release = resolve);
    const session = new CachedSession({
      fetch: () => {
        let sent = false;
        const body = new ReadableStream<Uint8Array>({
          pull: async (controller) => {
            if (sent) {
              await gate;
              controller.enqueue(new TextEncoder().encode("3456789"));
              return controller.close();
            }
            sent = true;
            controller.enqueue(new TextEncoder().encode("012"));
          },
        });
        return Promise.resolve(
          new Response(body, {
            status,
            headers: { "cache-control": "max-age=600", "content-length": "10", ...headers },
          }),
        );
      },
    });
    try {
      const response = await session.fetch("http://127.0.0.1/r", { redirect });
      const label = `${status} ${JSON.stringify(headers)} ${redirect}`;
      equal(response.status, status, label);
      const reader = response.body!.getReader();
      const first = reader.read();
      const early = await Promise.race([
        first,
        new Promise((resolve) => setTimeout(() => resolve("pending"), 30)),
      ]);
      equal(early, "pending", `${label}: a first part came before the whole body`);
      release();
      const { value } = await first;
      equal(new TextDecoder().decode(value), "0123456789", label);
      equal((await reader.read()).done, true, label);
      equal(await session.cache.count(), 1, label);
    } finally {
      release();
      await session.close();
    }
  }
});

Deno.test("later body: a body its caller takes whole (text()) while it stalls is not given up at the time limit of a cancelled one: the caller gets it, and it is stored", async () => {
  const setTimer = globalThis.setTimeout;
  globalThis.setTimeout =
    ((fn: () => void, ms?: number) =>
      setTimer(fn, ms === CANCELLED_READ_TIMEOUT ? 20 : ms)) as typeof setTimeout;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  const length = 64 * 1024;
  const session = new CachedSession({
    fetch: () => {
      // A byte stream, as fetch's body is: Deno reads it into its record by a reader it can give up.
      const body = new ReadableStream({
        type: "bytes",
        start: (controller) => controller.enqueue(new Uint8Array(100).fill(97)),
        pull: async (controller) => {
          await gate;
          controller.enqueue(new Uint8Array(length - 100).fill(98));
          controller.close();
        },
      });
      return Promise.resolve(
        new Response(body, { headers: { "cache-control": "max-age=600", "content-length": String(length) } }),
      );
    },
  });
  try {
    const response = await session.fetch("http://127.0.0.1/slow");
    const text = response.text().then((text) => text.length, (error: unknown) => error);
    // Past the time limit of a cancelled body's read (20 ms here), the body comes.
    await new Promise((resolve) => setTimer(resolve, 60));
    release();
    equal(await text, length);
    equal(await session.cache.count(), 1);
  } finally {
    globalThis.setTimeout = setTimer;
    release();
    await session.close();
  }
});
