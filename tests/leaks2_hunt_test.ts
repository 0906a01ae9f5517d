/**
 * Resources held longer than they should be, a second pass: listeners that a caller's long-lived
 * abort signal (one controller for a whole application) keeps for responses long read, and
 * origin requests that the cache gave up on but kept waiting for, holding their URL's lead or
 * refresh for the rest of the session.
 *
 * @module
 */

import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { MemoryBackend } from "../backends/memory.ts";
import { CachedSession } from "../mod.ts";
import { REFRESH_TIMEOUT } from "../src/deadline.ts";
import { until, within } from "./_fixtures.ts";
import { listenersOf } from "./_listeners.ts";
import { abortableFeed, settle } from "./_origin.ts";

/** An abort controller whose signal counts the `abort` listeners on it now. */
function countedSignal(): { controller: AbortController; listeners: () => number } {
  const controller = new AbortController();
  const live = listenersOf(controller.signal);
  return { controller, listeners: () => live.size };
}

/** A body of two chunks, as a stream (no declared length). */
function streamed(text: string): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  return new ReadableStream({
    start(controller) {
      controller.enqueue(bytes.slice(0, 3));
      controller.enqueue(bytes.slice(3));
      controller.close();
    },
  });
}

/** Responses the cache does not store. */
const UNSTORED: [string, () => Response][] = [
  ["no-store", () => new Response("a body of no-store", { headers: { "cache-control": "no-store" } })],
  [
    "no-store, streamed",
    () => new Response(streamed("a streamed body"), { headers: { "cache-control": "no-store" } }),
  ],
  ["a 500", () => new Response("failed", { status: 500 })],
  [
    "a 403 fresh for a minute",
    () => new Response("denied", { status: 403, headers: { "cache-control": "max-age=60" } }),
  ],
  [
    "a streamed body over the backend's limit",
    () => new Response(streamed("x".repeat(5000)), { headers: { "cache-control": "max-age=60" } }),
  ],
];

// A response the cache did not store (no-store, an error status, a body over the limit), asked for with a signal while
// coalescing was on, left a listener on the caller's signal until its body was garbage collected,
// however long ago it was read: one controller for a whole application gathered one per such
// response (10,000 between two collections of a loop of 10,000 requests, each slower than the last).
Deno.test("a long-lived signal keeps no listener of an unstored response once its body was read, cancelled or taken whole", async () => {
  const { controller, listeners } = countedSignal();
  for (const [name, make] of UNSTORED) {
    // (The backend refuses bodies over 1,000 bytes: a larger one is let go of as it streams.)
    const backend = new MemoryBackend({ maxEntrySize: 1000 });
    const session = new CachedSession({ backend, fetch: () => Promise.resolve(make()) });
    try {
      const kept: Response[] = []; // (not collected: a listener of one would stay)
      for (let i = 0; i < 9; i++) {
        const response = await session.fetch(`http://127.0.0.1/${i}`, { signal: controller.signal });
        if (i % 3 === 0) await response.text();
        else if (i % 3 === 1) {
          const reader = response.body!.getReader();
          while (!(await reader.read()).done);
        } else await response.body!.cancel();
        kept.push(response);
      }
      await settle();
      equal(listeners(), 0, `abort listeners left on the caller's signal (${name})`);
    } finally {
      await session.close();
    }
  }
});

// (Guards the fix above: the body the caller reads in place of the origin's still follows the signal.)
Deno.test("an unstored response's body still fails with the caller's abort while it is read, and the origin request is aborted", async () => {
  const controller = new AbortController();
  const reason = new Error("gave up");
  const feed = abortableFeed();
  const session = new CachedSession({ fetch: feed.fetch });
  try {
    const response = await session.fetch("http://127.0.0.1/feed", { signal: controller.signal });
    const reader = response.body!.getReader();
    deepEqual([...(await reader.read()).value!], [1, 2, 3]);
    const next = reader.read();
    controller.abort(reason);
    await rejects(next, (error) => error === reason);
    equal(feed.signal()!.aborted, true, "the origin request was aborted");
  } finally {
    await session.close();
  }
});

/** A fetch that never answers its first request, nor follows its signal; the others it answers. */
function hungFirst(): { fetch: typeof globalThis.fetch; calls: () => number } {
  let calls = 0;
  const answer = () =>
    ++calls === 1
      ? new Promise<Response>(() => {})
      : Promise.resolve(new Response(`v${calls}`, { headers: { "cache-control": "max-age=60" } }));
  return { fetch: answer as typeof globalThis.fetch, calls: () => calls };
}

// The cache aborts an origin request that no one wants any more (its caller aborted, no request
// waits on it), but waited for its fetch to settle before giving up the URL's lead: from a fetch
// that does not follow its signal, never. Every later request for the URL then waited on it, for
// ever (plain fetch, or the same session without coalescing, asks the origin again).
Deno.test("a request after one its caller aborted goes to the origin, though the fetch ignored the abort", async () => {
  const origin = hungFirst();
  const session = new CachedSession({ fetch: origin.fetch });
  try {
    const controller = new AbortController();
    const first = session.fetch("http://127.0.0.1/r", { signal: controller.signal });
    await settle();
    controller.abort();
    await rejects(first, (error: Error) => error.name === "AbortError");
    const second = await within(5000, session.fetch("http://127.0.0.1/r"));
    deepEqual([await second.text(), origin.calls()], ["v2", 2]);
  } finally {
    await session.close();
  }
});

// A background refresh whose fetch ignores its signal was never given up: not at its time limit
// (REFRESH_TIMEOUT, 30 s), nor reported, and its URL was never refreshed again while the session
// lived (one refresh at a time per entry); close() waited out both of its 2 s waits for it.
Deno.test("a refresh whose fetch ignores its signal is given up at its time limit and reported, and the next stale hit refreshes again", async () => {
  // The limit is 30 s (REFRESH_TIMEOUT): AbortSignal.timeout is made to fire at once here.
  const timeout = AbortSignal.timeout;
  const asked: number[] = [];
  AbortSignal.timeout = (ms: number) => (asked.push(ms), timeout.call(AbortSignal, 20));
  const errors: unknown[] = [];
  let calls = 0;
  const session = new CachedSession({
    staleWhileRevalidate: 60,
    onError: (error) => errors.push(error),
    fetch: () =>
      ++calls === 1
        ? Promise.resolve(new Response("v1", { headers: { "cache-control": "max-age=0" } }))
        : new Promise<Response>(() => {}), // never answers, and does not follow the signal
  });
  try {
    const text = async () => await (await session.fetch("http://127.0.0.1/r")).text();
    equal(await text(), "v1");
    equal(await text(), "v1"); // stale, and a refresh
    await within(5000, until(() => errors.length === 1));
    ok(asked.includes(REFRESH_TIMEOUT), `the refresh's time limit: ${asked.join(", ")}`);
    equal((errors[0] as Error).name, "TimeoutError", "the refresh was given up at its time limit");
    equal(await text(), "v1"); // stale again: a new refresh
    await within(5000, until(() => calls === 3));
  } finally {
    AbortSignal.timeout = timeout;
    await session.close();
  }
});
