/**
 * Bodies, second hunt, over a real loopback origin: request bodies of the methods the cache keys
 * on (`allowedMethods` beyond `GET` and `HEAD`), on every backend and runtime.
 */
import { CachedSession } from "../mod.ts";
import { assertEquals, assertInstanceOf } from "./_assert.ts";
import { BACKENDS, dispose, type Loopback, loopback } from "./_fixtures.ts";

const FRESH = { "cache-control": "max-age=600", "content-type": "text/plain" };

/** An origin that reads each request's body, then answers with its method and body length, fresh. */
async function withServer(test: (server: Loopback) => Promise<void>): Promise<void> {
  const server = await loopback(async (request, response) => {
    let length = 0;
    for await (const chunk of request) length += (chunk as Uint8Array).length;
    response.writeHead(200, FRESH).end(`${request.method} ${length}`);
  });
  try {
    await test(server);
  } finally {
    await server.close();
  }
}

// Was wrong: a request of a cacheable method sent without a body (a POST, say) was never cached
// when it had an abort signal (AbortSignal.timeout, an AbortController's): its missing body was
// read as a stream for the key, which failed, and the request went past the cache unreported.
Deno.test("bodies2: a POST without a body is stored and answered from the cache with an abort signal as without one", async (t) => {
  await withServer(async (server) => {
    for (const backend of BACKENDS) {
      await t.step({
        name: backend.name,
        ignore: backend.skip !== undefined,
        async fn() {
          const cache = await backend.open();
          const errors: unknown[] = [];
          const session = new CachedSession({
            backend: cache,
            allowedMethods: ["GET", "POST"],
            onError: (error) => errors.push(error),
          });
          const path = `/empty/${backend.name}`;
          const url = `${server.url}${path}`;
          try {
            const miss = await session.fetch(url, { method: "POST", signal: new AbortController().signal });
            assertEquals([miss.fromCache, await miss.text()], [false, "POST 0"]);
            const hit = await session.fetch(url, { method: "POST", signal: AbortSignal.timeout(60_000) });
            assertEquals([hit.fromCache, await hit.text()], [true, "POST 0"], "with a signal");
            // One key with a signal and without one, as for a request with a body.
            const plain = await session.fetch(url, { method: "POST" });
            assertEquals([plain.fromCache, await plain.text()], [true, "POST 0"], "without a signal");
            assertEquals(server.hitsOf(path), 1);
            assertEquals(errors, []);
          } finally {
            await session.close();
            await dispose(cache);
          }
        },
      });
    }
  });
});

// Was wrong: a request whose body fetch refuses (a Request whose body was read already) was
// reported to onError as a failure of the cache ("read"), though the cache did nothing wrong:
// it is the caller's error, and fetch throws it.
Deno.test("bodies2: a POST whose body fetch refuses fails as with fetch, and is no cache failure for onError", async () => {
  await withServer(async (server) => {
    const errors: unknown[] = [];
    const session = new CachedSession({
      allowedMethods: ["GET", "POST"],
      onError: (error) => errors.push(error),
    });
    try {
      const used = new Request(`${server.url}/used`, { method: "POST", body: "x" });
      await used.text();
      const failure = (call: () => Promise<Response>) =>
        call().then(() => undefined, (error: unknown) => error);
      const plain = await failure(() => fetch(used));
      assertInstanceOf(plain, TypeError);
      const cached = await failure(() => session.fetch(used));
      assertInstanceOf(cached, TypeError);
      assertEquals((cached as Error).message, (plain as Error).message);
      assertEquals(errors, []);
      assertEquals(server.hits, 0);
    } finally {
      await session.close();
    }
  });
});
