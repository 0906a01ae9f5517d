/**
 * Cache keys as options shape them: `matchHeaders` (request headers whose values split entries),
 * `shared` (a shared cache's keys are its own) and your own key, `keyFn`: what it receives, how
 * it extends the default key, and what happens when it returns something that is not a key or
 * throws (the request is answered by the origin and the problem reaches `onError`; nothing is
 * stored under a bad key). And the default key's canonical form: what it merges (the URL parts and
 * orders the documentation lists, JSON key order and whitespace) and what it never merges (two
 * requests an origin tells apart by their bytes).
 *
 * @module
 */

import { deepEqual, equal, match, notEqual, ok } from "node:assert/strict";
import {
  CachedSession,
  type CacheRequestInit,
  createCacheKey,
  type ErrorContext,
  type KeyRequest,
} from "../mod.ts";
import { redactUrl, urlKeyPrefix } from "../src/cache_keys.ts";
import { origin, reached, reply } from "./_origin.ts";

const FRESH = { "cache-control": "max-age=60" };

function counting() {
  return origin((_request, n) => reply(`response ${n}`, FRESH));
}

Deno.test("matchHeaders: requests that differ in a matched header get entries of their own; other headers do not split", async () => {
  const server = counting();
  const session = new CachedSession({ fetch: server.fetch, matchHeaders: ["X-Version", "accept"] });
  const seen: string[] = [];
  const requests: Record<string, string>[] = [
    {},
    { "x-version": "1" },
    { "x-version": "2" },
    { "X-Version": "1", "user-agent": "other" },
    { "x-version": "1", accept: "text/plain" },
    {},
  ];
  for (const headers of requests) {
    const response = await session.fetch("http://127.0.0.1/item", { headers });
    seen.push(`${await response.text()}:${response.fromCache}`);
  }
  deepEqual(seen, [
    "response 1:false",
    "response 2:false",
    "response 3:false",
    "response 2:true",
    "response 4:false",
    "response 1:true",
  ]);
  // The option's names are compared whatever their case and order.
  const same = new CachedSession({ fetch: server.fetch, matchHeaders: ["ACCEPT", "x-version", "accept"] });
  const init = { headers: { "x-version": "1", accept: "text/plain" } };
  const [a, b] = [
    await session.fetch("http://127.0.0.1/item", init),
    await same.fetch("http://127.0.0.1/item", init),
  ];
  await Promise.all([a.text(), b.text()]);
  equal(a.cacheKey, b.cacheKey);
  await session.close();
  await same.close();
});

Deno.test("shared: a shared cache's keys differ from a private cache's, and keep the URL part that deletes by URL find", async () => {
  const key = (shared: boolean, headers: HeadersInit = {}) =>
    createCacheKey({ method: "GET", url: new URL("http://127.0.0.1/item"), headers: new Headers(headers) }, {
      ignoredParameters: new Set(),
      matchHeaders: [],
      shared,
    });
  const alice = { authorization: "Bearer alice" };
  const keys = [await key(false), await key(true), await key(false, alice), await key(true, alice)];
  equal(new Set(keys).size, 4, keys.join(" "));
  const [url] = keys;
  ok(keys.every((key) => key.startsWith(url!)), keys.join(" "));
  equal(await key(true), keys[1], "one request, one key");
});

Deno.test("keyFn: a key built on the default one keeps tenants apart, lets one tenant's requests share, and is still found by URL", async () => {
  const server = counting();
  const session = new CachedSession({
    fetch: server.fetch,
    keyFn: async (request, defaultKey) => `${await defaultKey()}:${request.headers.get("x-tenant") ?? "-"}`,
  });
  const as = (tenant: string) => ({ headers: { "x-tenant": tenant } });
  const texts = [];
  for (const tenant of ["a", "b", "a", "b"]) {
    const response = await session.fetch("http://127.0.0.1/item", as(tenant));
    texts.push(`${tenant}:${await response.text()}:${response.fromCache}`);
  }
  deepEqual(texts, ["a:response 1:false", "b:response 2:false", "a:response 1:true", "b:response 2:true"]);
  const hit = await session.fetch("http://127.0.0.1/item", as("a"));
  await hit.body?.cancel();
  match(hit.cacheKey!, /^[A-Za-z0-9_-]{22}:a$/);
  // The key starts with the default key's URL part: deleting by URL finds every tenant's entry.
  equal(await session.cache.count(), 2);
  await session.cache.deleteUrls("http://127.0.0.1/item");
  equal(await session.cache.count(), 0);
  await session.close();
});

Deno.test("keyFn: it receives the normalised method, the URL, the headers and the body of a method that has one", async () => {
  const seen: KeyRequest[] = [];
  const session = new CachedSession({
    fetch: counting().fetch,
    allowedMethods: ["GET", "POST"],
    keyFn: (request, _defaultKey) => {
      seen.push(request);
      return `${request.method} ${request.url.pathname} ${new TextDecoder().decode(request.body)}`;
    },
  });
  const init: CacheRequestInit = {
    method: "post",
    body: '{"q":1}',
    headers: { "content-type": "application/json" },
  };
  const response = await session.fetch("http://127.0.0.1/search?x=1", init);
  await response.text();
  equal(seen.length, 1);
  const [request] = seen;
  deepEqual([request!.method, request!.url.href, request!.headers.get("content-type")], [
    "POST",
    "http://127.0.0.1/search?x=1",
    "application/json",
  ]);
  equal(response.cacheKey, 'POST /search {"q":1}');
  await session.close();
});

Deno.test("keyFn: a result that is not a key, or a keyFn that throws, sends the request to the origin and reaches onError", async () => {
  const results: unknown[] = [
    "",
    "~alias-like",
    "tab\there",
    "caf\u00e9",
    42,
    undefined,
    new Error("keyFn failed"),
  ];
  for (const result of results) {
    const server = counting();
    const errors: [unknown, ErrorContext][] = [];
    const session = new CachedSession({
      fetch: server.fetch,
      onError: (error, context) => errors.push([error, context]),
      keyFn: () => {
        if (result instanceof Error) throw result;
        return result as string;
      },
    });
    const texts = [];
    for (let i = 0; i < 2; i++) {
      const response = await session.fetch("http://127.0.0.1/item");
      texts.push(`${await response.text()}:${response.fromCache}`);
    }
    const label = String(result);
    deepEqual(texts, ["response 1:false", "response 2:false"], label);
    equal(errors.length, 2, label);
    const [error, context] = errors[0]!;
    deepEqual(context, { operation: "read", request: "GET http://127.0.0.1/item" }, label);
    if (result instanceof Error) equal(error, result);
    else {
      ok(error instanceof TypeError, label);
      match(error.message, /^keyFn must return a non-empty string of printable ASCII/, label);
    }
    equal(await session.cache.count(), 0, label);
    await session.close();
  }
});

Deno.test("keyFn: one that refuses where a redirect led keeps that response from being served again, and never fails a fetch", async () => {
  let served = 0;
  const fetch = () => {
    // What fetch gives after following a redirect from /old to /new.
    const response = reply(`response ${++served}`, FRESH);
    return Promise.resolve(reached(response, "/new"));
  };
  const errors: unknown[] = [];
  const session = new CachedSession({
    fetch,
    onError: (error) => errors.push(error),
    keyFn: (request, defaultKey) => {
      if (request.url.pathname === "/new") throw new Error("no key for /new");
      return defaultKey();
    },
  });
  const texts = [];
  for (let i = 0; i < 2; i++) {
    const response = await session.fetch("http://127.0.0.1/old");
    texts.push(`${await response.text()}:${response.fromCache}`);
  }
  // Without the alias of /new, a POST to /new could not find what /old stored: it is not served.
  deepEqual(texts, ["response 1:false", "response 2:false"]);
  ok(errors.length > 0 && errors.every((error) => (error as Error).message === "no key for /new"));
  await session.close();
});

Deno.test("keyFn: the headers of a request that has none are empty and cannot be changed (every such request shares them)", async () => {
  const server = counting();
  const errors: unknown[] = [];
  let calls = 0;
  const session = new CachedSession({
    fetch: server.fetch,
    onError: (error) => errors.push(error),
    keyFn: (request, defaultKey) => {
      equal(request.headers.get("x-tenant"), null);
      equal([...request.headers].length, 0);
      if (++calls === 1) request.headers.set("x-tenant", "a");
      return defaultKey();
    },
  });
  for (let i = 0; i < 2; i++) await (await session.fetch("http://127.0.0.1/item")).text();
  equal(errors.length, 1);
  ok(errors[0] instanceof TypeError);
  match((errors[0] as TypeError).message, /Cannot change the headers of a request that has none/);
  // The first request went to the origin uncached; the second was stored, and is a hit now.
  const hit = await session.fetch("http://127.0.0.1/item");
  deepEqual([await hit.text(), hit.fromCache, server.calls], ["response 2", true, 2]);
  await session.close();
});

Deno.test("default keys do not change from one version to the next: what an earlier version stored is still found", async () => {
  // Keys computed by the code of 52b6504, before a key with credentials, a redirect mode or a
  // matched header was computed without arrays (the same bytes are hashed); the JSON POST's since
  // a body's media type is in its key (record version 3). If this fails, a key
  // now stands for other requests than before, and records stored under the old keys would answer
  // them: bump RECORD_VERSION (src/record.ts) so that they read as misses, and write the new keys.
  const url = new URL("https://api.example.com/v1/items?b=2&a=1");
  const requests: KeyRequest[] = [
    { method: "GET", url, headers: new Headers() },
    { method: "GET", url, headers: new Headers({ authorization: "Bearer alice" }) },
    {
      method: "GET",
      url,
      headers: new Headers({ "accept-language": "fr", cookie: "id=1" }),
      redirect: "manual",
    },
    {
      method: "POST",
      url,
      headers: new Headers({ "content-type": "application/json" }),
      body: new TextEncoder().encode('{"q":1}'),
    },
  ];
  const keys = async (shared: boolean) => {
    const options = { ignoredParameters: new Set<string>(), matchHeaders: ["accept-language"], shared };
    return await Promise.all(requests.map((request) => createCacheKey(request, options)));
  };
  deepEqual(await keys(false), [
    "LO83YSO37sd8MYh0fzFRMw",
    "LO83YSO37sd8MYh0fzFRMw+cUu-6BBhvY91oZ4B_BG8Ug",
    "LO83YSO37sd8MYh0fzFRMw+rbPnA3x5U9Iid7HLWx0IYg",
    "4KzAVPXsMFje0R2xSy2qwg+c7usTxgH1mpKTeRTEle8ew",
  ]);
  deepEqual(await keys(true), [
    "LO83YSO37sd8MYh0fzFRMw+oZgSeViqP4FKx8IEn7LchA",
    "LO83YSO37sd8MYh0fzFRMw+ubbV23IOORx89wzPb_ydvA",
    "LO83YSO37sd8MYh0fzFRMw+AEnbWfuf2cW-rQHFqCfrVg",
    "4KzAVPXsMFje0R2xSy2qwg+kQ428HLBoZad_0w1sS5FRA",
  ]);
  // An ignored parameter, the order of a query, a port written out, a space as %20.
  const ignoring = { ignoredParameters: new Set(["api_key"]), matchHeaders: ["accept"] };
  const key = (url: string) =>
    createCacheKey({ method: "GET", url: new URL(url), headers: new Headers() }, ignoring);
  deepEqual(
    await Promise.all([
      key("https://Example.com:443/a?b=2&a=1&api_key=x#f"),
      key("http://127.0.0.1:8080/q?q=a%20b"),
    ]),
    [
      "gP1uIzEm126IcP5SvQECWA",
      "ZyyDXYyoWihsSeLEEnQAhA",
    ],
  );
});

/** The default key of a request, with `api_key` ignored. */
function keyOf(
  url: string,
  init: { method?: string; body?: string | Uint8Array; type?: string } = {},
): Promise<string> {
  const headers = new Headers(init.type === undefined ? {} : { "content-type": init.type });
  const body = typeof init.body === "string" ? new TextEncoder().encode(init.body) : init.body;
  return createCacheKey({ method: init.method ?? "GET", url: new URL(url), headers, body }, {
    ignoredParameters: new Set(["api_key"]),
    matchHeaders: [],
  });
}

/** The pairs among `pairs` whose keys are equal, as {@linkcode listed} lists them. */
async function sharing(pairs: [string, string][], key: (text: string) => Promise<string>): Promise<string[]> {
  const shared: [string, string][] = [];
  for (const [a, b] of pairs) if (await key(a) === await key(b)) shared.push([a, b]);
  return listed(shared);
}

/** Pairs as lines, so that a failure names them. */
function listed(pairs: [string, string][]): string[] {
  return pairs.map(([a, b]) => `${a} ${b}`);
}

Deno.test("URL keys: queries an origin tells apart get keys of their own (each parameter is keyed as written)", async () => {
  const pairs: [string, string][] = [
    // Invalid UTF-8: both decoded to U+FFFD.
    ["?name=%E8", "?name=%E9"],
    ["?q=%FF", "?q=%EF%BF%BD"],
    // A "+" and a "%20" were both written "+"; a name without "=" was written with one.
    ["?q=a+b", "?q=a%20b"],
    ["?flag", "?flag="],
    // The values of one name keep their order, whatever the spelling of the name.
    ["?a=1&a=2", "?a=2&a=1"],
    ["?a=1&%61=2", "?%61=2&a=1"],
  ];
  deepEqual(await sharing(pairs, (query) => keyOf(`https://example.com/search${query}`)), []);
});

Deno.test("URL keys: what the documentation lists still shares a key (case, default port, fragment, order, ignored parameters)", async () => {
  const pairs: [string, string][] = [
    ["HTTPS://Example.com:443/a?b=2&a=1#top", "https://example.com/a?a=1&b=2&api_key=x"],
    ["https://example.com/a?q=a+b&name=%E8&flag", "https://example.com/a?flag&name=%E8&api%5Fkey=x&q=a+b"],
    ["https://example.com/a?api_key=x", "https://example.com/a"],
    ["https://example.com/a#", "https://example.com/a"],
  ];
  deepEqual(await sharing(pairs, keyOf), listed(pairs));
});

/** The default key of a POST with this JSON body. */
const jsonKey = (body: string) =>
  keyOf("https://example.com/graphql", { method: "POST", body, type: "application/json" });

/** The default key of a POST with this form body. */
const formKey = (body: string) =>
  keyOf("https://example.com/form", { method: "POST", body, type: "application/x-www-form-urlencoded" });

Deno.test("body keys: JSON bodies an origin tells apart get keys of their own (no number is lost)", async () => {
  const pairs: [string, string][] = [
    // Beyond 2^53 both parsed to 9007199254740992; 1e400 to Infinity, written null.
    ['{"userId":9007199254740993}', '{"userId":9007199254740992}'],
    ['{"n":1e400}', '{"n":null}'],
    ['{"n":1.0}', '{"n":1}'],
    // A key given twice: the parse keeps the last, other parsers the first.
    ['{"a":1,"a":2}', '{"a":2}'],
  ];
  deepEqual(await sharing(pairs, jsonKey), []);
});

Deno.test("body keys: form bodies an origin tells apart get keys of their own (each parameter is keyed as written)", async () => {
  deepEqual(await sharing([["name=%E8", "name=%E9"], ["q=a+b", "q=a%20b"], ["flag", "flag="]], formKey), []);
});

Deno.test("body keys: bodies that are not UTF-8, or start with a byte order mark, are keyed as they are", async () => {
  const bytes = (...parts: (string | number)[]) =>
    new Uint8Array(
      parts.flatMap((part) => typeof part === "number" ? [part] : [...new TextEncoder().encode(part)]),
    );
  const post = (type: string, body: Uint8Array) =>
    keyOf("https://example.com/a", { method: "POST", body, type });
  const keys = [
    // Both bytes were decoded to U+FFFD.
    await post("application/json", bytes('{"s":"', 0xe8, '"}')),
    await post("application/json", bytes('{"s":"', 0xe9, '"}')),
    await post("application/x-www-form-urlencoded", bytes("name=", 0xe8)),
    await post("application/x-www-form-urlencoded", bytes("name=", 0xe9)),
    // The byte order mark was dropped: a parser that refuses it tells these apart.
    await post("application/json", bytes(0xef, 0xbb, 0xbf, '{"a":1}')),
    await post("application/json", bytes('{"a":1}')),
  ];
  equal(new Set(keys).size, keys.length);
});

Deno.test("body keys: the same raw bytes as other media types get keys of their own; the type's case and parameters do not count", async () => {
  const key = (type?: string) =>
    keyOf("https://api.example.com/q", { method: "POST", body: "<a/>", ...(type && { type }) });
  const types = ["application/xml", "text/plain", "text/html", "application/octet-stream"];
  const keys = await Promise.all([key(), ...types.map(key)]);
  equal(new Set(keys).size, keys.length, "one key per type, and one without");
  equal(await key("Application/XML; charset=utf-8"), keys[1]);
  equal(await key(" application/xml ;q=1"), keys[1]);
  // A body that is not what its type says is keyed raw, with that type: not as text of its bytes.
  notEqual(
    await keyOf("https://api.example.com/q", { method: "POST", body: "{", type: "application/json" }),
    await keyOf("https://api.example.com/q", { method: "POST", body: "{", type: "text/plain" }),
  );
});

Deno.test("body keys: JSON key order and whitespace, form parameter order and ignored parameters still share a key", async () => {
  const jsonPairs: [string, string][] = [
    ['{"b":[1,{"d":2.5,"c":-3}],"a":"x"}', '{ "a" : "x",\n  "b" : [ 1, { "c": -3, "d": 2.5 } ] }'],
    ['{"q":1,"api_key":"secret"}', '{"q":1}'],
    // What is in a string is no number, nor a key's colon.
    ['{"s":"a:1.0 \\" 2"}', '{ "s": "a:1.0 \\" 2" }'],
    ['{"s":"x\\\\","n":2}', '{ "n": 2, "s": "x\\\\" }'],
  ];
  deepEqual(await sharing(jsonPairs, jsonKey), listed(jsonPairs));
  const formPairs: [string, string][] = [["b=2&name=%E8&a=1", "a=1&api_key=x&b=2&name=%E8"]];
  deepEqual(await sharing(formPairs, formKey), listed(formPairs));
});

Deno.test("redactUrl: removes ignored parameters and leaves the rest of the query as written, in its order", () => {
  const ignored = new Set(["api_key"]);
  equal(
    redactUrl("https://example.com/a?q=a+b&api%5Fkey=x&flag&name=%E8#top", ignored),
    "https://example.com/a?q=a+b&flag&name=%E8#top",
  );
  equal(redactUrl("https://example.com/a?api_key=x", ignored), "https://example.com/a");
});

Deno.test("redactUrl: removes userinfo, which fetch sends as a credential; the key keeps it among the credentials, in its digest only", async () => {
  const none = new Set<string>();
  equal(redactUrl("https://alice:s3cret@example.com/a?b=1#top", none), "https://example.com/a?b=1#top");
  equal(redactUrl("https://alice@example.com/a", none), "https://example.com/a");
  equal(
    redactUrl("https://alice:s3cret@example.com/a?api_key=x&b=1", new Set(["api_key"])),
    "https://example.com/a?b=1",
  );
  equal(redactUrl("https://example.com/a?mail=a@b", none), "https://example.com/a?mail=a@b");
  const urls = ["https://alice:a@example.com/a", "https://bob:b@example.com/a", "https://example.com/a"];
  const key = (url: string) =>
    createCacheKey({ method: "GET", url: new URL(url), headers: new Headers() }, {
      ignoredParameters: none,
      matchHeaders: [],
    });
  const keys = await Promise.all(urls.map(key));
  equal(new Set(keys).size, 3, "users never share a key");
  // The URL's part is the same for all: deletes by the URL as listed find every user's entry.
  equal(new Set(urls.map((url) => urlKeyPrefix("GET", new URL(url)))).size, 1);
  ok(keys.every((each) => each.startsWith(urlKeyPrefix("GET", new URL(urls[2]!)))));
});

Deno.test("ignoredParameters: a header name matches in any case, a query parameter only as written", async () => {
  const key = (url: string, apiKey: string, ignored: string) =>
    createCacheKey({ method: "GET", url: new URL(url), headers: new Headers({ "X-Api-Key": apiKey }) }, {
      ignoredParameters: new Set([ignored]),
      matchHeaders: ["x-api-key"],
    });
  // Header names are case-insensitive (RFC 9110 §5.1): the matched header's value is left out.
  for (const ignored of ["x-api-key", "X-Api-Key", "X-API-KEY"]) {
    equal(
      await key("https://example.com/a", "one", ignored),
      await key("https://example.com/a", "two", ignored),
    );
  }
  // (Not ignored, its value splits keys.)
  ok(
    await key("https://example.com/a", "one", "accept") !==
      await key("https://example.com/a", "two", "accept"),
  );
  // Query parameter names are case-sensitive: an origin may read `API_KEY` and `api_key` apart.
  ok(await keyOf("https://example.com/a?API_KEY=1") !== await keyOf("https://example.com/a?API_KEY=2"));
  equal(await keyOf("https://example.com/a?api_key=1"), await keyOf("https://example.com/a?api_key=2"));
});

Deno.test("body keys: a body that implies its Content-Type (a form, a typed Blob) is keyed the same in an init and in a Request", async () => {
  const server = origin((_request, n) => reply(`answer ${n}`, { "cache-control": "max-age=60" }));
  const session = new CachedSession({ fetch: server.fetch, allowedMethods: ["GET", "POST"] });
  const url = "http://127.0.0.1/search";
  const json = (text: string) => new Blob([text], { type: "application/json" });
  const ways = [
    () => session.fetch(url, { method: "POST", body: new URLSearchParams("b=2&a=1") }),
    () => session.fetch(new Request(url, { method: "POST", body: new URLSearchParams("a=1&b=2") })),
    () => session.fetch(url, { method: "POST", body: json('{"b":2,"a":1}') }),
    () => session.fetch(new Request(url, { method: "POST", body: json('{ "a": 1, "b": 2 }') })),
  ];
  const served = [];
  for (const way of ways) {
    const response = await way();
    served.push([response.fromCache, await response.text()]);
  }
  deepEqual(served, [[false, "answer 1"], [true, "answer 1"], [false, "answer 2"], [true, "answer 2"]]);
  await session.close();
});

/** A multipart form with this boundary, of these fields (name, then what follows the name's line). */
function multipart(boundary: string, fields: [string, string][], epilogue = "\r\n"): string {
  const parts = fields.map(([name, rest]) =>
    `--${boundary}\r\nContent-Disposition: form-data; name="${name}"${rest}`
  );
  return `${parts.join("\r\n")}\r\n--${boundary}--${epilogue}`;
}

/** The default key of a POST with this multipart body. */
const multipartKey = (boundary: string, body: string) =>
  keyOf("https://example.com/upload", {
    method: "POST",
    body,
    type: `multipart/form-data; boundary=${boundary}`,
  });

Deno.test("body keys: a multipart form is keyed without its boundary, and without its ignored fields", async () => {
  const fields: [string, string][] = [["a", "\r\n\r\n1"], [
    "f",
    '; filename="f.txt"\r\nContent-Type: text/plain\r\n\r\nhi',
  ]];
  const key = await multipartKey("x1", multipart("x1", fields));
  equal(await multipartKey('"y-2"', multipart("y-2", fields)), key);
  equal(await multipartKey("z3", multipart("z3", [["api_key", "\r\n\r\nsecret"], ...fields])), key);
  // What an origin reads apart keeps keys apart: a value, the fields' order, a file's name.
  const apart = [
    multipart("x1", [["a", "\r\n\r\n2"], fields[1]!]),
    multipart("x1", [fields[1]!, fields[0]!]),
    multipart("x1", [fields[0]!, ["f", '; filename="g.txt"\r\nContent-Type: text/plain\r\n\r\nhi']]),
    // A field's value that holds what looks like a delimiter of another boundary.
    multipart("x1", [["a", "\r\n\r\n1\r\n--y-2"], fields[1]!]),
  ];
  for (const body of apart) ok(await multipartKey("x1", body) !== key, body);
});

Deno.test("body keys: a body that is not laid out as multipart says is keyed as it is", async () => {
  const body = (boundary: string) => `--${boundary}\r\nContent-Disposition: form-data; name="a"\r\n\r\n1`;
  // No closing delimiter: the two differ in their boundaries, and so in their keys.
  ok(await multipartKey("x1", body("x1")) !== await multipartKey("y2", body("y2")));
  // No boundary in the type.
  const unbounded = (text: string) =>
    keyOf("https://example.com/upload", { method: "POST", body: text, type: "multipart/form-data" });
  ok(
    await unbounded(multipart("x1", [["a", "\r\n\r\n1"]])) !==
      await unbounded(multipart("y2", [["a", "\r\n\r\n1"]])),
  );
});

Deno.test("body keys: a FormData POST is answered from the cache the second time (fetch draws a new boundary each time)", async () => {
  const server = origin((_request, n) => reply(`answer ${n}`, { "cache-control": "max-age=60" }));
  const session = new CachedSession({ fetch: server.fetch, allowedMethods: ["GET", "POST"] });
  const form = (value: string) => {
    const data = new FormData();
    data.append("q", value);
    data.append("file", new Blob(["bytes"], { type: "text/plain" }), "f.txt");
    return data;
  };
  const served = [];
  for (const value of ["one", "one", "two"]) {
    const response = await session.fetch("http://127.0.0.1/upload", { method: "POST", body: form(value) });
    served.push([response.fromCache, await response.text()]);
  }
  deepEqual(served, [[false, "answer 1"], [true, "answer 1"], [false, "answer 2"]]);
  await session.close();
});

Deno.test("body keys: a multipart part is ignored by the name in its Content-Disposition only, not by a name in another field", async () => {
  const part = (report: string) =>
    `--XyZ\r\nContent-Type: application/pdf; name="api_key"\r\n` +
    `Content-Disposition: form-data; name="report"; filename="r.pdf"\r\n\r\n${report}\r\n--XyZ--\r\n`;
  ok(await multipartKey("XyZ", part("first report")) !== await multipartKey("XyZ", part("second report")));
});

Deno.test("body keys: a multipart part whose field name is not ASCII is ignored by that name, as a JSON or form field is", async () => {
  const key = (ignored: string, value: string) => {
    const data = new FormData();
    data.append("q", "1");
    data.append("café", value);
    const request = new Request("https://example.com/upload", { method: "POST", body: data });
    // (Taken before the body is read: Bun drops the Content-Type it implied once it has been.)
    const headers = new Headers(request.headers);
    return request.arrayBuffer().then((bytes) =>
      createCacheKey({
        method: "POST",
        url: new URL(request.url),
        headers,
        body: new Uint8Array(bytes),
      }, { ignoredParameters: new Set([ignored]), matchHeaders: [] })
    );
  };
  // FormData writes the name in UTF-8; ignoredParameters names it as a string.
  equal(await key("café", "A"), await key("café", "B"));
  ok(await key("other", "A") !== await key("other", "B"));
});

Deno.test("createCacheKey: the session's own spelling of matchHeaders and a lower-case method give the session's key", async () => {
  const server = origin(() => reply("x", { "cache-control": "max-age=60" }));
  const options = { matchHeaders: ["Accept-Language", "X-Version"], ignoredParameters: ["api_key"] };
  const session = new CachedSession({ fetch: server.fetch, ...options });
  const url = "http://127.0.0.1/a?api_key=1";
  const headers = { "accept-language": "fr", "x-version": "2" };
  const response = await session.fetch(url, { headers });
  await response.text();
  for (
    const [method, matchHeaders] of [["GET", options.matchHeaders], ["get", [
      "x-version",
      "accept-language",
    ]]] as const
  ) {
    const key = await createCacheKey(
      { method, url: new URL(url), headers: new Headers(headers) },
      { matchHeaders, ignoredParameters: new Set(options.ignoredParameters) },
    );
    equal(key, response.cacheKey, `${method} ${matchHeaders.join(",")}`);
    ok(await session.cache.get(key));
  }
  await session.close();
});
