/**
 * A session's answers as fetch gives them, where they once differed: a null init, a status or
 * reason phrase the Response constructor refuses (with `filter`), a relative URL, the URL of an
 * only-if-cached 504.
 *
 * @module
 */
import { assertEquals } from "./_assert.ts";
import { CachedSession } from "../mod.ts";
import { origin, reply } from "./_origin.ts";

const URL_X = "http://127.0.0.1/x";

function cached(body = "hello") {
  const server = origin(() => reply(body, { "cache-control": "max-age=600" }));
  return { server, session: new CachedSession({ fetch: server.fetch, onError: () => {} }) };
}

Deno.test("a null init is no init, as for fetch: the request is answered, and from the cache", async () => {
  const { server, session } = cached();
  const first = await session.fetch(URL_X, null as unknown as RequestInit);
  assertEquals(await first.text(), "hello");
  const second = await session.fetch(URL_X, null as unknown as RequestInit);
  assertEquals([await second.text(), second.fromCache, server.calls], ["hello", true, 1]);
  await session.close();
});

Deno.test("with a filter, a status or reason phrase the Response constructor refuses still reaches the caller", async () => {
  for (const [status, statusText] of [[600, "Odd"], [999, ""], [200, "Gut \u2713"]] as const) {
    const server = origin(() => {
      const response = reply("body", { "cache-control": "max-age=600" });
      // As Node's fetch gives them: a status above 599, a reason phrase in UTF-8.
      return Object.defineProperties(response, {
        status: { value: status },
        statusText: { value: statusText },
      });
    });
    const errors: unknown[] = [];
    const session = new CachedSession({
      fetch: server.fetch,
      filter: () => true,
      onError: (e) => errors.push(e),
    });
    for (let i = 0; i < 2; i++) {
      const response = await session.fetch(URL_X);
      assertEquals([response.status, response.statusText, await response.text()], [
        status,
        statusText,
        "body",
      ]);
    }
    // Never stored as a record its own reads would call corrupt.
    assertEquals(errors, [], `${status} ${statusText}`);
    await session.close();
  }
});

Deno.test("a relative URL resolves against location (Deno's --location) and is cached like any other", async () => {
  const global = globalThis as { location?: unknown };
  const saved = Object.getOwnPropertyDescriptor(global, "location");
  Object.defineProperty(global, "location", {
    value: { href: "http://127.0.0.1/dir/" },
    configurable: true,
    writable: true,
  });
  try {
    const server = origin(() => reply("rel", { "cache-control": "max-age=600" }));
    // (The origin resolves what it gets as fetch would with --location.)
    const session = new CachedSession({
      fetch: (input, init) =>
        server.fetch(
          input instanceof Request ? input : new URL(String(input), "http://127.0.0.1/dir/"),
          init,
        ),
    });
    for (let i = 0; i < 2; i++) assertEquals(await (await session.fetch("page?a=1")).text(), "rel");
    assertEquals(server.calls, 1);
    assertEquals(server.requests[0]!.url, "http://127.0.0.1/dir/page?a=1");
    await session.close();
  } finally {
    if (saved) Object.defineProperty(global, "location", saved);
    else delete global.location;
  }
});

Deno.test("an only-if-cached 504's url has no fragment, as every fetch response's", async () => {
  const { session } = cached();
  const response = await session.fetch(URL_X + "?q=1#part", { cache: "only-if-cached", mode: "same-origin" });
  assertEquals([response.status, response.url], [504, URL_X + "?q=1"]);
  await session.close();
});
