/**
 * How faithfully a `CachedResponse` matches what plain `fetch` gives, a third pass: the `url` of a
 * response served from the cache to a request whose URL has userinfo.
 *
 * @module
 */

import { deepEqual } from "node:assert/strict";
import { CachedSession } from "../mod.ts";
import { reply } from "./_origin.ts";

/**
 * An origin that answers every URL, the response's `url` the one it was asked for (without its
 * fragment), as fetch gives it. It reads the URL itself: Node's `Request` refuses userinfo.
 */
function userinfoOrigin(): typeof fetch {
  return ((input: RequestInfo | URL) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    url.hash = "";
    const response = reply(`for ${url.username}`, { "cache-control": "max-age=600", etag: '"v1"' });
    return Promise.resolve(Object.defineProperty(response, "url", { value: url.href }));
  }) as typeof fetch;
}

// A hit's `url` lacked the URL's userinfo, which fetch's response (Deno, Bun) and the miss had: the
// stored URL is kept without it (a credential), and was served as it is.
Deno.test("response3: a response served from the cache to a URL with userinfo has the url fetch and the miss gave", async () => {
  const session = new CachedSession({ fetch: userinfoOrigin(), allowedMethods: ["GET", "HEAD"] });
  try {
    const url = "http://alice:pw@127.0.0.1/private?page=1";
    const miss = await session.fetch(`${url}#top`);
    await miss.text();
    const hit = await session.fetch(`${url}#top`);
    const head = await session.fetch(url, { method: "HEAD" });
    const notModified = await session.fetch(url, { headers: { "if-none-match": '"v1"' } });
    const served = [miss, hit, hit.clone(), head, notModified].map((r) => [r.status, r.fromCache, r.url]);
    deepEqual(served, [
      [200, false, url],
      [200, true, url],
      [200, true, url],
      [200, true, url],
      [304, true, url],
    ]);
    await hit.text();
    // Each user's own entry, served with that user's URL; one without userinfo gets none.
    const other = await session.fetch("http://bob:pw2@127.0.0.1/private?page=1");
    await other.text();
    const plain = await session.fetch("http://127.0.0.1/private?page=1");
    await plain.text();
    const again = [
      await session.fetch("http://bob:pw2@127.0.0.1/private?page=1"),
      await session.fetch("http://127.0.0.1/private?page=1"),
    ];
    deepEqual(await Promise.all(again.map(async (r) => [r.fromCache, r.url, await r.text()])), [
      [true, "http://bob:pw2@127.0.0.1/private?page=1", "for bob"],
      [true, "http://127.0.0.1/private?page=1", "for "],
    ]);
  } finally {
    await session.close();
  }
});
