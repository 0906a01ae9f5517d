/**
 * How faithfully what `session.fetch` and the installed `fetch` do matches plain `fetch`, where a
 * hunt found they did not: the init members a wrapped fetch reads reach it for every request.
 *
 * @module
 */

import { CachedSession } from "../mod.ts";
import { assertEquals } from "./_assert.ts";

// A request with a body that the cache may store (a POST under allowedMethods) went to the
// wrapped fetch as a Request built from the init, with no init: the init's own members that the
// Request does not hold (Next.js's `next`, Cloudflare's `cf`) were lost, as they are not for a GET.
Deno.test("response: a request with a body keeps its init's non-standard members (next, cf) for the wrapped fetch", async () => {
  const seen: unknown[][] = [];
  const session = new CachedSession({
    allowedMethods: ["GET", "POST"],
    fetch: async (input, init) => {
      const request = new Request(input, init);
      const extras = init as { next?: unknown; cf?: unknown } | undefined;
      seen.push([request.method, await request.text(), extras?.next, extras?.cf]);
      return new Response("ok", { headers: { "cache-control": "max-age=60" } });
    },
  });
  class Init {
    method = "POST";
    body = "payload";
    next = { revalidate: 60 };
    cf = { cacheTtl: 5 };
  }
  const plain = { method: "POST", body: "other", next: { tags: ["a"] } };
  for (const init of [new Init(), plain, new Init()]) {
    const response = await session.fetch("http://127.0.0.1/form", init as RequestInit);
    assertEquals(await response.text(), "ok");
  }
  assertEquals(seen, [
    ["POST", "payload", { revalidate: 60 }, { cacheTtl: 5 }],
    ["POST", "other", { tags: ["a"] }, undefined],
  ]);
  await session.close();
});
