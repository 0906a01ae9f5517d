/**
 * Mutation pass over the lines changed since 3f8e61b (redirects an unsafe request refuses, the
 * fetch option's responses checked, stale windows shared over a storage, bodies that stall under
 * their waiters, Deno KV's time limits): each test pins a behaviour that a small change to one of
 * those lines broke with no test failing. The comment above each test names the mutants it kills.
 *
 * @module
 */
import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import type { ServerResponse } from "node:http";
import { CacheBackend } from "../backends/base.ts";
import { DenoKVStorage, type KvAtomic, type KvLike } from "../backends/deno_kv.ts";
import { type CachedResponse, CachedSession, installCache, uninstallCache } from "../mod.ts";
import { SHARED_BODY_WAIT } from "../src/deadline.ts";
import { delay, loopback, openKv, patterned, within } from "./_fixtures.ts";
import { Clock, origin, reply } from "./_origin.ts";
import { DeleteAts, URL_A } from "./_scripted.ts";

/** What a request settled with: `resolved <status>`, or the rejection's name and message. */
function outcome(request: Promise<Response>): Promise<string> {
  return request.then(
    (response) => `resolved ${response.status}`,
    (error: Error) => `${error.name}: ${error.message}`,
  );
}

/** What a browser's fetch gives for `redirect: "manual"`: an opaque redirect, status 0, no body. */
function opaqueRedirect(): Response {
  return {
    type: "opaqueredirect",
    status: 0,
    statusText: "",
    ok: false,
    redirected: false,
    url: "",
    headers: new Headers(),
    body: null,
  } as unknown as Response;
}

// Kills src/redirects.ts:106 (`refuses ||` dropped: an unsafe request that refuses redirects, given
// an opaque one, was sent again without "manual") and src/redirects.ts:168 (`|| response.type ===
// "opaqueredirect"` dropped: an opaque redirect, status 0, went to the caller as a response).
Deno.test("session7 mutants: an unsafe request refusing redirects that gets an opaque one is sent once and rejects", async () => {
  for (const allowedMethods of [["GET", "HEAD"], ["GET", "HEAD", "POST"]]) {
    let calls = 0;
    const session = new CachedSession({
      allowedMethods,
      fetch: async (input: RequestInfo | URL, init?: RequestInit) => {
        calls++;
        await new Request(input, init).arrayBuffer();
        return opaqueRedirect();
      },
    });
    try {
      const settled = await outcome(
        session.fetch("http://127.0.0.1/s7/post", { method: "POST", body: "x", redirect: "error" }),
      );
      ok(/^TypeError: .*its redirect mode is "error"/.test(settled), `${allowedMethods}: ${settled}`);
      equal(calls, 1, `${allowedMethods}: sent once`);
    } finally {
      await session.close();
    }
  }
});

// Kills src/redirects.ts:182 (`await discard(response)` dropped): the refused redirect's body was
// left unread and uncancelled, its connection held until it was collected.
Deno.test("session7 mutants: the body of a redirect an unsafe request refuses is let go of", async () => {
  for (const allowedMethods of [["GET", "HEAD"], ["GET", "HEAD", "POST"]]) {
    let cancelled = false;
    const session = new CachedSession({
      allowedMethods,
      fetch: () =>
        Promise.resolve(
          new Response(
            new ReadableStream({
              pull: () => new Promise(() => {}),
              cancel: () => void (cancelled = true),
            }),
            { status: 303, headers: { location: "/s7/other" } },
          ),
        ),
    });
    try {
      const settled = await outcome(
        session.fetch("http://127.0.0.1/s7/body", { method: "POST", body: "x", redirect: "error" }),
      );
      ok(settled.startsWith("TypeError"), settled);
      ok(cancelled, `${allowedMethods}: the redirect's body was cancelled`);
    } finally {
      await session.close();
    }
  }
});

// Kills src/redirects.ts:108 (the second fetch's response no longer checked by responseOf): a
// GET whose manual request got an opaque redirect is asked again, and what that resolves to must
// be a response too.
Deno.test("session7 mutants: a GET asked again after an opaque redirect is refused when the fetch option gives no response", async () => {
  const session = new CachedSession({
    fetch: (input: RequestInfo | URL, init?: RequestInit) =>
      Promise.resolve(
        new Request(input, init).redirect === "manual" ? opaqueRedirect() : "no response" as never,
      ),
  });
  try {
    const settled = await outcome(session.fetch("http://127.0.0.1/s7/get"));
    ok(
      /^TypeError: Cannot fetch http:\/\/127\.0\.0\.1\/s7\/get: the fetch option resolved to/.test(settled),
      settled,
    );
  } finally {
    await session.close();
  }
});

// Kills src/redirects.ts:136 (`typeof response.status === "number"` dropped) and :137 (`"body" in
// response` dropped): an object with headers but no status, or no body, was taken for a response.
Deno.test("session7 mutants: a fetch option that resolves to an object without a status or a body is refused", async () => {
  for (
    const [name, value] of [
      ["no status", { headers: new Headers(), body: null }],
      ["no body", { status: 200, headers: new Headers() }],
    ] as const
  ) {
    const session = new CachedSession({ fetch: () => Promise.resolve(value as never) });
    try {
      const settled = await outcome(session.fetch("http://127.0.0.1/s7/object"));
      ok(/^TypeError: .*the fetch option resolved to .*not a Response$/.test(settled), `${name}: ${settled}`);
    } finally {
      await session.close();
    }
  }
});

// Kills src/session.ts:456 (responseOf dropped where the request is no URL the cache parses): the
// fetch option's answer to a relative URL went to the caller unchecked.
Deno.test("session7 mutants: a request past the cache for an unparsed URL is refused when the fetch option gives no response", async () => {
  const session = new CachedSession({ fetch: () => Promise.resolve(undefined as never) });
  try {
    const settled = await outcome(session.fetch("relative/path"));
    equal(settled, "TypeError: Cannot fetch it: the fetch option resolved to undefined, not a Response");
  } finally {
    await session.close();
  }
});

// Kills src/redirects.ts:156 (`request.redirect === "error" &&` dropped: every unsafe request sent
// with "manual", and its redirect refused).
Deno.test("session7 mutants: a POST that is redirected follows the redirect as fetch does", async () => {
  const server = await loopback((request, response) => {
    request.resume();
    if (request.url === "/s7/form") return void response.writeHead(303, { location: "/s7/done" }).end();
    response.writeHead(200, { "content-type": "text/plain" }).end(`${request.method} ${request.url}`);
  });
  try {
    for (const allowedMethods of [["GET", "HEAD"], ["GET", "HEAD", "POST"]]) {
      const session = new CachedSession({ allowedMethods });
      try {
        const response = await session.fetch(`${server.url}/s7/form`, { method: "POST", body: "x" });
        equal(
          [response.status, response.redirected, await response.text()].join(),
          "200,true,GET /s7/done",
          `${allowedMethods}`,
        );
      } finally {
        await session.close();
      }
    }
  } finally {
    await server.close();
  }
});

// Kills src/stale_windows.ts:68 (`session.cacheControl ? response : {}` made `response`): a session
// that ignores Cache-Control kept a response for the stale windows of directives it never uses.
// (Equivalent before the fix below, which reads the directives also for such a session.)
Deno.test("session7 mutants: a session without cacheControl keeps a response for its own stale windows, not its directives'", async () => {
  const clock = new Clock();
  const o = origin(() =>
    reply("v1", { "cache-control": "max-age=10, stale-while-revalidate=3000, stale-if-error=3000" }, {
      clock,
    })
  );
  const storage = new DeleteAts();
  const session = new CachedSession({
    backend: new CacheBackend(storage),
    fetch: o.fetch,
    now: clock.fn,
    cacheControl: false,
    expireAfter: 10,
  });
  try {
    await (await session.fetch(URL_A)).text();
    const kept = (storage.writtenOnSessionClock("entry", clock.now)! - clock.now) / 1000;
    ok(kept >= 10 && kept < 3000, `kept for ${kept} s`);
  } finally {
    await session.close();
  }
});

// Was wrong (found by the survivor of src/stale_windows.ts:68 above): the storage kept a response
// for the stale windows of the writing session's reading of its directives, and those of the other
// sessions over the storage read the same way. A session without cacheControl read none
// (`stale-if-error=3000` was dropped at expiry though another session, with cacheControl, was to
// serve it through an outage), and a session with it read `must-revalidate` as forbidding stale use
// for all (though another, without cacheControl, was to serve it stale within its staleIfError).
Deno.test("session7: a response is kept for the stale use of every session over the storage, each reading its directives or not", async () => {
  for (
    const [writer, reader, directives] of [
      [{ cacheControl: false, expireAfter: 10 }, {}, "max-age=10, stale-if-error=3000"],
      [{}, { cacheControl: false, expireAfter: 10, staleIfError: 3000 }, "max-age=10, must-revalidate"],
    ] as const
  ) {
    const clock = new Clock();
    const o = origin(() => reply("v1", { "cache-control": directives }, { clock }));
    const storage = new DeleteAts();
    const backend = new CacheBackend(storage);
    const writing = new CachedSession({ backend, fetch: o.fetch, now: clock.fn, ...writer });
    const reading = new CachedSession({ backend, fetch: o.fetch, now: clock.fn, ...reader });
    try {
      await (await writing.fetch(URL_A)).text();
      const kept = (storage.writtenOnSessionClock("entry", clock.now)! - clock.now) / 1000;
      ok(kept >= 3010, `${directives}: kept for ${kept} s`);
      clock.tick(20);
      // The reader serves it through an outage of the origin, as its options say.
      const outage = new CachedSession({
        backend,
        fetch: () => Promise.reject(new TypeError("down")),
        now: clock.fn,
        ...reader,
      });
      try {
        const stale = await outage.fetch(URL_A);
        equal([await stale.text(), stale.fromCache].join(), "v1,true", directives);
      } finally {
        await outage.close();
      }
    } finally {
      await writing.close();
      await reading.close();
    }
  }
});

// Kills src/stale_windows.ts:58 (`Math.max(longest, …)` made the last session's window alone) and
// :34 (the sessions' windows noted by `cacheControl` alone, a later session's replacing an
// earlier one's): a session made before a plain one over the same backend had its staleIfError
// forgotten, or its own writes kept for the plain session's window.
Deno.test("session7 mutants: the stale windows of a session made before another over the backend still keep what either stores", async () => {
  const clock = new Clock();
  const o = origin(() => reply("v1", { "cache-control": "max-age=10" }, { clock }));
  const storage = new DeleteAts();
  const backend = new CacheBackend(storage);
  const tolerant = new CachedSession({ backend, fetch: o.fetch, now: clock.fn, staleIfError: 300 });
  const plain = new CachedSession({ backend, fetch: o.fetch, now: clock.fn });
  try {
    for (const [who, session] of [["plain", plain], ["tolerant", tolerant]] as const) {
      await (await session.fetch(`${URL_A}?${who}`)).text();
      const kept = (storage.writtenOnSessionClock("entry", clock.now)! - clock.now) / 1000;
      ok(kept >= 310, `written by ${who}: kept for ${kept} s`);
    }
  } finally {
    await plain.close();
    await tolerant.close();
  }
});

// Kills src/stale_windows.ts:70 (the response's `stale-while-revalidate` no longer read in place
// of the session's): a response the session was to serve stale while refreshing it was dropped
// at expiry.
Deno.test("session7 mutants: a response is kept for its own stale-while-revalidate window", async () => {
  const clock = new Clock();
  const o = origin(() =>
    reply("v1", { "cache-control": "max-age=10, stale-while-revalidate=300" }, { clock })
  );
  const storage = new DeleteAts();
  const session = new CachedSession({ backend: new CacheBackend(storage), fetch: o.fetch, now: clock.fn });
  try {
    await (await session.fetch(URL_A)).text();
    const kept = (storage.writtenOnSessionClock("entry", clock.now)! - clock.now) / 1000;
    ok(kept >= 310, `kept for ${kept} s`);
  } finally {
    await session.close();
  }
});

// Kills src/origin_call.ts:149 (askedByOrigin no longer asking whether the code running now was
// set off by the session's origin request): while one request of an installed cache was under way
// at the origin, every other call of the global fetch went past the cache.
Deno.test("session7 mutants: while an installed cache's request is under way, the application's other requests still go through the cache", async () => {
  const o = origin((_request, n) => reply(`body ${n}`, { "cache-control": "max-age=60" }));
  const found = globalThis.fetch;
  globalThis.fetch = o.fetch;
  let open!: () => void;
  const gate = new Promise<void>((resolve) => open = resolve);
  try {
    installCache({
      fetch: async (input, init) => {
        if (new Request(input, init).url.endsWith("slow")) await gate;
        return await fetch(input, init);
      },
    });
    const url = "http://127.0.0.1/s7/fast";
    await (await fetch(url)).text();
    const slow = fetch("http://127.0.0.1/s7/slow");
    await delay(10);
    const hit = await fetch(url) as CachedResponse;
    equal([hit.fromCache, await hit.text()].join(), "true,body 1");
    open();
    await (await slow).text();
  } finally {
    open();
    uninstallCache();
    globalThis.fetch = found;
  }
});

/** Serves a body of declared length whose first request sends `first` bytes of it, then stalls. */
async function stallingServer(size: number, first: number) {
  let stall!: () => void;
  const stalled = new Promise<void>((resolve) => stall = resolve);
  let n = 0;
  const body = patterned(size);
  const server = await loopback(async (_request, response: ServerResponse) => {
    response.writeHead(200, { "cache-control": "max-age=600", "content-length": String(size) });
    if (++n > 1) return void response.end(body);
    response.write(body.subarray(0, first));
    await stalled;
    response.destroy();
  });
  return { server, stall };
}

// Kills src/inflight.ts:234 (`watch()` dropped where a waiter comes): a request that came once the
// body had last come on, and stalled, waited for it until the session closed.
Deno.test("session7 mutants: a request that comes once a stalled body last came on asks the origin itself", async () => {
  const { server, stall } = await stallingServer(2_000_000, 1000);
  const setTimer = globalThis.setTimeout;
  globalThis.setTimeout =
    ((run: () => void, ms?: number) => setTimer(run, ms === SHARED_BODY_WAIT ? 20 : ms)) as typeof setTimeout;
  const session = new CachedSession();
  try {
    const first = await session.fetch(server.url);
    const reader = first.body!.getReader();
    ok(((await reader.read()).value?.byteLength ?? 0) > 0);
    const pending = reader.read().catch(() => {});
    await delay(100); // nothing more comes
    const later = await within(4000, session.fetch(server.url));
    equal([later.fromCache, (await within(4000, later.arrayBuffer())).byteLength].join(), "false,2000000");
    await reader.cancel().catch(() => {});
    await pending;
  } finally {
    globalThis.setTimeout = setTimer;
    stall();
    await session.close();
    await server.close();
  }
});

// Kills src/inflight.ts:266 (`waiting === 0 ||` dropped: the watch armed for a miss no one waits
// for), :266 (`watching !== undefined` dropped: a timer armed for every chunk) and :291
// (`watching?.()` dropped: the watch left armed once the outcome was settled).
Deno.test("session7 mutants: the watch of a body's progress is one timer, armed only while a request waits, and stopped once the body is stored", async () => {
  const size = 2_000_000;
  const server = await loopback(async (_request, response: ServerResponse) => {
    response.writeHead(200, { "cache-control": "max-age=600", "content-length": String(size) });
    const body = patterned(size);
    for (let at = 0; at < size; at += 200_000) {
      response.write(body.subarray(at, at + 200_000));
      await delay(5);
    }
    response.end();
  });
  const setTimer = globalThis.setTimeout;
  const clearTimer = globalThis.clearTimeout;
  const armed = new Set<unknown>();
  let arms = 0;
  globalThis.setTimeout = ((run: () => void, ms?: number) => {
    if (ms !== SHARED_BODY_WAIT) return setTimer(run, ms);
    arms++;
    const timer = setTimer(() => (armed.delete(timer), run()), ms);
    armed.add(timer);
    return timer;
  }) as typeof setTimeout;
  globalThis.clearTimeout = ((timer?: number) => {
    armed.delete(timer);
    clearTimer(timer);
  }) as typeof clearTimeout;
  const session = new CachedSession();
  try {
    // A miss no one waits for arms none.
    equal((await (await session.fetch(`${server.url}/alone`)).arrayBuffer()).byteLength, size);
    equal(arms, 0, "timers armed for a miss no one waits for");
    // One waits: one timer, stopped once the body is stored and the waiter has it.
    const first = await session.fetch(`${server.url}/shared`);
    const waiting = session.fetch(`${server.url}/shared`);
    equal((await first.arrayBuffer()).byteLength, size);
    const waiter = await within(4000, waiting);
    equal((await waiter.arrayBuffer()).byteLength, size);
    await delay(20);
    ok(arms <= 1, `${arms} timers armed`);
    equal(armed.size, 0, "a timer still armed");
  } finally {
    globalThis.setTimeout = setTimer;
    globalThis.clearTimeout = clearTimer;
    await session.close();
    await server.close();
  }
});

/** A database given as `kv` over `kv`, whose listings, or commits, stop answering when asked to. */
function stalling(kv: KvLike, stall: { list?: boolean; commit?: boolean }): KvLike {
  return {
    get: (key) => kv.get(key),
    list: (selector, options) =>
      stall.list
        ? { [Symbol.asyncIterator]: () => ({ next: () => new Promise(() => {}) }) } as never
        : kv.list(selector, options),
    atomic: () => {
      const atomic = kv.atomic();
      return stall.commit
        ? Object.assign(atomic, { commit: () => new Promise(() => {}) }) as KvAtomic
        : atomic;
    },
    close: () => {},
  };
}

// Kills src/kv_timed.ts:42 (a listing's step no longer raced) and :60 (a commit no longer raced):
// a database given as kv (which may be remote) that stopped answering held a listing, or a write,
// for good.
Deno.test("session7 mutants: a listing or a write of a database given as kv that stops answering fails at the time limit", async () => {
  const kv = await openKv(":memory:");
  try {
    const listing = new DenoKVStorage({ kv: stalling(kv, { list: true }), timeout: 100 });
    await rejects(within(3_000, Array.fromAsync(listing.keys())), { name: "TimeoutError" });
    await listing.close();
    const writing = new DenoKVStorage({ kv: stalling(kv, { commit: true }), timeout: 100 });
    await rejects(within(3_000, writing.set("k", new Uint8Array([1]), Date.now() + 60_000)), {
      name: "TimeoutError",
    });
    await writing.close();
  } finally {
    kv.close();
  }
});

// Kills src/kv_timed.ts:48 (the listing's own iterator no longer returned): a listing given up
// early (a consumer that stops) left the database's iterator open.
Deno.test("session7 mutants: a listing of a database given as kv that its consumer stops is ended at the database too", async () => {
  const kv = await openKv(":memory:");
  let returned = 0;
  const counting: KvLike = {
    get: (key) => kv.get(key),
    list: (selector, options) => {
      const iterator = kv.list(selector, options)[Symbol.asyncIterator]();
      return {
        [Symbol.asyncIterator]: () => ({
          next: () => iterator.next(),
          return: (
            value?: unknown,
          ) => (returned++, iterator.return?.(value) ?? Promise.resolve({ done: true, value })),
        }),
      } as never;
    },
    atomic: () => kv.atomic(),
    close: () => {},
  };
  const storage = new DenoKVStorage({ kv: counting });
  try {
    for (const key of ["a", "b", "c"]) await storage.set(key, new Uint8Array([1]), Date.now() + 60_000);
    for await (const _key of storage.keys()) break;
    await delay(10);
    equal(returned, 1);
  } finally {
    await storage.close();
    kv.close();
  }
});

// Kills src/kv_timed.ts:57 (a check no longer added to the commit): a write to a database given as
// kv replaced the record that another write committed while it ran, where it was to yield to it.
Deno.test("session7 mutants: a write to a database given as kv yields to one committed while it ran", async () => {
  const kv = await openKv(":memory:");
  const other = new DenoKVStorage({ kv });
  let interrupt = true;
  const interrupting: KvLike = {
    get: async (key) => {
      const found = await kv.get(key);
      if (interrupt && key.includes("entry")) {
        interrupt = false;
        await other.set("k", new Uint8Array([2]), Date.now() + 60_000);
      }
      return found;
    },
    list: (selector, options) => kv.list(selector, options),
    atomic: () => kv.atomic(),
    close: () => {},
  };
  const storage = new DenoKVStorage({ kv: interrupting });
  try {
    await storage.set("k", new Uint8Array([1]), Date.now() + 60_000);
    deepEqual([...(await other.get("k"))!], [2]);
  } finally {
    await storage.close();
    await other.close();
    kv.close();
  }
});
