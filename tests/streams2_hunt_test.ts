/**
 * Streams, second hunt, over real sockets: a body of declared length that stalls half-way holds
 * neither the requests coalesced on it nor those that come after its caller gave up.
 */
import type { ServerResponse } from "node:http";
import { CachedSession } from "../mod.ts";
import { SHARED_BODY_WAIT } from "../src/deadline.ts";
import { assertEquals } from "./_assert.ts";
import { delay, loopback, patterned, within } from "./_fixtures.ts";
import { RUNTIME } from "./_runtime.ts";

// Was wrong: requests coalesced on a body of declared length waited for its end however long it
// took, so a body that stalled (its connection half open) hung every later request for the URL
// (the first caller's own read timeout freed that caller alone) until the session closed, where
// plain fetch would have got each its answer at once.
Deno.test("streams2: requests waiting on a body of declared length that stalls ask the origin themselves, also after its caller gave up", async (t) => {
  const cases = [
    // Streamed through the cache on every runtime.
    ["streamed", 2_000_000],
    // Read whole on Deno (by a reader bringing its own buffer) and streamed on Node; on Bun read
    // by `arrayBuffer()`, which shows no progress: its waiters wait for its end (docs/reliability.md).
    ...(RUNTIME === "bun" ? [] : [["read whole", 200_000]] as const),
  ] as const;
  for (const [name, size] of cases) {
    await t.step(name, async () => {
      const body = patterned(size);
      let stall!: () => void;
      const stalled = new Promise<void>((resolve) => stall = resolve);
      let n = 0;
      const server = await loopback(async (_request, response: ServerResponse) => {
        response.writeHead(200, { "cache-control": "max-age=600", "content-length": String(size) });
        if (++n > 1) return void response.end(body);
        response.write(body.subarray(0, size / 2)); // then nothing more: the connection stays open
        await stalled;
        response.destroy();
      });
      // The waiters' patience, shortened (the cache's timers are armed with setTimeout).
      const setTimer = globalThis.setTimeout;
      globalThis.setTimeout = ((run: () => void, ms?: number) =>
        setTimer(run, ms === SHARED_BODY_WAIT ? 20 : ms)) as typeof setTimeout;
      const session = new CachedSession();
      try {
        const controller = new AbortController();
        const first = await session.fetch(server.url, { signal: controller.signal });
        const read = first.arrayBuffer().catch((error) =>
          error
        );
        // One waits on it while its caller still reads it, one comes after that caller gave up.
        const waiting = session.fetch(server.url);
        await delay(5);
        controller.abort(new DOMException("read timeout", "TimeoutError"));
        assertEquals((await read).name, "TimeoutError");
        const later = session.fetch(server.url);
        for (const [who, request] of [["waiting", waiting], ["later", later]] as const) {
          const response = await within(4000, request);
          assertEquals([response.fromCache, (await within(4000, response.arrayBuffer())).byteLength], [
            false,
            size,
          ], who);
        }
        assertEquals(server.hits <= 3, true, "the waiters ask the origin once each at most");
      } finally {
        globalThis.setTimeout = setTimer;
        stall();
        await session.close();
        await server.close();
      }
    });
  }
});
