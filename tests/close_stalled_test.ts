/**
 * `close()` returns however an origin behaves: bodies the origin stalls do not hold it up.
 */
import { equal } from "node:assert/strict";
import { CachedSession } from "../mod.ts";

Deno.test("close: bodies the origin stalls, dropped unread or still read whole before fetch resolves, do not hold close() up; neither is stored", async () => {
  const session = new CachedSession({
    fetch: (input) => {
      // The first 100 bytes, then nothing: the origin hangs.
      const body = new ReadableStream<Uint8Array>({
        start: (controller) => controller.enqueue(new Uint8Array(100)),
      });
      const headers: Record<string, string> = { "cache-control": "max-age=60" };
      // (A declared length is read whole before fetch resolves on Deno and Bun; it streams on Node.)
      if (String(input).endsWith("/declared")) headers["content-length"] = "1000";
      return Promise.resolve(new Response(body, { headers }));
    },
  });
  await session.fetch("http://127.0.0.1/chunked"); // dropped unread
  void session.fetch("http://127.0.0.1/declared").then((response) => response.body?.cancel());
  await new Promise((resolve) => setTimeout(resolve, 10)); // both at the origin
  await session.close(); // returned (the code before waited for ever)
  equal(await session.cache.count(), 0);
});
