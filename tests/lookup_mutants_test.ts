/**
 * Where a request finds its stored response (`src/lookup.ts`: its key, a redirect's alias, a Vary
 * variant), the time limits of `src/deadline.ts`, the rest of `src/options.ts`, and the paths of
 * `src/inflight.ts` where a waiter finds its leader's response out of date: mutation testing found
 * no test for these. Each test pins one observable behaviour that a small change to the rule
 * (named in its comment) would break. Against a scripted origin, as `requests_mutants_test.ts`.
 */
import { assertEquals, assertRejects, assertThrows } from "./_assert.ts";
import { CacheBackend } from "../backends/base.ts";
import { MemoryBackend, MemoryStorage } from "../backends/memory.ts";
import { CachedSession } from "../mod.ts";
import { after, Deadlines, settledWithin, STORE_WAIT_LIMIT } from "../src/deadline.ts";
import { until, within } from "./_fixtures.ts";
import { origin, reached, reply, settle } from "./_origin.ts";
import { scripted, URL_A } from "./_scripted.ts";

/** A response fresh for ten minutes, of declared length (its waiters wait for all of it). */
const FRESH = { "cache-control": "max-age=600", "content-length": "2" };

/** A memory storage that holds back its next write, or its next read, until told. */
class Held extends MemoryStorage {
  holdWrite = false;
  holdRead = false;
  /** Lets the write held back go on; set once one is. */
  write: (() => void) | undefined;
  /** Lets the read held back answer (what it read when it was made); set once one is. */
  read: (() => void) | undefined;

  override async set(key: string, value: Uint8Array, deleteAt: number): Promise<void> {
    if (this.holdWrite) {
      this.holdWrite = false;
      const { promise, resolve } = Promise.withResolvers<void>();
      this.write = resolve;
      await promise;
    }
    return super.set(key, value, deleteAt);
  }

  override get(key: string): Promise<Uint8Array | undefined> {
    const answer = super.get(key);
    if (!this.holdRead) return answer;
    this.holdRead = false;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.read = resolve;
    return promise.then(() => answer);
  }
}

/** Whether `work` settles: set once it has. */
function tracked<T>(work: Promise<T>): { work: Promise<T>; done: () => boolean } {
  let settled = false;
  work.then(() => settled = true, () => settled = true);
  return { work, done: () => settled };
}

// src/inflight.ts:309 (`if (false)`: a waiter takes its leader's response though its URL was
// invalidated since it was asked for), :247 (a leader's release drops whatever lead the key has,
// the new one too: a request that comes next asks the origin again instead of waiting for it),
// :310 (the outdated lead not retired: its waiter waits on it again and again, a loop of
// microtasks that hangs the test). RFC 9111 §4.4: once a POST to the URL has succeeded, a
// response the origin sent before it is not served. A leader settles its waiters before it
// writes, and keeps the lead until its writes end: a request that comes in between, after the
// POST, finds the lead's response out of date; it asks again, leading, and those after it wait
// for it; what it gets is stored. Redirected, the response's alias is written first, and held
// here: the entry's write is then skipped. Not redirected, the entry's write is held, lands after
// the POST and is undone. A bug found on the way (no mutant): that undo went through the
// backend's `delete`, which invalidated the URL once more (src/cache_access.ts): the response
// asked for after the POST passed for an outdated one, was neither stored nor shared, and the
// request waiting for it asked the origin again (four origin requests here, not three).
Deno.test("a request that finds its leader's response invalidated while it is written asks again, leads those after it, and is stored", async (t) => {
  for (const redirected of [true, false]) {
    await t.step(
      redirected ? "redirected: the alias's write is held" : "the entry's write is held, then undone",
      async () => {
        const storage = new Held();
        const second = Promise.withResolvers<void>();
        const answer = (n: number) => {
          const response = reply(`v${n}`, FRESH);
          return redirected ? reached(response, "/target") : response;
        };
        const o = origin((request, n) => {
          if (request.method === "POST") return reply("ok");
          return n === 3 ? second.promise.then(() => answer(n)) : answer(n);
        });
        const session = new CachedSession({ fetch: o.fetch, backend: new CacheBackend(storage) });
        storage.holdWrite = true;
        const first = await session.fetch(URL_A); // its waiters would have v1 now; its write is held
        const firstBody = first.text(); // (its end waits for the writes)
        await until(() => storage.write !== undefined);
        const post = session.fetch(URL_A, { method: "POST", body: "x" }); // invalidates, waits for the write
        await until(() => o.calls === 2);
        const asking = tracked(session.fetch(URL_A));
        await until(() => o.calls === 3 || asking.done());
        assertEquals(o.calls, 3, "the request after the POST asked the origin again");
        // The first request's writes end; it lets go of its lead, not the new one.
        storage.write!();
        assertEquals([await firstBody, await (await post).text()], ["v1", "ok"]);
        await settle();
        const joining = session.fetch(URL_A);
        await settle();
        second.resolve();
        const [asked, joined] = await within(5000, Promise.all([asking.work, joining]));
        assertEquals([await asked.text(), asked.fromCache, await joined.text(), o.calls], [
          "v3",
          false,
          "v3",
          3,
        ]);
        const stored = await session.fetch(URL_A);
        assertEquals([await stored.text(), stored.fromCache], ["v3", true]);
        await session.close();
      },
    );
  }
});

// src/inflight.ts:311 (`else return outcome`: a RETRY reaches the session, and each waiter asks
// the origin on its own, none leading). A POST succeeds while the leading GET is at the origin:
// what that GET gets is not for its waiters, who ask again, one of them leading and the other
// waiting for it.
Deno.test("waiters whose leader's response was invalidated on its way ask again as one request", async () => {
  const first = Promise.withResolvers<void>();
  const o = origin((request, n) => {
    if (request.method === "POST") return reply("ok");
    if (n === 1) return first.promise.then(() => reply("v1", FRESH));
    return reply(`v${n}`, FRESH);
  });
  const session = new CachedSession({ fetch: o.fetch });
  const leading = session.fetch(URL_A);
  await until(() => o.calls === 1);
  const waiting = [session.fetch(URL_A), session.fetch(URL_A)];
  await settle();
  assertEquals(await (await session.fetch(URL_A, { method: "POST", body: "x" })).text(), "ok");
  first.resolve();
  assertEquals(await (await leading).text(), "v1");
  const bodies = await within(5000, Promise.all(waiting.map(async (r) => await (await r).text())));
  assertEquals([bodies, o.calls], [["v3", "v3"], 3]);
  await session.close();
});

// src/inflight.ts:302 (`this.#leads.get(key)` without `?? missed`). A request whose backend read
// started before another went to the origin, and returns only after that one has stored and let
// go of its lead, read nothing (before the write): it takes the outcome of that lead, which the
// lookup's ticket kept, instead of asking the origin again. (coalescing_test's own case wakes
// the read at the write, while the lead is still held: it passes without `missed`.)
Deno.test("a request whose backend read returns after another's whole exchange ended takes its response", async () => {
  const storage = new Held();
  const o = origin((_r, n) => reply(`v${n}`, FRESH));
  const session = new CachedSession({ fetch: o.fetch, backend: new CacheBackend(storage) });
  storage.holdRead = true;
  const slow = session.fetch(URL_A);
  await until(() => storage.read !== undefined);
  assertEquals(await (await session.fetch(URL_A)).text(), "v1"); // led, stored, let go of its lead
  await settle();
  storage.read!();
  const late = await within(5000, slow);
  assertEquals([await late.text(), o.calls], ["v1", 1]);
  await session.close();
});

// src/inflight.ts:302 (`missed ?? this.#leads.get(key)`: the lead that ended while the request
// read is preferred to the one at the origin now). The first lead's response may not be stored,
// so it is not shared; a second request leads now: the slow reader waits for that one.
Deno.test("a request whose backend read outlasts an unshared exchange waits for the one at the origin now", async () => {
  const storage = new Held();
  const second = Promise.withResolvers<void>();
  const o = origin((_r, n) => {
    if (n === 1) return reply("v1", { "cache-control": "no-store" });
    if (n === 2) return second.promise.then(() => reply("v2", FRESH));
    return reply(`v${n}`, FRESH);
  });
  const session = new CachedSession({ fetch: o.fetch, backend: new CacheBackend(storage) });
  storage.holdRead = true;
  const slow = session.fetch(URL_A);
  await until(() => storage.read !== undefined);
  assertEquals(await (await session.fetch(URL_A)).text(), "v1"); // not stored, nor shared
  const leading = session.fetch(URL_A);
  await until(() => o.calls === 2);
  storage.read!();
  await settle();
  second.resolve();
  const bodies = await within(5000, Promise.all([leading, slow].map(async (r) => await (await r).text())));
  assertEquals([bodies, o.calls], [["v2", "v2"], 2]);
  await session.close();
});

// src/options.ts:280 (the backend's `storage` not required) and :272 (`writeAlias` left out of
// the methods required): a backend is taken by its shape (one built by another copy of this
// package is as good), and the session needs each of these: without them it would fail on the
// first redirect, or on the first invalidation, not at construction.
Deno.test("a backend of another copy of the package is taken by its shape: storage and each method it uses", async () => {
  const real = new MemoryBackend();
  const shape = (leaveOut: string) => {
    const all: Record<string, unknown> = {
      storage: real.storage,
      read: real.read.bind(real),
      write: real.write.bind(real),
      writeAlias: real.writeAlias.bind(real),
      delete: real.delete.bind(real),
      close: real.close.bind(real),
    };
    delete all[leaveOut];
    return all as unknown as CacheBackend;
  };
  const message = "Cannot create CachedSession: backend must be a CacheBackend such as new MemoryBackend()";
  for (const name of ["storage", "writeAlias"]) {
    assertThrows(() => new CachedSession({ backend: shape(name) }), TypeError, message);
  }
  const o = origin((_r, n) => reply(`v${n}`, FRESH));
  const session = new CachedSession({ fetch: o.fetch, backend: shape("none") });
  await (await session.fetch(URL_A)).text();
  const hit = await session.fetch(URL_A);
  assertEquals([await hit.text(), hit.fromCache], ["v1", true]);
  await session.close();
});

// src/options.ts:310 (`cacheStatus: false` read as a cache name, which it is not: a TypeError).
// The option is documented as "true, false or a cache name"; false, as unset, adds no field.
Deno.test("cacheStatus: false is accepted, and no Cache-Status field is added", async () => {
  const o = origin((_r, n) => reply(`v${n}`, FRESH));
  const session = new CachedSession({ fetch: o.fetch, cacheStatus: false });
  await (await session.fetch(URL_A)).text();
  const hit = await session.fetch(URL_A);
  assertEquals([await hit.text(), hit.fromCache, hit.headers.has("cache-status")], ["v1", true, false]);
  await session.close();
});

// src/options.ts:260 (the default `fetch` taken as the `globalThis.fetch` of the session's
// construction, not looked up at each request): a fetch put in place after the session was made
// (an APM's, a mock's) is the one that session asks.
Deno.test("without a fetch option, the session asks the globalThis.fetch of the moment", async () => {
  const session = new CachedSession();
  const before = globalThis.fetch;
  const o = origin((_r, n) => reply(`v${n}`, FRESH));
  globalThis.fetch = o.fetch;
  try {
    const response = await session.fetch(URL_A);
    assertEquals([await response.text(), o.calls], ["v1", 1]);
  } finally {
    globalThis.fetch = before;
    await session.close();
  }
});

/**
 * An operation that never answers, and what gives up on it; a timer of its own keeps the event
 * loop alive until then (the deadlines' timer does not).
 */
async function givenUp(deadlines: Deadlines, late: () => Error): Promise<void> {
  const alive = setTimeout(() => {}, 60_000);
  try {
    await assertRejects(() => deadlines.race(new Promise(() => {}), late), Error, "late");
  } finally {
    clearTimeout(alive);
  }
}

/** Whether a timer keeps the process alive (`hasRef`, as Node, Bun and Deno 2.9 give it). */
function keepsAlive(timer: unknown): boolean {
  return (timer as { hasRef?: () => boolean }).hasRef?.() ?? false;
}

/**
 * Runs `body` while `setInterval` and `clearInterval` (or `setTimeout` and `clearTimeout`) note
 * the timers armed and not cleared, with their delays, and the delays of all timers armed.
 */
async function watchingTimers(
  kind: "Interval" | "Timeout",
  body: (armed: Map<unknown, number | undefined>, delays: unknown[]) => void | Promise<void>,
): Promise<void> {
  const global = globalThis as unknown as Record<string, (...args: unknown[]) => unknown>;
  const set = global[`set${kind}`]!;
  const clear = global[`clear${kind}`]!;
  const armed = new Map<unknown, number | undefined>();
  const delays: unknown[] = [];
  global[`set${kind}`] = (...args: unknown[]) => {
    const timer = set(...args);
    delays.push(args[1]);
    armed.set(timer, args[1] as number | undefined);
    return timer;
  };
  global[`clear${kind}`] = (timer: unknown) => {
    armed.delete(timer);
    return clear(timer);
  };
  try {
    await body(armed, delays);
  } finally {
    global[`set${kind}`] = set;
    global[`clear${kind}`] = clear;
  }
}

// src/deadline.ts:80 (`this.#timer = this.#start()`: each operation starts an interval, and only
// the last is ever cleared), :105 (the interval not unref'd) and :116 (the interval never
// cleared). Deadlines of one length share one timer, which never keeps the process alive and
// stops once nothing is pending: any other would sweep for as long as the process lives.
Deno.test("deadlines: operations under way at once share one timer, which keeps no process alive and stops once none is pending", async () => {
  await watchingTimers("Interval", async (running) => {
    const deadlines = new Deadlines(10);
    const late = () => new Error("late");
    const answers = [deadlines.race(Promise.resolve(1), late), deadlines.race(Promise.resolve(2), late)];
    assertEquals([running.size, [...running.keys()].some(keepsAlive)], [1, false]);
    assertEquals(await Promise.all(answers), [1, 2]);
    // The sweep that gives up on this one finds nothing else pending, and stops the timer.
    await givenUp(deadlines, late);
    assertEquals(running.size, 0);
  });
});

// src/deadline.ts:82 (an operation that answered left among the pending): the sweep would give
// it up once its deadline passed, calling its `error()`, and the timer would run until then.
Deno.test("deadlines: an operation that answered in time is never given up on", async () => {
  const deadlines = new Deadlines(10);
  let late = 0;
  assertEquals(
    await deadlines.race(Promise.resolve("in time"), () => new Error(`late ${++late}`)),
    "in time",
  );
  // One started later, that never answers: by its deadline, the first one's has passed too.
  await givenUp(deadlines, () => new Error("late"));
  assertEquals(late, 0);
});

// src/deadline.ts:173 (the timer of `after` not unref'd): the time a waiter gives a body of no
// declared length (5 s), say, would keep a process that has nothing else to do alive.
Deno.test("deadlines: the timer after() arms keeps no process alive, and stopping it clears it", async () => {
  await watchingTimers("Timeout", (armed) => {
    let expired = false;
    const stop = after(60_000, () => expired = true);
    const timers = [...armed].filter(([, ms]) => ms === 60_000).map(([timer]) => timer);
    assertEquals([timers.length, timers.some(keepsAlive)], [1, false]);
    stop();
    assertEquals([[...armed.values()].includes(60_000), expired], [false, false]);
  });
});

// src/deadline.ts:192 (the timer of `settledWithin` not cleared once the work settled), and the
// same line with `work` raced as it is (its failure then rejects the wait): each write that
// outlasts a few microtasks would leave a 2 s timer that keeps the process alive, and the waits
// for a write that fails (a caller's body, close()) would fail with it.
Deno.test("deadlines: a wait for a write that settles in time, or fails, ends with it and leaves no timer behind", async () => {
  await watchingTimers("Timeout", async (armed) => {
    // (Each waits on the event loop: more than the few microtasks waited out before a timer.)
    await settledWithin(new Promise<void>((resolve) => setTimeout(resolve, 1)));
    await settledWithin(new Promise<void>((_, reject) => setTimeout(() => reject(new Error("down")), 1)));
    assertEquals([...armed.values()].includes(STORE_WAIT_LIMIT), false);
  });
});

// src/deadline.ts:207 (`settlesSoon` giving a write one microtask turn, not 16): a write to memory
// takes a few turns; each would arm a 2 s timer, which costs more than the write itself.
Deno.test("deadlines: a wait for a write done within a few microtasks arms no timer", async () => {
  await watchingTimers("Timeout", async (_armed, delays) => {
    let write = Promise.resolve();
    for (let turn = 0; turn < 8; turn++) write = write.then(() => {});
    await settledWithin(write);
    assertEquals(delays.includes(STORE_WAIT_LIMIT), false);
  });
});

// src/lookup.ts:55 (a Request with a body built on as it is, not on a clone): a `Request` built
// from another takes its body, and the caller's own would be used up by the cache's key.
Deno.test("a POST that the session stores is keyed on a copy of its body: the caller's Request stays unread", async () => {
  const o = origin(async (request, n) => reply(`${await request.text()} v${n}`, FRESH));
  const session = new CachedSession({ fetch: o.fetch, allowedMethods: ["GET", "HEAD", "POST"] });
  const request = new Request(URL_A, { method: "POST", body: "q=1" });
  const response = await session.fetch(request);
  assertEquals([await response.text(), request.bodyUsed], ["q=1 v1", false]);
  const again = await session.fetch(request); // (it can be sent again)
  assertEquals([await again.text(), again.fromCache], ["q=1 v1", true]);
  await session.close();
});

// src/lookup.ts:177 (an alias's oldest target taken, not the latest): two URLs redirect to one
// place; a request for that place itself is answered through the alias with what the redirect
// that led there last brought, the newer response.
Deno.test("a URL two redirects led to is answered with what the later one brought", async () => {
  const o = origin((_r, n) => reached(reply(`v${n}`, FRESH), "/target"));
  const session = new CachedSession({ fetch: o.fetch });
  for (const path of ["/a", "/b"]) await (await session.fetch(`http://127.0.0.1${path}`)).text();
  const target = await session.fetch("http://127.0.0.1/target");
  assertEquals([await target.text(), target.fromCache, o.calls], ["v2", true, 2]);
  await session.close();
});

// src/lookup.ts:160 (a HEAD looks for its own stored response only when no GET response is
// stored at all, not when none matches its Vary headers): RFC 9110 §9.3.2, a HEAD is answered
// from the GET's response, else from its own.
Deno.test("a HEAD that the stored GET response's Vary does not match is answered from its own stored response", async () => {
  const o = origin((_r, n) => reply(`v${n}`, { ...FRESH, vary: "accept-language" }));
  const session = new CachedSession({ fetch: o.fetch, allowedMethods: ["GET", "HEAD"] });
  await (await session.fetch(URL_A, { headers: { "accept-language": "en" } })).text();
  const fr = { method: "HEAD", headers: { "accept-language": "fr" } };
  assertEquals((await session.fetch(URL_A, fr)).fromCache, false);
  const again = await session.fetch(URL_A, fr);
  assertEquals([again.fromCache, again.headers.get("content-length"), o.calls], [true, "2", 2]);
  await session.close();
});

// src/lookup.ts:267 (a redirected response whose redirects ended where they began read as one
// whose alias must hold): no alias is written for it (the alias would lead to its own slot), and
// it is served as any other stored response.
Deno.test("a response whose redirects led back to the URL asked for is served from the cache", async () => {
  // (As through a login page that sets a cookie and sends the client back.)
  const o = origin((_r, n) => reached(reply(`v${n}`, FRESH), URL_A));
  const session = new CachedSession({ fetch: o.fetch });
  await (await session.fetch(URL_A)).text();
  const again = await session.fetch(URL_A);
  assertEquals([await again.text(), again.fromCache, again.redirected, o.calls], ["v1", true, true, 1]);
  await session.close();
});

// src/lookup.ts:196 (a Vary variant found beside the primary reported under the primary's key):
// its revalidation would write the freshened variant over the primary, and the primary's
// requests would miss. RFC 9111 §4.1 and §4.3.4: each stored variant is freshened in its place.
Deno.test("a Vary variant revalidated with a 304 is freshened in its own place, beside the primary", async () => {
  const s = scripted((clock) => (request, n) => {
    const lang = request.headers.get("accept-language");
    const headers = { vary: "accept-language", etag: `"${lang}"` };
    if (request.headers.has("if-none-match")) {
      return reply(null, { ...headers, "cache-control": "max-age=600" }, { status: 304, clock });
    }
    const maxAge = lang === "en" ? 600 : 1;
    return reply(`${lang} v${n}`, { ...headers, "cache-control": `max-age=${maxAge}` }, { clock });
  });
  const en = { headers: { "accept-language": "en" } };
  const fr = { headers: { "accept-language": "fr" } };
  await s.get(en); // the primary
  await s.get(fr); // a variant beside it
  s.clock.tick(2);
  assertEquals((await s.get(fr)).body, "fr v2"); // revalidated
  await settle();
  const served = [];
  for (const init of [en, fr]) {
    const { response, body } = await s.get(init);
    served.push(body, response.fromCache);
  }
  assertEquals([served, s.origin.calls], [["en v1", true, "fr v2", true], 3]);
  await s.session.close();
});

// src/lookup.ts:160 (a HEAD's own stored response preferred to the GET's): RFC 9110 §9.3.2, a
// HEAD is answered from the stored GET response, which has the newer fields here, and only where
// there is none from the HEAD response stored before it.
Deno.test("a HEAD is answered from the stored GET response rather than from an older HEAD response", async () => {
  const o = origin((_r, n) => reply(`v${n}`, { ...FRESH, "x-version": `${n}` }));
  const session = new CachedSession({ fetch: o.fetch, allowedMethods: ["GET", "HEAD"] });
  const head = () => session.fetch(URL_A, { method: "HEAD" });
  assertEquals((await head()).headers.get("x-version"), "1");
  await (await session.fetch(URL_A)).text();
  const again = await head();
  assertEquals([again.fromCache, again.headers.get("x-version"), o.calls], [true, "2", 2]);
  await session.close();
});
