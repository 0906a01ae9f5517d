/**
 * Third hunt for bugs in cache keys: URL forms, ignored parameters, matched headers, `keyFn`
 * keys and body keys — which requests share a key, and what a shared key may serve.
 */
import { equal, notEqual } from "node:assert/strict";
import { MemoryBackend } from "../backends/memory.ts";
import { CachedSession, createCacheKey } from "../mod.ts";
import { origin, reply } from "./_origin.ts";

Deno.test("keys3 hunt: a keyFn that leaves the method out never serves a GET what a HEAD or a POST stored", async () => {
  // A HEAD (stored by default) and a POST (when allowed) got the GET's key from a keyFn built on
  // the URL alone: a GET was then served the HEAD's empty body, or the POST's answer.
  const o = origin((request) =>
    reply(request.method === "HEAD" ? null : `${request.method} answer`, { "cache-control": "max-age=600" })
  );
  const session = new CachedSession({
    fetch: o.fetch,
    allowedMethods: ["GET", "HEAD", "POST"],
    keyFn: (request) => `by-path:${request.url.pathname}`,
  });
  const call = async (path: string, method: string) => {
    const response = await session.fetch(`http://127.0.0.1${path}`, { method });
    return `${response.fromCache} ${JSON.stringify(await response.text())}`;
  };
  try {
    equal(await call("/a", "HEAD"), 'false ""');
    equal(await call("/a", "GET"), 'false "GET answer"');
    equal(await call("/a", "GET"), 'true "GET answer"');
    equal(await call("/a", "HEAD"), 'true ""'); // (the GET's answers a HEAD)
    equal(await call("/b", "POST"), 'false "POST answer"');
    equal(await call("/b", "GET"), 'false "GET answer"');
    equal(await call("/b", "POST"), 'false "POST answer"');
    // At once: the POST waited for the GET under their one key, took its answer and was never sent.
    const [post, get] = await Promise.all([call("/c", "POST"), call("/c", "GET")]);
    equal(`${post} ${get}`, 'false "POST answer" false "GET answer"');
    equal(o.requests.filter((request) => request.method === "POST").length, 3);
  } finally {
    await session.close();
  }
});

Deno.test("keys3 hunt: a multipart body keyed as it is keeps its boundary in its key", async () => {
  // A body the key does not read as a form (here: transport padding after the first delimiter,
  // which RFC 2046 allows and Deno's formData() reads as the field q) was keyed without its
  // boundary: by the boundary it names the form holds q=books, by another it is no form at all.
  const body = '--A  \r\nContent-Disposition: form-data; name="q"\r\n\r\nbooks\r\n--A--\r\n';
  const key = (boundary: string) =>
    createCacheKey({
      method: "POST",
      url: new URL("http://127.0.0.1/search"),
      headers: new Headers({ "content-type": `multipart/form-data; boundary=${boundary}` }),
      body: new TextEncoder().encode(body),
    }, { ignoredParameters: new Set(), matchHeaders: [] });
  notEqual(await key("A"), await key("Z"));
  equal(await key("A"), await key("A"));
});

Deno.test("keys3 hunt: deleteUrls finds what each session stored, whatever characters its ignored names hold", async () => {
  // The sessions over a storage were told apart by their ignored names joined with "&": one that
  // ignores `a&b` (the name `a%26b=` gives) was taken for one that ignores `a` and `b`, and its
  // form of a URL was never looked for.
  const o = origin(() => reply("answer", { "cache-control": "max-age=600" }));
  const backend = new MemoryBackend();
  const first = new CachedSession({ backend, fetch: o.fetch, ignoredParameters: ["a&b"] });
  const second = new CachedSession({ backend, fetch: o.fetch, ignoredParameters: ["a", "b"] });
  const url = "http://127.0.0.1/list?a%26b=SECRET&c=2";
  try {
    await (await first.fetch(url)).text();
    equal(await first.cache.count(), 1);
    await second.cache.deleteUrls(url);
    equal(await first.cache.count(), 0);
  } finally {
    await second.close();
    await first.close();
  }
});

Deno.test("keys3 hunt: a multipart part that names its field twice is not left out of the key as an ignored one", async () => {
  // The key read a part's first `name`, the parsers of fetch's runtimes read its last: a part
  // sent as `name="api_key"; name="q"` was left out of the key as the ignored api_key, while the
  // origin read it as the field q. Whoever sent it chose what other users were served.
  const o = origin(async (request) => {
    // (Read as the parsers of Deno, Node 24 and Bun read it, by the part's last `name`: Node 22's
    // `formData()` refuses such a part, an origin's parser need not.)
    const body = await request.text();
    const name = [...body.matchAll(/name="([^"]*)"/g)].at(-1)?.[1];
    const value = /\r\n\r\n([^\r]*)\r\n/.exec(body)?.[1];
    return reply(`q=${name === "q" ? value : null}`, { "cache-control": "max-age=600" });
  });
  const session = new CachedSession({
    fetch: o.fetch,
    allowedMethods: ["GET", "POST"],
    ignoredParameters: ["api_key"],
  });
  const post = async (disposition: string, value: string) => {
    const response = await session.fetch("http://127.0.0.1/search", {
      method: "POST",
      headers: { "content-type": "multipart/form-data; boundary=XyZ" },
      body: `--XyZ\r\nContent-Disposition: form-data; ${disposition}\r\n\r\n${value}\r\n--XyZ--\r\n`,
    });
    return `${response.fromCache} ${await response.text()}`;
  };
  try {
    equal(await post('name="api_key"; name="q"', "chosen"), "false q=chosen");
    equal(await post('name="api_key"', "KEY-A"), "false q=null");
    equal(await post('name="api_key"', "KEY-B"), "true q=null"); // (an ignored field still is)
  } finally {
    await session.close();
  }
});
