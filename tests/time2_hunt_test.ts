/**
 * Time, second pass: age and freshness arithmetic (RFC 9111 §4.2) in odd but legal situations —
 * clocks that disagree, ages past what a cache represents, the session's own clock.
 *
 * @module
 */

import { assertEquals } from "./_assert.ts";
import { reply } from "./_origin.ts";
import { scripted } from "./_scripted.ts";

// RFC 9111 §5.1: "If a cache receives a value larger than the largest positive integer it can
// represent, or if any of its age calculations overflows, it MUST transmit an Age header field
// with a value of 2147483648". The cache reads any Age (or max-age) beyond 2^31 as 2^31 (§1.2.2),
// yet a hit of such a response said `Age: 2147483653` five seconds later, and one whose Date was
// in year 1 (an origin's "unknown" date) said `Age: 63932252996`.
Deno.test("a hit's Age is 2147483648 at most, however old the response is", async () => {
  const cases: Record<string, string>[] = [
    { age: "99999999999999" },
    { age: "1.5" }, // invalid: the largest age
    { date: "Mon, 01 Jan 0001 00:00:00 GMT" },
  ];
  for (const headers of cases) {
    const s = scripted((clock) => (_request, n) =>
      reply(`v${n}`, { "cache-control": "max-age=60", etag: '"a"', ...headers }, { clock })
    );
    await s.get();
    s.clock.tick(5);
    // (force-cache serves what is stored, at any age.)
    const { response, body } = await s.get({ cache: "force-cache" });
    assertEquals(
      [body, response.fromCache, response.headers.get("age")],
      ["v1", true, "2147483648"],
      JSON.stringify(headers),
    );
    await s.session.close();
  }
});

// The contrast: an age below the cap is served as it is.
Deno.test("a hit's Age below 2^31 is its true age", async () => {
  const s = scripted((clock) => (_request, n) =>
    reply(`v${n}`, { "cache-control": "max-age=60", etag: '"a"', age: "2147483000" }, { clock })
  );
  await s.get();
  s.clock.tick(5);
  const { response } = await s.get({ cache: "force-cache" });
  assertEquals(response.headers.get("age"), "2147483005");
  await s.session.close();
});
