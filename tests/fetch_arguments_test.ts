/**
 * `session.fetch` takes what `fetch` takes: an init read as fetch reads it (a `Request` or a
 * class instance as init), the arguments fetch refuses refused on a hit too, and a request with
 * `integrity` left to fetch, which checks it.
 */
import { assertEquals, assertRejects } from "./_assert.ts";
import { CachedSession } from "../mod.ts";
import { reply } from "./_origin.ts";

const URL_X = "http://127.0.0.1/x";

/** A session over an origin that records what it receives: method, headers and body. */
function recording(options: { allowedMethods?: string[] } = {}) {
  const received: { method: string; headers: Record<string, string>; body: string }[] = [];
  const session = new CachedSession({
    ...options,
    fetch: async (input, init) => {
      const request = new Request(input, init);
      received.push({
        method: request.method,
        headers: Object.fromEntries(request.headers),
        body: await request.text(),
      });
      return reply(`v${received.length}`, { "cache-control": "max-age=600" });
    },
  });
  return { session, received };
}

Deno.test("an init that is a Request, or has its members on its prototype, is read as fetch reads it", async (t) => {
  await t.step("a Request as init: its method, headers and body reach the origin", async () => {
    const { session, received } = recording();
    const init = new Request(URL_X, { method: "POST", body: "payload", headers: { "x-a": "1" } });
    await (await session.fetch(URL_X, init)).text();
    assertEquals([received[0]!.method, received[0]!.headers["x-a"], received[0]!.body], [
      "POST",
      "1",
      "payload",
    ]);
    await session.close();
  });
  await t.step("headers from a getter: the origin gets them, as the key has them", async () => {
    const { session, received } = recording();
    class Init {
      get headers() {
        return { authorization: "Bearer alice" };
      }
    }
    await (await session.fetch(URL_X, new Init() as RequestInit)).text();
    assertEquals(received[0]!.headers.authorization, "Bearer alice");
    // Another user is not answered with it.
    const bob = await session.fetch(URL_X, { headers: { authorization: "Bearer bob" } });
    assertEquals([await bob.text(), bob.fromCache], ["v2", false]);
    await session.close();
  });
});

Deno.test("what fetch refuses is refused on a hit too, with a TypeError", async () => {
  const { session } = recording();
  await (await session.fetch(URL_X)).text();
  assertEquals((await session.fetch(URL_X)).fromCache, true);
  const refused: RequestInit[] = [
    { body: "x" },
    { method: "HEAD", body: "x" },
    { mode: "navigate" },
    { mode: "bogus" as RequestMode },
    { credentials: "bogus" as RequestCredentials },
  ];
  const post = new Request(URL_X, { method: "POST", body: "x" });
  const cases: [RequestInfo, RequestInit][] = [
    ...refused.map((init) => [URL_X, init] as [string, RequestInit]),
    [
      post,
      { method: "GET" },
    ],
  ];
  for (const [input, init] of cases) {
    // What this runtime's fetch refuses (Bun's Request lets some of these through).
    if (!refuses(input, init)) continue;
    await assertRejects(() => session.fetch(input, init), TypeError);
  }
  await session.close();
});

/** Whether this runtime's `Request` constructor, and so its fetch, refuses the arguments. */
function refuses(input: RequestInfo, init: RequestInit): boolean {
  try {
    new Request(input, init);
    return false;
  } catch {
    return true;
  }
}

Deno.test("a request with integrity bypasses the cache: fetch checks it, and the cache could not", async () => {
  const { session, received } = recording();
  await (await session.fetch(URL_X)).text();
  const integrity = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
  // (Bun's Request keeps no integrity, and its fetch checks none.)
  const request = new Request(URL_X, { integrity });
  const inputs: [RequestInfo, RequestInit | undefined][] = [[URL_X, { integrity }]];
  if (request.integrity === integrity) inputs.push([request, undefined]);
  for (const [input, init] of inputs) {
    const response = await session.fetch(input, init);
    await response.text();
    assertEquals(response.fromCache, false);
  }
  assertEquals(received.length, 1 + inputs.length);
  // Nothing it got was stored: the first response still answers.
  assertEquals(await (await session.fetch(URL_X)).text(), "v1");
  await session.close();
});

Deno.test("fetch arguments: a class-instance init keeps its own non-standard members (next, cf) for the wrapped fetch", async () => {
  const seen: Record<string, unknown>[] = [];
  const session = new CachedSession({
    fetch: (_input, init) => {
      seen.push({ ...init });
      return Promise.resolve(new Response("ok", { headers: { "cache-control": "max-age=60" } }));
    },
  });
  class Init {
    method = "GET";
    next = { revalidate: 60, tags: ["a"] };
    cf = { cacheTtl: 5 };
  }
  await (await session.fetch("http://127.0.0.1/x", new Init() as RequestInit)).text();
  assertEquals([seen[0]?.next, seen[0]?.cf], [{ revalidate: 60, tags: ["a"] }, { cacheTtl: 5 }]);
  await session.close();
});

Deno.test("fetch arguments: a URL that does not parse here (a relative one) reaches the wrapped fetch with a class-instance init whole", async () => {
  class Init {
    get method() {
      return "POST";
    }
    get body() {
      return "payload";
    }
    next = { revalidate: 5 };
  }
  const seen: unknown[][] = [];
  // A fetch that resolves relative URLs itself (a framework's, a test double).
  const session = new CachedSession({
    fetch: (input, init) => {
      seen.push([String(input), init?.method, init?.body, (init as { next?: unknown } | undefined)?.next]);
      return Promise.resolve(new Response("ok"));
    },
  });
  await (await session.fetch("/api/relative", new Init() as RequestInit)).text();
  assertEquals(seen, [["/api/relative", "POST", "payload", { revalidate: 5 }]]);
  await session.close();
});
