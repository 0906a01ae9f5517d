/**
 * Second hunt for bugs in cache keys: which requests share a key (URL forms, ignored parameters,
 * matched headers, bodies) and how deletes and invalidations find what they key.
 */
import { equal } from "node:assert/strict";
import { CachedSession } from "../mod.ts";
import { origin, reply } from "./_origin.ts";

Deno.test("keys2 hunt: a data: URL is keyed whole, as its query is part of what it holds", async () => {
  // Its query was sorted and stripped of ignored parameters, as an HTTP query is: fetch answers a
  // data: URL with its text, query included, so `…,hi?b=2&a=1` was served what `…,hi?a=1&b=2` holds.
  const session = new CachedSession({ expireAfter: 600, ignoredParameters: ["api_key"] });
  const get = async (url: string) => {
    const response = await session.fetch(url);
    return `${response.fromCache} ${await response.text()}`;
  };
  try {
    equal(await get("data:text/plain,hi?b=2&a=1"), "false hi?b=2&a=1");
    equal(await get("data:text/plain,hi?a=1&b=2"), "false hi?a=1&b=2");
    equal(await get("data:text/plain,hi?api_key=SECRET-A"), "false hi?api_key=SECRET-A");
    equal(await get("data:text/plain,hi?api_key=SECRET-B"), "false hi?api_key=SECRET-B");
    equal(await get("data:text/plain,hi?b=2&a=1"), "true hi?b=2&a=1"); // (still stored)
    // The entries are found by the URLs they list.
    await session.cache.deleteUrls(...await session.cache.urls());
    equal(await session.cache.count(), 0);
  } finally {
    await session.close();
  }
});

Deno.test("keys2 hunt: an ignored JSON field is left out of the key whatever number it holds", async () => {
  // docs/cache-keys.md: ignored parameters are removed from JSON bodies "whatever their value". A
  // number JavaScript writes back otherwise (a request id beyond 2^53, `1.0`) anywhere in the text
  // kept the whole body raw, ignored field included: no two such requests ever shared an entry.
  const o = origin(() => reply("answer", { "cache-control": "max-age=600" }));
  const session = new CachedSession({
    fetch: o.fetch,
    allowedMethods: ["GET", "POST"],
    ignoredParameters: ["request_id"],
  });
  const post = async (body: string) => {
    const response = await session.fetch("http://127.0.0.1/query", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    await response.text();
    return response.fromCache;
  };
  try {
    equal(await post('{"request_id":1789012345678901234,"q":"books"}'), false);
    equal(await post('{"q":"books","request_id":1789012345678901299}'), true);
    equal(await post('{"request_id":{"at":1.50,"n":[1e2]},"q":"books"}'), true);
    // Given twice, it is still left out: whichever an origin reads, it is ignored.
    equal(await post('{"request_id":1,"q":"books","request_id":2}'), true);
    equal(o.calls, 1);
    // Elsewhere such a number, or a key given twice, still keeps the body raw: no entry shared.
    equal(await post('{"request_id":1,"q":"books","n":1.0}'), false);
    equal(await post('{"request_id":1,"q":"books","n":1}'), false);
    equal(await post('{"q":"books","q":"books"}'), false);
    equal(await post('{"q":"books","x":{"a":1,"a":1}}'), false);
    equal(await post('{"q":"books","x":{"a":1}}'), false);
    equal(await post('{"q":"books","x":{"a":1}}'), true);
    equal(o.calls, 6);
  } finally {
    await session.close();
  }
});

Deno.test("keys2 hunt: a keyFn that edits the URL it is given changes the key alone, not what is asked or stored", async () => {
  // keyFn was handed the request's own URL: one that dropped a parameter from it (to leave it out
  // of the key) dropped it from what the origin was asked for a URL input, and from what was stored.
  const o = origin((request) => reply(`for ${request.url}`, { "cache-control": "max-age=600" }));
  const session = new CachedSession({
    fetch: o.fetch,
    keyFn: (request, defaultKey) => {
      request.url.searchParams.delete("ts");
      return defaultKey();
    },
  });
  const get = async (url: string | URL) => {
    const response = await session.fetch(url);
    return `${response.fromCache} ${await response.text()}`;
  };
  try {
    equal(await get(new URL("http://127.0.0.1/b?ts=1&q=x")), "false for http://127.0.0.1/b?ts=1&q=x");
    equal(await get("http://127.0.0.1/a?ts=1&q=x"), "false for http://127.0.0.1/a?ts=1&q=x");
    // The key is the edited URL's: another ts shares the entry.
    equal(await get(new URL("http://127.0.0.1/b?ts=2&q=x")), "true for http://127.0.0.1/b?ts=1&q=x");
    equal(
      (await session.cache.urls()).sort().join(" "),
      "http://127.0.0.1/a?ts=1&q=x http://127.0.0.1/b?ts=1&q=x",
    );
  } finally {
    await session.close();
  }
});
