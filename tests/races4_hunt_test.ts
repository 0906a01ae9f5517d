/**
 * Races within one process, hunted (4): requests that wait on a small body that stalls.
 *
 * @module
 */

import { deepEqual, equal } from "node:assert/strict";
import { CachedSession } from "../mod.ts";
import { delay, within } from "./_fixtures.ts";

const URL_A = "http://127.0.0.1/races4";

// A waiter on a body of declared length that stalls asks the origin itself once the cache has read
// nothing of it for 5 to 10 s (docs/reliability.md). Where the cache read the body whole by
// `arrayBuffer()` (on Deno one under 16 KiB, on Bun any up to 1 MiB: most API responses), it saw no
// progress at all: its waiters, and every request for the URL after them, waited for good.
for (const joined of ["before its response came", "while its body was read"]) {
  Deno.test(`races4 hunt: requests waiting on a small body of declared length that stalls ask the origin themselves (joined ${joined}), and the newer response stays`, async () => {
    let calls = 0;
    let release!: () => void;
    const stalled = new Promise<void>((resolve) => release = resolve);
    let responded!: () => void;
    const leaderAsked = new Promise<void>((resolve) => responded = resolve);
    const fetch = async () => {
      const version = ++calls;
      if (version === 1 && joined.startsWith("before")) await leaderAsked;
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        type: "bytes",
        async pull(controller) {
          if (sent === 1 && version === 1) await stalled;
          controller.enqueue(new TextEncoder().encode(`v${version}`));
          if (++sent === 2) controller.close();
        },
      });
      return new Response(body, { headers: { "cache-control": "max-age=600", "content-length": "4" } });
    };
    const session = new CachedSession({ fetch });
    try {
      const leader = session.fetch(URL_A);
      if (joined.startsWith("while")) await leader;
      const waiting = Promise.all([session.fetch(URL_A), session.fetch(URL_A)]);
      await delay(20); // (the waiters reach the wait)
      responded();
      const leaderBody = (await leader).text();
      const waiters = await within(15_000, waiting);
      deepEqual(await Promise.all(waiters.map((waiter) => waiter.text())), ["v2v2", "v3v3"]);
      release();
      equal(await leaderBody, "v1v1", "the leader's caller gets its own response");
      const next = await session.fetch(URL_A);
      equal(await next.text(), "v3v3", "the response asked for last stays, not the older one");
      equal(next.fromCache, true);
    } finally {
      release();
      await session.close();
    }
  });
}
