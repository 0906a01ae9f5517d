/**
 * A body its caller cancelled is read on by the cache alone, for a time: a body that never ends
 * (a live feed, a long poll) must not hold its connection until the session closes.
 */
import { equal, ok } from "node:assert/strict";
import { CachedSession } from "../mod.ts";
import { CANCELLED_READ_TIMEOUT } from "../src/deadline.ts";

Deno.test("cancelled bodies: the cache gives up reading a cancelled body that never ends at its time limit, the session still open", async () => {
  // The limit is 30 s (CANCELLED_READ_TIMEOUT): a timer of that length is made to fire at once here.
  const setTimer = globalThis.setTimeout;
  const asked: number[] = [];
  globalThis.setTimeout = ((fn: () => void, ms?: number) => {
    if (ms === CANCELLED_READ_TIMEOUT) asked.push(ms);
    return setTimer(fn, ms === CANCELLED_READ_TIMEOUT ? 20 : ms);
  }) as typeof setTimeout;
  const cancelled: unknown[] = [];
  const errors: unknown[] = [];
  let sent = 0;
  const session = new CachedSession({
    onError: (error) => errors.push(error),
    fetch: () => {
      // A cacheable body that never ends: a chunk on each pull, a little later each time.
      const body = new ReadableStream<Uint8Array>({
        pull: (controller) =>
          new Promise((resolve) => setTimer(resolve, 5)).then(
            () => (sent++, controller.enqueue(new Uint8Array(10))),
          ),
        cancel: (reason) => void cancelled.push(reason),
      });
      return Promise.resolve(new Response(body, { headers: { "cache-control": "max-age=600" } }));
    },
  });
  try {
    const reader = (await session.fetch("http://127.0.0.1/feed")).body!.getReader();
    await reader.read();
    await reader.cancel();
    for (let waited = 0; waited < 2000 && cancelled.length === 0; waited += 5) {
      await new Promise((resolve) => setTimer(resolve, 5));
    }
    equal(cancelled.length, 1, `the network body was cancelled (${sent} chunks sent)`);
    equal((cancelled[0] as Error | undefined)?.name, "TimeoutError");
    ok(asked.includes(CANCELLED_READ_TIMEOUT), `the read's time limit: ${asked.join(", ")}`);
    equal(await session.cache.count(), 0, "a body not read whole is not stored");
    equal(errors.length, 0, "nor reported as a failure");
  } finally {
    globalThis.setTimeout = setTimer;
    await session.close();
  }
});
