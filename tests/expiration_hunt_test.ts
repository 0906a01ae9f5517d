/**
 * Expiration options (`expireAfter`, `urlsExpireAfter`, the session's stale windows) and how they
 * meet the response's own directives: behaviours that docs/expiration.md promises and that did
 * not hold. Against a scripted origin and an injected clock.
 *
 * @module
 */

import { assertEquals, assertThrows } from "./_assert.ts";
import { CachedSession, DO_NOT_CACHE, NEVER_EXPIRE } from "../mod.ts";
import { compileUrlPatterns } from "../src/expiration.ts";
import { reply } from "./_origin.ts";
import { refreshing, scripted } from "./_scripted.ts";

/** How many of two requests for each URL went to the origin, under the patterns. */
async function originCalls(urlsExpireAfter: Record<string, number>, urls: string[]): Promise<number> {
  const s = scripted((clock) => (_r, n) => reply(`v${n}`, { "cache-control": "max-age=60" }, { clock }), {
    urlsExpireAfter,
  });
  for (const url of urls) for (let i = 0; i < 2; i++) await s.get({}, url);
  await s.session.close();
  return s.origin.calls;
}

// Node and Bun hold a `^` in a URL's path as `%5E`, Deno as it is: a pattern with `^` in its path
// matched only on Deno, so a DO_NOT_CACHE for it let the URL be cached on Node and Bun.
Deno.test("a urlsExpireAfter pattern with ^ in its path matches the URL in either form, on every runtime", async () => {
  const urls = ["http://127.0.0.1/v^2/a", "http://127.0.0.1/v%5E2/a"];
  assertEquals(await originCalls({ "127.0.0.1/v^2/*": DO_NOT_CACHE }, urls), 4);
});

// docs/expiration.md: "A pattern may carry a scheme (https://…); it is ignored". One with a
// wildcard scheme (`*://`, `http*://`) was kept and never matched a URL without its scheme.
Deno.test("a urlsExpireAfter pattern with a wildcard scheme has it ignored, as any scheme", async () => {
  assertEquals(await originCalls({ "*://127.0.0.1/live/*": DO_NOT_CACHE }, ["http://127.0.0.1/live/a"]), 2);
  assertEquals(
    await originCalls({ "http*://127.0.0.1/live/*": DO_NOT_CACHE }, ["http://127.0.0.1/live/a"]),
    2,
  );
  // A leading wildcard before a scheme-like word is no scheme: it still matches inside the URL.
  const lookup = compileUrlPatterns({ "*https://other.example/*": NEVER_EXPIRE });
  assertEquals(lookup(new URL("http://127.0.0.1/go?to=https://other.example/x")), NEVER_EXPIRE);
  assertEquals(lookup(new URL("https://other.example/x")), undefined);
});

// RFC 5861 §4, docs/expiration.md ("stored only when it can be used later: revalidated … or
// served stale (a stale-while-revalidate or stale-if-error window)"): a 200 without a lifetime or
// a validator whose own stale-if-error allowed serving it on errors was not stored (with the
// session's staleIfError, or a max-age=0 beside the directive, it was).
Deno.test("a response without a lifetime is stored for its own stale-if-error window", async () => {
  const s = scripted((clock) => (_r, n) =>
    n === 1
      ? reply("v1", { "cache-control": "stale-if-error=60" }, { clock })
      : reply("down", {}, { status: 503 })
  );
  await s.get();
  s.clock.tick(30);
  const { response, body } = await s.get();
  assertEquals([body, response.status, response.fromCache, response.isExpired], ["v1", 200, true, true]);
  s.clock.tick(40);
  assertEquals((await s.get()).body, "down", "past its window");
  await s.session.close();
});

// The same for its own stale-while-revalidate: served at once while it is refreshed.
Deno.test("a response without a lifetime is stored for its own stale-while-revalidate window", async () => {
  const s = refreshing((clock) => (_r, n) =>
    reply(`v${n}`, { "cache-control": "stale-while-revalidate=60" }, { clock })
  );
  assertEquals(await s.served(), "v1:false");
  s.clock.tick(10);
  assertEquals(await s.served(), "v1:true");
  assertEquals([await s.served(), s.origin.calls], ["v2:true", 3]);
  await s.session.close();
});

// A window the response's directives forbid using (must-revalidate) still leaves it unstored.
Deno.test("a response without a lifetime whose stale window is forbidden stays unstored", async () => {
  const s = scripted((clock) => (_r, n) =>
    n === 1
      ? reply("v1", { "cache-control": "stale-if-error=60, must-revalidate" }, { clock })
      : reply("down", {}, { status: 503 })
  );
  await s.get();
  s.clock.tick(1);
  assertEquals((await s.get()).body, "down");
  await s.session.close();
});

// The message named a BigInt as the number it is not: "received 10", which reads as valid.
Deno.test("an expireAfter given as a BigInt is refused with a message that shows it as one", () => {
  assertThrows(
    () => new CachedSession({ expireAfter: 10n as unknown as number }),
    TypeError,
    "Cannot create CachedSession: expireAfter must be seconds >= 0, a valid Date, NEVER_EXPIRE (-1), EXPIRE_IMMEDIATELY (0) or DO_NOT_CACHE (-2): received 10n",
  );
});
