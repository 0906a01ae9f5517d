/**
 * Promises of README.md and docs/*.md, checked one by one against the code where no other test
 * pinned them: each test names the page and the sentence it holds the code to.
 */
import { assertEquals } from "./_assert.ts";
import { reply } from "./_origin.ts";
import { CachedSession, DO_NOT_CACHE, NEVER_EXPIRE } from "../mod.ts";

/**
 * A fetch that answers every request with `headers` and counts its calls. It reads the URL
 * itself: Node's `Request` refuses one with userinfo.
 */
function countingOrigin(headers: Record<string, string>): { fetch: typeof fetch; calls: () => number } {
  let calls = 0;
  const fetch = ((input: RequestInfo | URL) => {
    calls++;
    return Promise.resolve(
      reply(`#${calls} ${input instanceof Request ? input.url : String(input)}`, headers),
    );
  }) as typeof globalThis.fetch;
  return { fetch, calls: () => calls };
}

/** Fetches `url` twice through `session`, reading each body; resolves to whether the second was a hit. */
async function twice(session: CachedSession, url: string): Promise<boolean> {
  await (await session.fetch(url)).text();
  const second = await session.fetch(url);
  await second.text();
  return second.fromCache;
}

// docs/expiration.md: patterns "are matched against the URL without its scheme (host/path?query)".
// They were matched against all of `href` after the scheme, userinfo included, so
// `"example.com/private/*": DO_NOT_CACHE` let `https://alice:pw@example.com/private/x` be stored
// and served (its stored URL, without the userinfo, then listed under the pattern's URLs).
Deno.test("docs2: a DO_NOT_CACHE pattern keeps out a URL with userinfo", async () => {
  const origin = countingOrigin({ "cache-control": "max-age=60" });
  const session = new CachedSession({
    fetch: origin.fetch,
    urlsExpireAfter: { "example.com/private/*": DO_NOT_CACHE },
  });
  try {
    assertEquals(await twice(session, "https://alice:pw@example.com/private/x"), false);
    assertEquals(origin.calls(), 2);
    assertEquals(await session.cache.count(), 0);
  } finally {
    await session.close();
  }
});

// The same for an expiration: `"example.com/static/*": NEVER_EXPIRE` gave nothing to a response
// without freshness of its own when the URL carried userinfo, so it was not stored at all.
Deno.test("docs2: a URL pattern's expiration applies to a URL with userinfo", async () => {
  const origin = countingOrigin({});
  const session = new CachedSession({
    fetch: origin.fetch,
    urlsExpireAfter: { "example.com/static/*": NEVER_EXPIRE },
  });
  try {
    assertEquals(await twice(session, "https://bob:pw@example.com/static/app.js"), true);
    assertEquals(origin.calls(), 1);
  } finally {
    await session.close();
  }
});

// A `Request`'s URL keeps its fragment, which is no part of where it points either: a pattern
// that a fragment alone matched sent `/home#private-notes` past the cache.
Deno.test("docs2: a URL pattern is not matched against the fragment", async () => {
  const origin = countingOrigin({ "cache-control": "max-age=60" });
  const session = new CachedSession({
    fetch: origin.fetch,
    urlsExpireAfter: { "*#private*": DO_NOT_CACHE },
  });
  try {
    assertEquals(await twice(session, "https://example.com/home#private-notes"), true);
    assertEquals(origin.calls(), 1);
  } finally {
    await session.close();
  }
});
