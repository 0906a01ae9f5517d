/**
 * Request coalescing, hunted a fifth time: a small body read whole for waiters that left it, a
 * waiter that aborts as the response's fields turn it away, and the steps of a followed redirect.
 *
 * @module
 */

import { deepEqual, equal, rejects } from "node:assert/strict";
import { CachedSession } from "../mod.ts";
import { CANCELLED_READ_TIMEOUT, SHARED_BODY_WAIT } from "../src/deadline.ts";
import { delay, until, within } from "./_fixtures.ts";
import { Clock, origin, reply } from "./_origin.ts";

const URL_A = "http://127.0.0.1/coalescing5";

/**
 * Shortens the cache's waits (`SHARED_BODY_WAIT`, `CANCELLED_READ_TIMEOUT`) to 20 ms until
 * `restore()`: every timer of 5 s or 30 s is (so `within` is given other times meanwhile).
 */
function quickWaits(): () => void {
  const setTimer = globalThis.setTimeout;
  globalThis.setTimeout =
    ((run: () => void, ms?: number) =>
      setTimer(run, ms === SHARED_BODY_WAIT || ms === CANCELLED_READ_TIMEOUT ? 20 : ms)) as typeof setTimeout;
  return () => void (globalThis.setTimeout = setTimer);
}

// A small body of declared length that the cache reads whole (Deno, Bun) is read chunk by chunk
// when requests wait on it as its read begins. Once they had asked the origin themselves (it
// stalled), the leading caller's cancel did not give that read up: the origin's body stayed open
// until the origin ended it, and the URL's lead stayed held: identical requests no longer shared
// an origin request.
Deno.test("coalescing5 hunt: a small stalled body that waiters left is given up once its caller cancels it, and the URL's requests share one origin request again", async () => {
  const clock = new Clock();
  let cancelled = 0;
  let respond!: () => void;
  const responding = new Promise<void>((resolve) => respond = resolve);
  const o = origin(async (_request, n) => {
    if (n === 1) await responding; // the waiter joins before the body's read begins
    else if (n > 2) await delay(20); // the later requests arrive meanwhile
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent === 1 && n === 1) await new Promise(() => {}); // stalls half-way, for good
        controller.enqueue(new TextEncoder().encode(`v${n}`));
        if (++sent === 2) controller.close();
      },
      cancel: () => void cancelled++,
    });
    const headers = { "cache-control": "max-age=10", "content-length": "4" };
    return new Response(body, { headers: reply(null, headers, { clock }).headers });
  });
  const restore = quickWaits();
  const session = new CachedSession({ fetch: o.fetch, now: clock.fn });
  try {
    const leading = session.fetch(URL_A);
    await until(() => o.calls === 1);
    const waiting = session.fetch(URL_A);
    await delay(20); // the waiter reaches the wait
    respond();
    const leader = await leading;
    const waiter = await within(4000, waiting);
    equal(await waiter.text(), "v2v2", "the waiter asked the origin itself");
    await leader.body!.cancel();
    await within(3000, until(() => cancelled === 1));
    clock.tick(20); // the waiter's response is stale: asked for again
    const later = await within(4000, Promise.all([1, 2, 3].map(() => session.fetch(URL_A))));
    deepEqual(await Promise.all(later.map((response) => response.text())), ["v3v3", "v3v3", "v3v3"]);
    equal(o.calls, 3, "the later requests share one origin request");
  } finally {
    restore();
    respond();
    await session.close();
  }
});

// Pinned: each step of a redirect the session follows is a request of its own, coalesced as any.
Deno.test("coalescing5 hunt: identical requests whose redirect the session follows share one origin request at each step", async () => {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => open = resolve);
  const o = origin(async (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/a") {
      await delay(20); // the other requests wait on this one's redirect
      return reply("", { "cache-control": "max-age=600", location: "/b" }, { status: 301 });
    }
    await gate;
    return reply("at b", { "cache-control": "max-age=600", "content-length": "4" });
  });
  const session = new CachedSession({ fetch: o.fetch });
  try {
    const all = [1, 2, 3].map(() => session.fetch("http://127.0.0.1/a"));
    await until(() => o.calls === 2);
    await delay(20); // the others wait on the second step too
    open();
    const responses = await within(5000, Promise.all(all));
    deepEqual(await Promise.all(responses.map((r) => r.text())), ["at b", "at b", "at b"]);
    deepEqual(o.requests.map((r) => new URL(r.url).pathname), ["/a", "/b"]);
  } finally {
    open();
    await session.close();
  }
});

// A waiter that a response's `Vary` turned away was uncounted twice when its signal aborted
// before it woke (an abort in the same turn as the response's fields came): once no other waiter
// seemed to wait, the origin request of a leader whose caller had aborted was aborted, and a
// request that still waited for it had to ask the origin again.
Deno.test("coalescing5 hunt: a waiter turned away by Vary that aborts at once leaves the origin request to those that still wait", async () => {
  let respond!: () => void;
  const responding = new Promise<void>((resolve) => respond = resolve);
  const german = new AbortController();
  const o = origin(async (request, n) => {
    if (n === 1) await responding;
    const language = request.headers.get("accept-language")!;
    let sent = false;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        request.signal.addEventListener("abort", () => controller.error(request.signal.reason));
      },
      async pull(controller) {
        // As the body's read begins, right after its fields turned the German request away.
        if (n === 1) german.abort(new Error("german gone"));
        if (!sent) return void (sent = true, controller.enqueue(new TextEncoder().encode(language)));
        await delay(20); // the rest of the body comes later
        controller.enqueue(new TextEncoder().encode(`${n}`));
        controller.close();
      },
    }, { highWaterMark: 0 }); // (pulled once read, not before)
    const fields = { "cache-control": "max-age=60", vary: "accept-language", "content-length": "3" };
    return new Response(body, { headers: reply(null, fields).headers });
  });
  const session = new CachedSession({ fetch: o.fetch });
  const ask = (language: string, signal: AbortSignal | null = null) =>
    session.fetch(URL_A, { signal, headers: { "accept-language": language } });
  try {
    const leaderAbort = new AbortController();
    const leader = ask("en", leaderAbort.signal);
    await until(() => o.calls === 1);
    const de = ask("de", german.signal);
    const en = ask("en").then((response) => response.text());
    await delay(20); // both wait on the leader
    leaderAbort.abort(new Error("leader gone"));
    await rejects(leader, /leader gone/);
    respond();
    await rejects(within(4000, de), /german gone/);
    equal(await within(4000, en), "en1", "the waiter gets the response of the first origin request");
    equal(o.calls, 1);
  } finally {
    respond();
    await session.close();
  }
});
