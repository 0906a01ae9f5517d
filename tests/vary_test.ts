/**
 * `Vary` across responses of one URL (RFC 9111 §4.1): a stored response is selected by its own
 * `Vary`, and of those that match, the most recent one is used. So a response whose `Vary` names
 * other headers than the stored one's (or the same ones in another order) is found again, and a
 * stale entry replaced by a response with a longer `Vary` list is not asked for on every request.
 * And a header named in `ignoredParameters`, in any case, never reaches the backend in clear.
 *
 * @module
 */

import { assertEquals } from "./_assert.ts";
import { CacheBackend } from "../backends/base.ts";
import { MemoryBackend, MemoryStorage } from "../backends/memory.ts";
import { CachedSession } from "../mod.ts";
import { Clock, origin, reply } from "./_origin.ts";
import { delay } from "./_fixtures.ts";
import { scripted, URL_A } from "./_scripted.ts";
import { as } from "./_vary.ts";
import { varyValues } from "../src/vary.ts";

/** A session whose origin answers with the `Vary` list `vary.list` holds at the time. */
function varying(vary: { list: string }, maxAge = 60) {
  return scripted((clock) => (request, n) =>
    reply(`#${n} ${request.headers.get("accept")} ${request.headers.get("accept-language")}`, {
      "cache-control": `max-age=${maxAge}`,
      vary: vary.list,
    }, { clock })
  );
}

Deno.test("Vary: a response that names other headers than the stored one's is found again", async () => {
  const vary = { list: "Accept" };
  const s = varying(vary);
  await s.get(as("a", "en"));
  assertEquals((await s.get(as("a", "en"))).response.fromCache, true);
  vary.list = "Accept-Language";
  const first = await s.get(as("b", "fr"));
  const again = await s.get(as("b", "fr"));
  assertEquals([first.body, again.body, again.response.fromCache], ["#2 b fr", "#2 b fr", true]);
  // The new response selects by Accept-Language alone: another Accept still matches it.
  assertEquals((await s.get(as("c", "fr"))).body, "#2 b fr");
  assertEquals(s.origin.calls, 2);
  await s.session.close();
});

Deno.test("Vary: a stale entry replaced by a response with a longer or reordered Vary list is served again", async () => {
  for (
    const [before, after] of [
      ["Accept", "Accept, Accept-Language"],
      ["Accept, Accept-Language", "Accept-Language, Accept"],
      ["Accept, Accept-Language", "Accept"],
    ]
  ) {
    const vary = { list: before! };
    const s = varying(vary, 10);
    await s.get(as("a", "en"));
    vary.list = after!;
    const served: [string, boolean][] = [];
    for (let i = 0; i < 3; i++) {
      s.clock.tick(11);
      for (const { body, response } of [await s.get(as("a", "en")), await s.get(as("a", "en"))]) {
        served.push([body, response.fromCache]);
      }
    }
    assertEquals(served, [
      ["#2 a en", false],
      ["#2 a en", true],
      ["#3 a en", false],
      ["#3 a en", true],
      ["#4 a en", false],
      ["#4 a en", true],
    ], `${before} -> ${after}`);
    await s.session.close();
  }
});

Deno.test("Vary: lists that name the same headers in another order select the same variants", async () => {
  const vary = { list: "Accept, Accept-Language" };
  const s = varying(vary);
  await s.get(as("a", "en"));
  vary.list = "Accept-Language, Accept";
  await s.get(as("b", "fr"));
  vary.list = "accept-language,ACCEPT";
  await s.get(as("c", "de"));
  const hits = [await s.get(as("a", "en")), await s.get(as("b", "fr")), await s.get(as("c", "de"))];
  assertEquals(hits.map(({ body, response }) => [body, response.fromCache]), [
    ["#1 a en", true],
    ["#2 b fr", true],
    ["#3 c de", true],
  ]);
  assertEquals(s.origin.calls, 3);
  await s.session.close();
});

Deno.test("Vary: of two stored responses that match a request, the most recent one is served", async () => {
  const vary = { list: "Accept" };
  const s = varying(vary);
  await s.get(as("a", "en"));
  await s.get(as("b", "en")); // a variant beside the first: Accept b
  vary.list = "Accept-Language";
  await s.get(as("c", "en")); // matches any Accept with Accept-Language en
  // Both "#2" (by Accept) and "#3" (by Accept-Language) match; "#3" is the newer.
  const { body, response } = await s.get(as("b", "en"));
  assertEquals([body, response.fromCache, s.origin.calls], ["#3 c en", true, 3]);
  await s.session.close();
});

Deno.test("Vary: a variant stored under names the origin dropped is not served once they come back, where a newer response matched", async () => {
  const vary = { list: "Accept" };
  const s = varying(vary);
  await s.get(as("a", "en")); // #1: the primary slot, by Accept
  await s.get(as("b", "en")); // #2 beside it: Accept b
  vary.list = "Accept-Language";
  await s.get(as("c", "fr")); // #3 takes the primary slot, by Accept-Language
  await s.get(as("c", "en")); // #4 beside it: Accept-Language en
  vary.list = "Accept";
  await s.get(as("d", "de")); // #5 takes the primary slot, by Accept again
  // "#2" (Accept b) and "#4" (Accept-Language en) both match; "#4" is the newer, and can no longer
  // be found: "#2" must not be served in its place.
  const { body, response } = await s.get(as("b", "en"));
  assertEquals([body, response.fromCache, s.origin.calls], ["#6 b en", false, 6]);
  // The variants stored from now on are found again.
  assertEquals((await s.get(as("b", "en"))).response.fromCache, true);
  await s.session.close();
});

Deno.test("Vary: a 304 that changes the Vary names starts a new generation of variants, as a new response does", async () => {
  const vary = { list: "Accept" };
  const s = scripted((clock) => (request, n) =>
    request.headers.get("if-none-match") === '"e1"'
      ? reply(null, { etag: '"e1"', "cache-control": "max-age=10", vary: vary.list }, { status: 304, clock })
      : reply(`#${n} ${request.headers.get("accept")} ${request.headers.get("accept-language")}`, {
        etag: `"e${n}"`,
        // (The first response goes stale twice while the others stay fresh.)
        "cache-control": n === 1 ? "max-age=10" : "max-age=600",
        vary: vary.list,
      }, { clock })
  );
  await s.get(as("a", "en")); // #1: the primary slot, by Accept (ETag "e1")
  await s.get(as("b", "fr")); // #2 beside it: Accept b
  vary.list = "Accept-Language";
  s.clock.tick(11);
  assertEquals((await s.get(as("a", "en"))).response.revalidated, true); // #1, now by Accept-Language en
  await s.get(as("b", "fr")); // #4 beside it: Accept-Language fr
  vary.list = "Accept";
  s.clock.tick(11);
  assertEquals((await s.get(as("a", "en"))).response.revalidated, true); // #1, by Accept again
  // "#2" (Accept b) and "#4" (Accept-Language fr) both match; "#4" is the newer: not "#2".
  const { body, response } = await s.get(as("b", "fr"));
  assertEquals([body, response.fromCache, s.origin.calls], ["#6 b fr", false, 6]);
  await s.session.close();
});

Deno.test("Vary: the variants stored beside a primary slot that was emptied are not served beside the response that takes it", async () => {
  const state = { gone: false };
  const s = scripted((clock) => (request, n) =>
    reply(state.gone ? "gone" : `#${n} ${request.headers.get("accept")}`, {
      "cache-control": "max-age=60, stale-if-error=600",
      vary: "Accept",
    }, { status: state.gone ? 404 : 200, clock })
  );
  const first = await s.get(as("a", "en")); // #1: the primary slot
  await s.get(as("b", "en")); // #2 beside it
  await s.session.cache.delete(first.response.cacheKey!); // evicted, say
  state.gone = true;
  assertEquals((await s.get(as("c", "en"))).response.status, 404); // takes the empty slot
  // The resource is gone: the 200 stored beside the slot before it was emptied is not served.
  const { body, response } = await s.get(as("b", "en"));
  assertEquals([response.status, body, response.fromCache], [404, "gone", false]);
  await s.session.close();
});

Deno.test("RFC 9111 §4.1: after a 304 that adds a field to Vary, a request with another value of it is not answered without validation", async () => {
  const s = scripted((clock) => (request, n) =>
    request.headers.get("if-none-match") === '"e1"'
      ? reply(null, { etag: '"e1"', "cache-control": "max-age=60", vary: "Accept-Language, Accept" }, {
        status: 304,
        clock,
      })
      : reply(`#${n} ${request.headers.get("accept")}`, {
        etag: '"e1"',
        "cache-control": "max-age=60",
        vary: "Accept-Language",
      }, { clock })
  );
  const asking = (accept: string) => ({ headers: { "accept-language": "en", accept } });
  await s.get(asking("text/html"));
  s.clock.tick(120);
  const revalidated = await s.get(asking("text/html"));
  assertEquals([revalidated.response.revalidated, revalidated.response.headers.get("vary")], [
    true,
    "Accept-Language, Accept",
  ]);
  // The stored response now varies on Accept: it was validated for text/html, not for JSON.
  const other = await s.get(asking("application/json"));
  assertEquals([other.response.fromCache && !other.response.revalidated, s.origin.calls], [false, 3]);
  // The request it was validated for is still answered from the cache.
  const same = await s.get(asking("text/html"));
  assertEquals([same.response.fromCache, same.response.revalidated], [true, false]);
  await s.session.close();
});

Deno.test("Vary: deletes by URL and inspection still find the variants stored under a former Vary list", async () => {
  const vary = { list: "Accept" };
  const s = varying(vary);
  await s.get(as("a", "en"));
  await s.get(as("b", "en"));
  vary.list = "Accept-Language";
  await s.get(as("c", "fr"));
  // The first primary was replaced; its variant (Accept b) is left to expire, but is listed.
  assertEquals(await s.session.cache.count({ urls: [URL_A] }), 2);
  assertEquals(await s.session.cache.delete({ urls: [URL_A] }), 2);
  assertEquals(await s.session.cache.count(), 0);
  await s.session.close();
});

/** Whether a secret is found anywhere in the records a storage holds. */
async function holds(storage: MemoryStorage, secret: string): Promise<boolean> {
  const latin1 = new TextDecoder("latin1");
  for await (const key of storage.keys("")) {
    const bytes = await storage.get(key);
    if (key.includes(secret) || (bytes !== undefined && latin1.decode(bytes).includes(secret))) return true;
  }
  return false;
}

Deno.test("Vary: a header named in ignoredParameters, in any case, is stored only as a digest", async () => {
  for (const name of ["x-api-key", "X-Api-Key", "X-API-KEY"]) {
    const storage = new MemoryStorage();
    // (The body does not repeat the key: the secret could only be stored with the variant.)
    const server = origin((_request, n) =>
      reply(`#${n}`, { "cache-control": "max-age=60", vary: "X-Api-Key" })
    );
    const session = new CachedSession({
      backend: new CacheBackend(storage),
      ignoredParameters: [name],
      fetch: server.fetch,
    });
    const get = async (key: string) => {
      const response = await session.fetch(URL_A, { headers: { "X-Api-Key": key } });
      return [await response.text(), response.fromCache];
    };
    // Requests with other keys still get responses of their own, each found again.
    const served = [
      await get("SECRET-1"),
      await get("SECRET-2"),
      await get("SECRET-1"),
      await get("SECRET-2"),
    ];
    assertEquals(served, [["#1", false], ["#2", false], ["#1", true], ["#2", true]], name);
    assertEquals([await holds(storage, "SECRET-1"), await holds(storage, "SECRET-2")], [false, false], name);
    await session.close();
  }
});

Deno.test("varyValues: an ignored header is concealed whatever the case of its configured name", () => {
  const headers = new Headers({ "x-api-key": "SECRET", accept: "text/html" });
  for (const name of ["x-api-key", "X-Api-Key"]) {
    const [[, key], [, accept]] = varyValues(["x-api-key", "accept"], headers, {
      ignoredParameters: new Set([name]),
    }) as [[string, string], [string, string]];
    assertEquals(
      [key.startsWith("\u0000"), key.includes("SECRET"), accept],
      [true, false, "text/html"],
      name,
    );
  }
});

Deno.test("Vary: a coalesced waiter's revalidation does not overwrite the variant in the primary slot", async () => {
  const clock = new Clock();
  let gate: Promise<void> = Promise.resolve();
  const o = origin(async (request) => {
    const variant = request.headers.get("accept") === "text/x-component" ? "rsc" : "html";
    const etag = `"${variant}"`;
    const headers = { "cache-control": "no-cache", vary: "Accept", etag };
    if (request.headers.get("if-none-match") === etag) return reply(null, headers, { status: 304, clock });
    if (variant === "rsc") await gate;
    return reply(`${variant} body`, headers, { clock });
  });
  const backend = new MemoryBackend();
  const session = new CachedSession({ backend, fetch: o.fetch, now: clock.fn });
  const get = async (accept: string) => {
    const response = await session.fetch("https://example.com/page", { headers: { accept } });
    return { body: await response.text(), revalidated: response.revalidated };
  };
  await get("text/html");
  let open!: () => void;
  gate = new Promise((resolve) => open = resolve);
  const both = Promise.all([get("text/x-component"), get("text/x-component")]);
  await delay(50); // the second request has joined the first
  open();
  assertEquals((await both).map((r) => r.body), ["rsc body", "rsc body"]);
  const html = await get("text/html");
  assertEquals(html, { body: "html body", revalidated: true });
  assertEquals(o.requests.at(-1)!.headers.get("if-none-match"), '"html"');
  await session.close();
});
