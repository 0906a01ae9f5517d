/**
 * The request side and the session's control flow, where mutation testing of `src/request.ts`,
 * `src/inflight.ts`, `src/options.ts`, `src/backend_options.ts`, `src/origin_call.ts`,
 * `src/deadline.ts`, `src/breaker.ts` and `src/lookup.ts` found no test: each test pins one
 * observable behaviour that a small change to the rule (named in its comment) would break.
 * Against a scripted origin and an injected clock, as `http_semantics_test.ts`.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "./_assert.ts";
import { CacheBackend } from "../backends/base.ts";
import { MemoryStorage } from "../backends/memory.ts";
import { cachedFetch, CachedSession } from "../mod.ts";
import { knownOptions, positiveInteger, redact } from "../src/backend_options.ts";
import { SHARED_BODY_WAIT } from "../src/deadline.ts";
import { delay, until, within } from "./_fixtures.ts";
import { origin, reply } from "./_origin.ts";
import { scripted as setup, URL_A } from "./_scripted.ts";

/** A response fresh for ten minutes, with a strong validator. */
const fresh = () => (_r: Request, n: number) =>
  reply(`v${n}`, { "cache-control": "max-age=600", etag: '"e"' });

/** Whether `work` rejects with an `AbortError`, as fetch does for an aborted signal. */
async function abortsWith(work: Promise<unknown>): Promise<boolean> {
  try {
    await work;
    return false;
  } catch (error) {
    return (error as { name?: string }).name === "AbortError";
  }
}

// src/request.ts:107 (the Request's cache mode dropped) and :111 (`mode = cache ?? "default"`: an
// init without `cache`, one with only `expireAfter`, overriding the Request's mode).
Deno.test("a Request's own cache mode is followed, also when the init carries only expireAfter", async () => {
  const s = setup(fresh);
  await s.get();
  const reload = await s.session.fetch(new Request(URL_A, { cache: "reload" }));
  assertEquals([await reload.text(), reload.fromCache], ["v2", false]);
  const noStore = await s.session.fetch(new Request(URL_A, { cache: "no-store" }), { expireAfter: 60 });
  assertEquals([await noStore.text(), noStore.fromCache, s.origin.calls], ["v3", false, 3]);
  await s.session.close();
});

// src/request.ts:129 (a Request's method read as GET), :132 (a Request's headers dropped) and
// :269 (a Request's signal dropped): each would let a stored GET answer the request.
Deno.test("a Request's method, headers and signal are the request's: none is answered by a stored GET", async () => {
  const s = setup(fresh);
  await s.get();
  const reloading = await s.session.fetch(new Request(URL_A, { headers: { "cache-control": "no-cache" } }));
  assertEquals([await reloading.text(), reloading.fromCache], ["v2", false]);
  const post = await s.session.fetch(new Request(URL_A, { method: "POST", body: "x" }));
  assertEquals([await post.text(), post.fromCache, s.origin.requests.at(-1)!.method], ["v3", false, "POST"]);
  const calls = s.origin.calls;
  assert(await abortsWith(s.session.fetch(new Request(URL_A, { signal: AbortSignal.abort() }))));
  assertEquals(s.origin.calls, calls);
  await s.session.close();
});

// src/request.ts:192 ("signal" left out of the members read from an init that is no plain
// object): fetch reads an init's signal through its getter, a Request's as any other's.
Deno.test("an init that is a Request with an aborted signal rejects as fetch does, also on a hit", async () => {
  const s = setup(fresh);
  await s.get();
  const init = new Request(URL_A, { signal: AbortSignal.abort() });
  assert(await abortsWith(s.session.fetch(URL_A, init)));
  await s.session.close();
});

// src/request.ts:144 (`method !== "GET"` alone: a HEAD with If-None-Match sent to the origin).
// RFC 9111 §4.3.2 / RFC 9110 §13.1.3: the cache evaluates If-None-Match for GET and HEAD alike.
Deno.test("a HEAD with a matching If-None-Match is answered 304 by the cache from the stored GET", async () => {
  const s = setup(fresh);
  await s.get();
  const head = await s.session.fetch(URL_A, { method: "HEAD", headers: { "if-none-match": '"e"' } });
  assertEquals([head.status, head.fromCache, s.origin.calls], [304, true, 1]);
  await s.session.close();
});

// src/request.ts:146 (the caller's own If-None-Match evaluated in every mode). Fetch §4.5 lets the
// cache evaluate it in the default mode only: force-cache and only-if-cached serve what is stored
// (only-if-cached would otherwise answer 504, force-cache go to the origin).
Deno.test("force-cache and only-if-cached serve the stored response to a request whose If-None-Match does not match", async () => {
  const s = setup(fresh);
  await s.get();
  for (const cache of ["force-cache", "only-if-cached"] as const) {
    const response = await s.session.fetch(URL_A, { cache, headers: { "if-none-match": '"other"' } });
    assertEquals([response.status, await response.text(), response.fromCache], [200, "v1", true], cache);
  }
  assertEquals(s.origin.calls, 1);
  await s.session.close();
});

// src/request.ts:241 (`body !== undefined`): fetch refuses a GET with a body, not one whose body
// is null.
Deno.test("a GET whose init has body: null is answered, from the cache, as fetch takes it", async () => {
  const s = setup(fresh);
  await s.get();
  const response = await s.session.fetch(URL_A, { method: "GET", body: null });
  assertEquals([await response.text(), response.fromCache], ["v1", true]);
  await s.session.close();
});

// src/request.ts:45 (POST left out of the methods fetch upper-cases) and :258 (every method
// upper-cased). Fetch normalizes `post` to `POST`, but sends `patch` as written: a method other
// than `PATCH` (RFC 9110 §9.1: methods are case-sensitive), which `allowedMethods: ["PATCH"]`
// does not allow.
Deno.test("methods are normalized as fetch does: post is POST, patch stays another method than PATCH", async () => {
  const s = setup(fresh, { allowedMethods: ["GET", "POST", "PATCH"] });
  for (const method of ["post", "post", "patch", "patch"]) {
    await (await s.session.fetch(URL_A, { method, body: "x" })).text();
  }
  // (The origin's method names are not compared: Bun's Request upper-cases every method.)
  assertEquals(s.origin.calls, 3);
  await s.session.close();
});

// src/request.ts:302 (reload adding no Pragma / Cache-Control), :303 and :304 (the caller's own
// Pragma or Cache-Control overwritten) and :305 (no-cache overwriting the caller's Cache-Control).
// Fetch §4.5 adds each of these only where the request has none.
Deno.test("reload adds Pragma and Cache-Control: no-cache, and no-cache max-age=0, only where the caller set none", async () => {
  const s = setup(fresh);
  await s.get();
  const sent = () => {
    const headers = s.origin.requests.at(-1)!.headers;
    return [headers.get("pragma"), headers.get("cache-control")];
  };
  await (await s.session.fetch(URL_A, { cache: "reload" })).text();
  assertEquals(sent(), ["no-cache", "no-cache"]);
  const own = { pragma: "x-own", "cache-control": "max-stale=5" };
  await (await s.session.fetch(URL_A, { cache: "reload", headers: own })).text();
  assertEquals(sent(), ["x-own", "max-stale=5"]);
  await (await s.session.fetch(URL_A, { cache: "no-cache", headers: own })).text();
  assertEquals(sent(), ["x-own", "max-stale=5"]);
  await s.session.close();
});

// A bug that src/request.ts:124 (`? input`, the caller's URL kept rather than copied) surviving
// showed: the origin was sent the caller's URL and Headers objects as they were when the request
// went out, after the lookup, while the key was made of them as they were at the call. A URL
// reused for a run of requests (`url.searchParams.set("id", id); fetch(url)`) had every request
// but the last stored the last one's answer.
Deno.test("a URL or Headers object that the caller changes after the call changes neither the request nor its key", async () => {
  const s = setup(() => (r, n) =>
    reply(`${new URL(r.url).pathname} ${r.headers.get("accept")} v${n}`, {
      "cache-control": "max-age=600",
      vary: "accept",
    })
  );
  const url = new URL("http://127.0.0.1/a");
  const headers = new Headers({ accept: "text/a" });
  const pending = s.session.fetch(url, { headers });
  url.pathname = "/b";
  headers.set("accept", "text/b");
  assertEquals(await (await pending).text(), "/a text/a v1");
  const again = await s.session.fetch("http://127.0.0.1/a", { headers: { accept: "text/a" } });
  assertEquals([await again.text(), again.fromCache], ["/a text/a v1", true]);
  await s.session.close();
});

// The same for a Request: fetch copies its headers at the call. A Request whose Authorization the
// caller changes after the call must not have one user's answer stored under another's key.
Deno.test("a Request whose headers the caller changes after the call is asked, and stored, as it was at the call", async () => {
  const s = setup(() => (r, n) =>
    reply(`${r.headers.get("authorization")} v${n}`, { "cache-control": "max-age=600" })
  );
  const request = new Request("http://127.0.0.1/a", { headers: { authorization: "Bearer alice" } });
  const pending = s.session.fetch(request);
  request.headers.set("authorization", "Bearer bob");
  assertEquals(await (await pending).text(), "Bearer alice v1");
  const alice = await s.session.fetch("http://127.0.0.1/a", { headers: { authorization: "Bearer alice" } });
  assertEquals([await alice.text(), alice.fromCache], ["Bearer alice v1", true]);
  await s.session.close();
});

// src/request.ts:314 (`headers.append` for the validators the cache adds): a revalidation asks
// about the stored response alone. With the caller's If-None-Match appended to, a 304 to the
// caller's tag would pass for one to the stored response's.
Deno.test("a revalidation in the no-cache mode sends the stored validator in place of the caller's own", async () => {
  const s = setup(fresh);
  await s.get();
  const response = await s.session.fetch(URL_A, {
    cache: "no-cache",
    headers: { "if-none-match": '"other"' },
  });
  await response.text();
  assertEquals([s.origin.calls, s.origin.requests.at(-1)!.headers.get("if-none-match")], [2, '"e"']);
  await s.session.close();
});

// src/request.ts:149 (`init`, the caller's own, forwarded): `cache` and `expireAfter` are the
// cache's, not the wrapped fetch's, which would apply a mode of its own (a browser's HTTP cache)
// or refuse one (only-if-cached outside same-origin mode).
Deno.test("the wrapped fetch receives the init without cache and expireAfter", async () => {
  const seen: string[][] = [];
  const session = new CachedSession({
    fetch: (_input, init) => {
      seen.push(Object.keys(init ?? {}).sort());
      return Promise.resolve(reply("x", { "cache-control": "max-age=600" }));
    },
  });
  await (await session.fetch(URL_A, { cache: "default", expireAfter: 60, headers: { "x-a": "1" } })).text();
  await (await session.fetch(URL_A, { cache: "reload", expireAfter: 60 })).text();
  assertEquals(seen.length, 2);
  assertEquals(seen.flat().filter((name) => name === "cache" || name === "expireAfter"), []);
  await session.close();
});

/** A memory storage whose first read waits until `open()` is called. */
class FirstReadWaits extends MemoryStorage {
  #gate = Promise.withResolvers<void>();
  #reads = 0;

  override async get(key: string): Promise<Uint8Array | undefined> {
    if (this.#reads++ === 0) await this.#gate.promise;
    return super.get(key);
  }

  open(): void {
    this.#gate.resolve();
  }
}

// src/inflight.ts:169 (`missed()` returning any lead released while lookups of the key ran, not
// only one released during this lookup): a request that starts after a failed origin request
// ended asks the origin itself, rather than failing with that request's error, even while an
// older lookup of its key still runs.
Deno.test("a request that starts after an identical one failed asks the origin itself, while an older lookup still runs", async () => {
  const o = origin((_r, n) =>
    n === 1
      ? Promise.reject(new TypeError("network down"))
      : reply(`v${n}`, { "cache-control": "max-age=600" })
  );
  const storage = new FirstReadWaits();
  const session = new CachedSession({ fetch: o.fetch, backend: new CacheBackend(storage) });
  const slow = session.fetch(URL_A);
  await assertRejects(() => session.fetch(URL_A), TypeError, "network down");
  const later = await session.fetch(URL_A);
  assertEquals([await later.text(), o.calls], ["v2", 2]);
  storage.open();
  await (await slow).text();
  await session.close();
});

// src/inflight.ts:186 (`lead` taking a key that has a leader). A reload reads nothing stored and
// waits for no one; nor does it take the lead from the request already at the origin: a request
// that arrives after the reload ended still waits for that one, rather than ask again.
Deno.test("a reload leads no one: a request arriving after it ended still waits for the request at the origin", async () => {
  const gate = Promise.withResolvers<void>();
  const o = origin(async (_r, n) => {
    if (n === 1) await gate.promise;
    return reply(`v${n}`, { "cache-control": n === 2 ? "no-store" : "max-age=600" });
  });
  const session = new CachedSession({ fetch: o.fetch });
  const first = session.fetch(URL_A);
  await until(() => o.calls === 1);
  const reload = await session.fetch(URL_A, { cache: "reload" });
  assertEquals([await reload.text(), o.calls], ["v2", 2]);
  const third = session.fetch(URL_A);
  await delay(5); // let it reach the wait
  gate.resolve();
  assertEquals([await (await first).text(), await (await third).text(), o.calls], ["v1", "v1", 2]);
  await session.close();
});

// src/inflight.ts:200 (`waiting === 0` alone, not `settled ||`): once the leader's caller has
// aborted and the outcome is settled (nothing to share: each waiter asks the origin itself), no
// one wants the leader's origin request any more, and it stops.
Deno.test("the origin request of a leader that aborted stops once its response turns out not to be shared", async () => {
  const gate = Promise.withResolvers<void>();
  const o = origin(async (_r, n) => {
    if (n === 1) await gate.promise;
    return reply(`v${n}`, { "cache-control": n === 1 ? "no-store" : "max-age=600" });
  });
  const session = new CachedSession({ fetch: o.fetch });
  const leading = new AbortController();
  const leader = session.fetch(URL_A, { signal: leading.signal });
  await until(() => o.calls === 1);
  const waiter = session.fetch(URL_A);
  await delay(5); // let the waiter reach the wait
  leading.abort();
  assert(await abortsWith(leader));
  assertEquals(o.requests[0]!.signal.aborted, false, "the waiter still wants it");
  gate.resolve();
  assertEquals([await (await waiter).text(), o.calls], ["v2", 2]);
  assertEquals(o.requests[0]!.signal.aborted, true, "no one wants it any more");
  await session.close();
});

// src/inflight.ts:221 (a waiter that aborted left among those that choose once the fields come):
// when the fields come, it would leave, and be counted out, a second time, and the origin request
// of a leader that aborted would stop while another waiter still wants it.
Deno.test("a waiter that aborted before the response's fields came is counted out once: the other waiter still gets the body", async () => {
  const [gate, rest] = [Promise.withResolvers<void>(), Promise.withResolvers<void>()];
  // The body comes once `rest` resolves, and fails if the origin request is aborted first.
  const o = origin(async (request, n) => {
    await gate.promise;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        request.signal.addEventListener("abort", () => controller.error(request.signal.reason));
        rest.promise.then(() => {
          controller.enqueue(new TextEncoder().encode(`v${n}`));
          controller.close();
        });
      },
    });
    return new Response(body, { headers: { "cache-control": "max-age=600", vary: "x-v" } });
  });
  const session = new CachedSession({ fetch: o.fetch });
  const [leading, leaving] = [new AbortController(), new AbortController()];
  const leader = session.fetch(URL_A, { signal: leading.signal, headers: { "x-v": "1" } });
  await until(() => o.calls === 1);
  const other = session.fetch(URL_A, { signal: leaving.signal, headers: { "x-v": "2" } });
  const waiter = session.fetch(URL_A, { headers: { "x-v": "1" } });
  await delay(5); // let both reach the wait
  leading.abort();
  leaving.abort();
  assert(await abortsWith(leader));
  assert(await abortsWith(other));
  gate.resolve();
  await delay(5); // let the response's fields come
  assertEquals(o.requests[0]!.signal.aborted, false, "the waiter still wants it");
  rest.resolve();
  assertEquals([await (await waiter).text(), o.calls], ["v1", 1]);
  await session.close();
});

/** A response whose body never ends, and fails once the request's signal aborts. */
function endless(request: Request, cacheControl = "max-age=600"): Response {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode("x"));
      request.signal.addEventListener("abort", () => controller.error(request.signal.reason));
    },
  });
  return new Response(body, { headers: { "cache-control": cacheControl } });
}

// src/inflight.ts:227 (the lead not checking its caller's signal when it is taken): a caller
// that aborts while its lookup runs has no one to ask the origin for; its origin request, if one
// goes out, goes out aborted.
Deno.test("a request aborted while its lookup runs sends no live origin request", async () => {
  // An origin that answers nothing, and fails a request once its signal aborts.
  const o = origin((request) =>
    new Promise((_resolve, reject) => {
      if (request.signal.aborted) reject(request.signal.reason);
      request.signal.addEventListener("abort", () => reject(request.signal.reason));
    })
  );
  const storage = new FirstReadWaits();
  const session = new CachedSession({ fetch: o.fetch, backend: new CacheBackend(storage) });
  const controller = new AbortController();
  const pending = session.fetch(URL_A, { signal: controller.signal });
  controller.abort();
  storage.open();
  assert(await abortsWith(pending));
  await delay(5); // let an origin request go out, if one does
  assertEquals(o.requests.filter((request) => !request.signal.aborted).length, 0);
  await session.close();
});

// src/inflight.ts:235 (`settle` not checking whether anyone still wants the origin request). A
// waiter waits SHARED_BODY_WAIT for a body of no declared length, then asks the origin itself:
// from then on no one wants the origin request of a leader whose caller aborted, and it stops.
Deno.test("the origin request of a leader that aborted stops once its waiters stop waiting for a body of no declared length", async () => {
  const setTimer = globalThis.setTimeout;
  globalThis.setTimeout =
    ((fn: () => void, ms?: number) => setTimer(fn, ms === SHARED_BODY_WAIT ? 20 : ms)) as typeof setTimeout;
  // (The cache's timers keep no process alive: this one keeps the test's.)
  const alive = setInterval(() => {}, 1000);
  try {
    const o = origin((request, n) =>
      n === 1 ? endless(request) : reply(`v${n}`, { "cache-control": "max-age=600" })
    );
    const session = new CachedSession({ fetch: o.fetch });
    const leading = new AbortController();
    const leader = await session.fetch(URL_A, { signal: leading.signal });
    const waiter = session.fetch(URL_A);
    await delay(5); // let the waiter reach the wait
    leading.abort();
    await leader.body!.cancel().catch(() => {});
    assertEquals(o.requests[0]!.signal.aborted, false, "the waiter still wants it");
    assertEquals([await (await waiter).text(), o.calls], ["v2", 2]);
    assertEquals(o.requests[0]!.signal.aborted, true, "no one wants it any more");
    await session.close();
  } finally {
    globalThis.setTimeout = setTimer;
    clearInterval(alive);
  }
});

// src/inflight.ts:256 (`follow` not keeping the caller's signal on the body once the lead is
// released). A response shared with no one (here not storable) is the caller's alone: its caller
// aborting stops the origin request, as with fetch, and its body fails.
Deno.test("a response shared with no one follows its caller's signal: aborting stops the origin request", async () => {
  const o = origin((request) => endless(request, "no-store"));
  const session = new CachedSession({ fetch: o.fetch });
  const controller = new AbortController();
  const response = await session.fetch(URL_A, { signal: controller.signal });
  controller.abort();
  assert(await abortsWith(response.text()));
  assertEquals(o.requests[0]!.signal.aborted, true);
  await session.close();
});

// src/inflight.ts:335 (the leader's caller not told when its exchange fails before the response
// came): a caller with a signal, which leads, gets the network error, as without a signal.
Deno.test("a leading caller with a signal gets the origin's network error", async () => {
  const o = origin(() => Promise.reject(new TypeError("network down")));
  const session = new CachedSession({ fetch: o.fetch });
  const failing = session.fetch(URL_A, { signal: new AbortController().signal });
  await assertRejects(() => within(5000, failing), TypeError, "network down");
  await session.close();
});

// src/options.ts:211 (`options === null` not refused at once: Object.keys throws another
// TypeError), :361 (599 refused, 304 or 200.5 let through), :365 (an empty ignored parameter
// accepted), :253 (a matchHeaders name that is no token accepted), :324 (`false` refused as a
// staleIfError / staleWhileRevalidate, though documented as the off value), :331 (NaN taken, or 0 refused).
Deno.test("options: the edges of each check, each refused naming the option, or accepted", async () => {
  const refused: [unknown, ErrorConstructor, string][] = [
    [null, TypeError, "Cannot create CachedSession: options must be an object: received null"],
    [{ staleIfError: NaN }, RangeError, "staleIfError must be a number of seconds >= 0: received NaN"],
    [{ allowedCodes: [304] }, RangeError, "allowedCodes must be an array of status codes"],
    [{ allowedCodes: [200.5] }, RangeError, "allowedCodes must be an array of status codes"],
    [
      { ignoredParameters: ["token", ""] },
      TypeError,
      'ignoredParameters must be an array of strings: received ""',
    ],
    [{ matchHeaders: ["x a"] }, TypeError, 'matchHeaders must be an array of header names: received "x a"'],
  ];
  for (const [options, type, message] of refused) {
    assertThrows(() => new CachedSession(options as never), type, message);
  }
  for (
    const options of [{ allowedCodes: [200, 599] }, { staleIfError: false, staleWhileRevalidate: false }, {
      staleIfError: 0,
      staleWhileRevalidate: 0,
    }]
  ) {
    await new CachedSession(options).close();
  }
});

// src/options.ts:244 (allowedMethods kept as written): a method named in lower case is the
// standard method fetch sends upper-cased.
Deno.test("options: allowedMethods are upper-cased: post allows POST", async () => {
  const s = setup(fresh, { allowedMethods: ["get", "post"] });
  for (let i = 0; i < 2; i++) await (await s.session.fetch(URL_A, { method: "POST", body: "x" })).text();
  await s.get();
  await s.get();
  assertEquals(s.origin.calls, 2);
  await s.session.close();
});

// src/origin_call.ts, askedByOrigin (any session's origin request counting as the one asked about): a cached
// fetch called by another session's origin request (its fetch option) is not that session's own
// origin request, and goes through its own session, not the fetch that was global.
Deno.test("a cached fetch that is another session's fetch option answers through its own session", async () => {
  const o = origin((_r, n) => reply(`v${n}`, { "cache-control": "max-age=600" }));
  const global = origin(() => reply("global"));
  const found = globalThis.fetch;
  globalThis.fetch = global.fetch;
  let inner: ReturnType<typeof cachedFetch>, outer: ReturnType<typeof cachedFetch>;
  try {
    inner = cachedFetch({ fetch: o.fetch });
    outer = cachedFetch({ fetch: inner });
  } finally {
    globalThis.fetch = found;
  }
  assertEquals(await (await outer(URL_A)).text(), "v1");
  assertEquals([global.calls, o.calls, await inner.session.cache.count()], [0, 1, 1]);
  await outer.session.close();
  await inner.session.close();
});

// src/backend_options.ts:46 (`Number.isInteger`: 2 ** 53, past the safe integers, taken), :100
// (`name in known`: an inherited name such as "toString" taken for an option) and :57 (a
// password holding "@" shown from that "@" on: userinfo ends at the authority's last "@").
Deno.test("backend options: unsafe integers and inherited names are refused; a password holding @ is masked whole", () => {
  assertThrows(() => positiveInteger("MemoryBackend", "maxEntries", 2 ** 53), RangeError, "maxEntries");
  assertThrows(
    () => knownOptions("RedisBackend", { toString: 1 } as { url?: string }, { url: true }),
    TypeError,
    'unknown option "toString"',
  );
  assertEquals(redact("redis://user:p@ss@127.0.0.1:6379/0"), "redis://user:***@127.0.0.1:6379/0");
});
