/**
 * A storage whose writes hang, and the user's callbacks that fail: neither holds up nor fails a
 * request. An invalidation waits for the writes under way 2 s at most (a write that lands later
 * is undone, and not served should its undo fail), a newer write of the key as long (the older
 * write, landing or failing later, takes nothing the newer one stored with it), a HEAD's update of
 * a stored response as long as a body's write, a stale-while-revalidate refresh stays one at a
 * time until its body is stored, and what `waitUntil`, `onError` or `onEvent` throw or reject with
 * is dropped.
 */
import { equal, ok } from "node:assert/strict";
import { CacheBackend, type Storage } from "../backends/base.ts";
import { MemoryStorage } from "../backends/memory.ts";
import { BackendError, CachedSession, type CachedSessionOptions } from "../mod.ts";
import { REFRESH_TIMEOUT } from "../src/deadline.ts";
import { reply } from "./_origin.ts";
import { Switched, until, within } from "./_fixtures.ts";

/** A memory storage whose `set` waits for `release` (never, unless called). */
class HeldSets extends MemoryStorage {
  #held: ((error?: Error) => void)[] = [];
  hold = false;
  /** The records written, in the order they landed. */
  landed: Uint8Array[] = [];
  override set(key: string, value: Uint8Array, deleteAt: number): Promise<void> {
    const land = () => super.set(key, value, deleteAt).then(() => void this.landed.push(value));
    if (!this.hold) return land();
    return new Promise<Error | undefined>((resolve) => this.#held.push(resolve)).then((error) => {
      if (error !== undefined) throw error;
      return land();
    });
  }
  /** Lets the held writes land, or fail with `error`. */
  release(error?: Error): void {
    for (const land of this.#held.splice(0)) land(error);
  }
}

function sessionOver(storage: Storage, options: CachedSessionOptions = {}) {
  let n = 0;
  const session = new CachedSession({
    backend: new CacheBackend(storage),
    fetch: (_input, init) => {
      n++;
      if (init?.method === "HEAD") {
        return Promise.resolve(reply(null, { "cache-control": "max-age=60", etag: '"a"' }));
      }
      return Promise.resolve(reply(`v${n}`, { "cache-control": "max-age=60", etag: '"a"' }));
    },
    ...options,
  });
  return { session, calls: () => n };
}

Deno.test("a hung write holds up neither a POST nor a HEAD's update; a write that lands after the invalidation is undone", async () => {
  const storage = new HeldSets();
  const { session } = sessionOver(storage);
  storage.hold = true;
  // The GET's body ends 2 s after its last byte, its write still held.
  await within(5000, session.fetch("http://127.0.0.1/a").then((response) => response.text()));
  const post = await within(5000, session.fetch("http://127.0.0.1/a", { method: "POST", body: "x" }));
  equal(post.status, 200);
  const head = await within(5000, session.fetch("http://127.0.0.1/b", { method: "HEAD", cache: "no-cache" }));
  equal(head.status, 200);
  // The GET's write lands now, after the POST's delete: it is undone, not served.
  storage.hold = false;
  storage.release();
  await session.close();
  // (A closed session reads nothing: a second one over the same storage tells what stands.)
  const { session: next } = sessionOver(storage);
  const again = await next.fetch("http://127.0.0.1/a");
  await again.text();
  equal(again.fromCache, false);
  await next.close();
});

Deno.test("a write that lands after the invalidation it overtook, and whose undo fails, is not served", async () => {
  const held = new HeldSets();
  const storage = new Switched(held);
  const errors: unknown[] = [];
  const { session } = sessionOver(storage, { onError: (error) => void errors.push(error) });
  held.hold = true;
  const first = await within(5000, session.fetch("http://127.0.0.1/a"));
  // The delete waits 2 s for the write under way, held, then finds nothing to delete.
  await within(5000, session.cache.deleteUrls("http://127.0.0.1/a"));
  storage.deletesFail = true;
  held.hold = false;
  held.release(); // the write lands after the delete: its undo fails
  equal(await within(5000, first.text()), "v1");
  await within(5000, until(() => errors.length > 0));
  ok(errors[0] instanceof BackendError, String(errors[0]));
  ok(await storage.get(first.cacheKey!) !== undefined, "the record its undo failed to delete is stored");
  const next = await within(5000, session.fetch("http://127.0.0.1/a"));
  equal(next.fromCache, false);
  equal(await next.text(), "v2");
  await session.close();
});

for (const ending of ["lands", "fails"] as const) {
  Deno.test(`a response stored after an older write of its key stopped being waited for stays once that write ${ending}`, async () => {
    // (It was lost: the older write, landing, was withdrawn, and failing, deleted the key; either
    // took the newer response with it, which had been reported as stored.)
    const storage = new HeldSets();
    const stored: string[] = [];
    const { session } = sessionOver(storage, {
      coalesceRequests: false,
      onEvent: (event) => event.type === "store" && stored.push(event.key),
      onError: () => {}, // (the first write's failure, when it fails)
    });
    storage.hold = true;
    // The first response's body ends 2 s after its last byte, its write still held.
    equal(await within(5000, session.fetch("http://127.0.0.1/a").then((response) => response.text())), "v1");
    storage.hold = false;
    // The second waits 2 s for the first write, then goes ahead of it, and is stored.
    const reloaded = await within(5000, session.fetch("http://127.0.0.1/a", { cache: "reload" }));
    equal(await reloaded.text(), "v2");
    await until(() => stored.length === 1);
    storage.release(ending === "fails" ? new Error("the storage gave up") : undefined);
    // Written again once the first write has ended (and, landed, been withdrawn).
    const second = (record: Uint8Array) => new TextDecoder().decode(record).endsWith("v2");
    await within(5000, until(() => storage.landed.filter(second).length === 2));
    const kept = await session.fetch("http://127.0.0.1/a", { cache: "only-if-cached" });
    equal(kept.status, 200);
    equal(await kept.text(), "v2");
    await session.close();
  });
}

Deno.test("stale-while-revalidate: one refresh at a time, until its body is read and stored", async () => {
  let n = 0;
  const { promise: slowBody, resolve: release } = Promise.withResolvers<void>();
  const session = new CachedSession({
    staleWhileRevalidate: 60,
    fetch: () => {
      const version = ++n;
      const body = new ReadableStream<Uint8Array>({
        async start(controller) {
          if (version === 2) await slowBody; // the first refresh's body comes once released
          controller.enqueue(new TextEncoder().encode(`v${version}`));
          controller.close();
        },
      });
      return Promise.resolve(new Response(body, { headers: { "cache-control": "max-age=0" } }));
    },
  });
  const text = async () => await (await session.fetch("http://127.0.0.1/r")).text();
  await text();
  for (let i = 0; i < 5; i++) {
    equal(await text(), "v1");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  equal(n, 2, "the stale hits during one refresh sent one request");
  release();
  // Once its body is stored, the next stale hit serves it, and refreshes again.
  await within(
    5000,
    (async () => {
      while (await text() !== "v2") await new Promise((resolve) => setTimeout(resolve, 5));
    })(),
  );
  await within(5000, until(() => n === 3));
  await session.close();
});

Deno.test("stale-while-revalidate: a refresh that the origin never answers is given up at its time limit, the session still open", async () => {
  // The limit is 30 s (REFRESH_TIMEOUT): AbortSignal.timeout is made to fire at once here.
  const timeout = AbortSignal.timeout;
  const asked: number[] = [];
  AbortSignal.timeout = (ms: number) => (asked.push(ms), timeout.call(AbortSignal, 20));
  const aborted: unknown[] = [];
  const errors: unknown[] = [];
  let n = 0;
  const session = new CachedSession({
    staleWhileRevalidate: 60,
    onError: (error) => errors.push(error),
    fetch: (_input, init) =>
      ++n === 1
        ? Promise.resolve(new Response("v1", { headers: { "cache-control": "max-age=0" } }))
        : new Promise((_resolve, reject) =>
          init!.signal!.addEventListener(
            "abort",
            () => (aborted.push(init!.signal!.reason), reject(init!.signal!.reason)),
          )
        ),
  });
  try {
    await (await session.fetch("http://127.0.0.1/r")).text();
    equal(await (await session.fetch("http://127.0.0.1/r")).text(), "v1"); // stale, and a refresh
    for (let waited = 0; waited < 2000 && errors.length === 0; waited += 5) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    ok(asked.includes(REFRESH_TIMEOUT), `the refresh's time limit: ${asked.join(", ")}`);
    equal((aborted[0] as Error | undefined)?.name, "TimeoutError", "the refresh was given up");
    equal(errors.length, 1, "and reported");
  } finally {
    AbortSignal.timeout = timeout;
    await session.close();
  }
});

Deno.test("what waitUntil, onError or onEvent throw or reject with is dropped: the request succeeds and close() ends", async () => {
  const broken = new Error("callback bug");
  const callbacks: CachedSessionOptions[] = [
    {
      waitUntil: () => {
        throw broken;
      },
    },
    {
      onEvent: () => {
        throw broken;
      },
    },
    { onEvent: () => Promise.reject(broken) },
    { onError: () => Promise.reject(broken), backend: new CacheBackend(new ThrowingStorage()) },
  ];
  for (const options of callbacks) {
    const { session } = sessionOver(new MemoryStorage(), { staleWhileRevalidate: 60, ...options });
    for (let i = 0; i < 2; i++) {
      const response = await session.fetch("http://127.0.0.1/c");
      ok((await response.text()).startsWith("v"));
    }
    await within(5000, session.close());
  }
});

Deno.test("a corrupt record whose delete throws at once is still a BackendError, and a miss", async () => {
  const storage = new MemoryStorage();
  await storage.set("key", new Uint8Array([1, 2, 3]), Infinity);
  storage.delete = () => {
    throw new Error("delete broke");
  };
  const cache = new CacheBackend(storage);
  const error = await cache.read("key").then(() => undefined, (error) => error);
  ok(error instanceof BackendError, String(error));
  equal(await cache.count({ expired: true }), 0);
});

/** A storage whose every call fails. */
class ThrowingStorage extends MemoryStorage {
  override get(): Promise<Uint8Array | undefined> {
    return Promise.reject(new Error("down"));
  }
}
