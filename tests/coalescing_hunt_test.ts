/**
 * Coalescing and aborts, hunted: requests that wait on an identical one whose caller gave up on
 * its body, callers that abort while the cache revalidates for them alone, and callers that abort
 * while the backend answers slowly.
 *
 * @module
 */

import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { CacheBackend } from "../backends/base.ts";
import { MemoryStorage } from "../backends/memory.ts";
import { CachedSession, type CacheRequestInit } from "../mod.ts";
import { CANCELLED_READ_TIMEOUT } from "../src/deadline.ts";
import { BACKENDS, delay, dispose, until, within } from "./_fixtures.ts";
import { Clock, origin, reply, settle } from "./_origin.ts";

/**
 * Makes the cache's 30 s limit on reading a cancelled body alone (`CANCELLED_READ_TIMEOUT`) fire
 * at once (20 ms), counting how often it fired, until `restore()`.
 */
function quickAloneLimit(): { fired: () => number; restore: () => void } {
  const setTimer = globalThis.setTimeout;
  let fired = 0;
  globalThis.setTimeout = ((fn: () => void, ms?: number) => {
    if (ms !== CANCELLED_READ_TIMEOUT) return setTimer(fn, ms);
    return setTimer(() => (fired++, fn()), 20);
  }) as typeof setTimeout;
  return { fired: () => fired, restore: () => void (globalThis.setTimeout = setTimer) };
}

/**
 * An origin that answers once `respond()` is called, with a body of declared length `size` that
 * sends 1 KiB, then the rest once `release()` is called; `cancelled` counts the bodies cancelled
 * at the origin.
 */
function slowBody(size: number) {
  let respond!: () => void;
  const responding = new Promise<void>((resolve) => respond = resolve);
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  let cancelled = 0;
  const o = origin(async () => {
    await responding;
    let sent = false;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (!sent) {
          sent = true;
          return controller.enqueue(new Uint8Array(1024).fill(1));
        }
        await released;
        controller.enqueue(new Uint8Array(size - 1024).fill(2));
        controller.close();
      },
      cancel: () => void cancelled++,
    });
    const headers = { "cache-control": "max-age=60", "content-length": String(size) };
    return new Response(body, { headers });
  });
  return { o, respond, release, cancelled: () => cancelled };
}

const NEEDED = BACKENDS.filter((backend) => ["memory", "sqlite", "redis"].includes(backend.name));

for (const backend of NEEDED) {
  Deno.test({
    name:
      `coalescing hunt: a waiter waits to its end for a body of declared length whose leading caller cancelled or aborted it, past the 30 s the cache reads a body alone (${backend.name})`,
    ignore: backend.skip !== undefined,
    async fn() {
      // The cache gave up the body at the 30 s limit although a waiter still waited for it: the
      // origin's body was cancelled and the waiter asked the origin again, downloading it twice.
      const cases = [
        // (2 MiB streams through the cache on every runtime; 64 KiB is read whole on Deno.)
        ["cancels its body", 2 * 1024 * 1024],
        ["cancels its body", 64 * 1024],
        ["aborts before the response", 2 * 1024 * 1024],
        ["aborts after the response", 2 * 1024 * 1024],
      ] as const;
      for (const [how, size] of cases) {
        const label = `the leading caller ${how}, ${size} bytes`;
        const limit = quickAloneLimit();
        const { o, respond, release } = slowBody(size);
        const cache = await backend.open();
        // (Reads counted: the waiter reaches the wait once its read has come, however slow the store.)
        let reads = 0;
        const read = cache.storage.get.bind(cache.storage);
        cache.storage.get = (key) => read(key).finally(() => reads++);
        const session = new CachedSession({ fetch: o.fetch, backend: cache });
        try {
          const controller = new AbortController();
          const leading = session.fetch("http://h.test/", { signal: controller.signal });
          await until(() => o.calls === 1);
          const before = reads;
          const waiter = session.fetch("http://h.test/").then((response) => response.arrayBuffer());
          await until(() => reads > before);
          await delay(5); // let the waiter reach the wait
          if (how === "aborts before the response") {
            controller.abort();
            await rejects(leading, (error) => error === controller.signal.reason, label);
            respond();
          } else {
            respond();
            const leader = await leading;
            if (how === "cancels its body") await leader.body!.cancel();
            else controller.abort();
          }
          await within(5000, until(() => limit.fired() >= 1));
          await delay(20);
          release();
          equal((await within(5000, waiter)).byteLength, size, label);
          equal(o.calls, 1, `${label}: the origin is asked once`);
          await settle();
          const stored = await session.fetch("http://h.test/");
          deepEqual([stored.fromCache, (await stored.arrayBuffer()).byteLength], [true, size], label);
        } finally {
          limit.restore();
          respond();
          release();
          await session.close();
          await dispose(cache);
        }
      }
    },
  });
}

Deno.test("coalescing hunt: once no waiter waits any more, the cache gives up the cancelled body at its time limit", async () => {
  // (The counterpart of the test above: waiters hold the read, they do not make it last for good.)
  const limit = quickAloneLimit();
  const { o, respond, release, cancelled } = slowBody(2 * 1024 * 1024);
  const session = new CachedSession({ fetch: o.fetch });
  respond();
  try {
    const leader = await session.fetch("http://h.test/");
    const controller = new AbortController();
    const waiter = session.fetch("http://h.test/", { signal: controller.signal });
    await delay(5); // let the waiter reach the wait
    await leader.body!.cancel();
    await within(5000, until(() => limit.fired() >= 1));
    equal(cancelled(), 0, "the waiter still waits");
    controller.abort();
    await rejects(waiter, (error) => error === controller.signal.reason);
    await within(5000, until(() => cancelled() === 1));
    await settle();
    equal(await session.cache.count(), 0, "a body not read whole is not stored");
  } finally {
    limit.restore();
    release();
    await session.close();
  }
});

for (
  const [name, options, init] of [
    ["with coalesceRequests: false", { coalesceRequests: false }, {}],
    ["a HEAD", {}, { method: "HEAD" }],
    ["a Range request", {}, { headers: { range: "bytes=0-0" } }],
    ["a request that leads identical ones", {}, {}],
  ] as const
) {
  Deno.test(`coalescing hunt: ${name} aborted while the cache revalidates rejects with its signal's reason; staleIfError serves no stale response in its place`, async () => {
    // A request that led no other (its origin request carries its caller's own signal) and was
    // aborted resolved with the stale response, as if the origin had failed.
    const clock = new Clock();
    const o = origin((request, n) => {
      if (n === 1) {
        return reply("v1", { "cache-control": "max-age=10", etag: '"v1"', "content-length": "2" }, { clock });
      }
      // An origin that answers no more: its request ends only when its signal aborts.
      return new Promise((_resolve, reject) => {
        const fail = () => reject(request.signal.reason);
        if (request.signal.aborted) fail();
        request.signal.addEventListener("abort", fail);
      });
    });
    const session = new CachedSession({ fetch: o.fetch, now: clock.fn, staleIfError: 60, ...options });
    equal(await (await session.fetch("http://h.test/")).text(), "v1");
    clock.tick(20); // stale, within staleIfError
    const controller = new AbortController();
    const asked = session.fetch("http://h.test/", { ...init, signal: controller.signal } as CacheRequestInit);
    await until(() => o.calls === 2);
    controller.abort();
    await rejects(within(5000, asked), (error) => error === controller.signal.reason);
    await session.close();
  });
}

/** A storage whose reads hang, while `hang` is set, until `answer()`. */
class HangingReads extends MemoryStorage {
  hang = false;
  pending = 0;
  #answers: (() => void)[] = [];
  override get(key: string): Promise<Uint8Array | undefined> {
    const read = super.get(key);
    if (!this.hang) return read;
    this.pending++;
    return new Promise((resolve) => this.#answers.push(() => resolve(read)));
  }
  answer(): void {
    this.hang = false;
    for (const answer of this.#answers.splice(0)) answer();
  }
}

Deno.test("coalescing hunt: a caller that aborts while the backend read hangs rejects at once with its signal's reason, hit or miss", async () => {
  // The abort went unheeded until the read returned (a hung Redis: its 2 s command timeout, per
  // read), and a hit was then served to the caller that had aborted.
  const storage = new HangingReads();
  const o = origin(() => reply("stored", { "cache-control": "max-age=60" }));
  const session = new CachedSession({ fetch: o.fetch, backend: new CacheBackend(storage) });
  try {
    equal(await (await session.fetch("http://h.test/hit")).text(), "stored");
    storage.hang = true;
    for (const path of ["/hit", "/miss"]) {
      const controller = new AbortController();
      const pending = storage.pending;
      const asked = session.fetch(`http://h.test${path}`, { signal: controller.signal });
      await until(() => storage.pending > pending);
      controller.abort();
      await rejects(within(5000, asked), (error) => error === controller.signal.reason, path);
    }
    storage.answer();
    equal(o.calls, 1, "the aborted miss never went to the origin");
    const hit = await session.fetch("http://h.test/hit");
    ok(hit.fromCache);
    equal(await hit.text(), "stored");
  } finally {
    storage.answer();
    await session.close();
  }
});
