/**
 * RFC 9111 storage and reuse rules beyond freshness, a second pass: what a 304 keeps of how a
 * stored response is selected (§3.2, §4.1).
 *
 * @module
 */

import { assertEquals } from "./_assert.ts";
import { reply } from "./_origin.ts";
import { scripted } from "./_scripted.ts";

// RFC 9111 §4.1 with §3.2: a qualified `no-cache="Vary"` (or, in a shared cache, `private="Vary"`)
// keeps the Vary field out of what is stored, but the response still varies on X-A. A 304 that
// freshened it read the Vary names from the stored fields alone, found none, and from then on
// served the X-A: 1 response to a request with X-A: 2.
Deno.test("a 304 keeps a response matched on its Vary though its Vary field is not stored", async () => {
  const cases = [
    { directive: 'no-cache="Vary"', options: {} },
    { directive: 'private="Vary"', options: { shared: true } },
  ];
  for (const { directive, options } of cases) {
    const fields = { "cache-control": `max-age=10, ${directive}`, vary: "X-A", etag: '"e"' };
    const s = scripted(
      (clock) => (request, n) =>
        request.headers.has("if-none-match")
          ? reply(null, fields, { status: 304, clock })
          : reply(`v${n} for ${request.headers.get("x-a")}`, fields, { clock }),
      options,
    );
    await s.get({ headers: { "x-a": "1" } });
    s.clock.tick(20);
    const revalidated = await s.get({ headers: { "x-a": "1" } });
    assertEquals([revalidated.body, revalidated.response.revalidated], ["v1 for 1", true], directive);
    const other = await s.get({ headers: { "x-a": "2" } });
    assertEquals([other.body, other.response.fromCache], ["v3 for 2", false], directive);
    const again = await s.get({ headers: { "x-a": "1" } });
    assertEquals([again.body, again.response.fromCache], ["v1 for 1", true], directive);
    await s.session.close();
  }
});

// RFC 7725 §3: "451 responses are cacheable by default", as a 404 or 410 is: a legal block the
// origin sends with a Last-Modified is reused by heuristic freshness, and under `must-understand`
// it is a status the cache understands.
Deno.test("a 451 is cached by heuristic freshness, and is understood under must-understand", async () => {
  for (const cc of [undefined, "max-age=600, must-understand, no-store"]) {
    const s = scripted((clock) => (_request, n) =>
      reply(`blocked #${n}`, {
        "last-modified": new Date(clock.now - 100 * 86_400_000).toUTCString(),
        ...(cc === undefined ? {} : { "cache-control": cc }),
      }, { status: 451, clock })
    );
    await s.get();
    s.clock.tick(60);
    const second = await s.get();
    assertEquals(
      [second.response.status, second.body, second.response.fromCache],
      [451, "blocked #1", true],
      cc,
    );
    await s.session.close();
  }
});
