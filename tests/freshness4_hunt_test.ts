/**
 * Freshness, fourth pass (RFC 9111 §1.2.2, §4.2, §5.2.1; RFC 5861): ages and staleness past
 * 2^31 seconds, compared with directives that the cache reads as 2^31 at most.
 *
 * @module
 */

import { assertEquals } from "./_assert.ts";
import { reply } from "./_origin.ts";
import { scripted } from "./_scripted.ts";
import { NEVER_EXPIRE } from "../mod.ts";

/** A `Date` from an origin that does not know the time: .NET's least date. */
const YEAR_ONE = "Mon, 01 Jan 0001 00:00:00 GMT";

/** A delta-seconds beyond 2^31, which the cache reads as 2147483648 (RFC 9111 §1.2.2). */
const HUGE = "99999999999";

// RFC 9111 §1.2.2: a delta-seconds beyond what the cache represents is read as 2147483648, and
// "if any of its subsequent calculations overflows, the cache MUST consider the value to be
// 2147483648". The cache capped the directives (and the Age it sends, §5.1) but not the age it
// compared them with: a response 2,000 years old by its Date, kept fresh by NEVER_EXPIRE and
// served with `Age: 2147483648`, was refused to a request saying `max-age=99999999999` ("any
// age"), which was read as 2147483648 and found smaller than the uncapped age.
Deno.test("a request's max-age beyond 2^31 accepts a response older than 2^31 seconds", async () => {
  const s = scripted((clock) => (_request, n) => reply(`v${n}`, { date: YEAR_ONE }, { clock }), {
    expireAfter: NEVER_EXPIRE,
  });
  await s.get();
  s.clock.tick(5);
  const { response, body } = await s.get({ headers: { "cache-control": `max-age=${HUGE}` } });
  assertEquals(
    [body, response.fromCache, response.headers.get("age"), s.origin.calls],
    ["v1", true, "2147483648", 1],
  );
  // (The contrast: a max-age that the cache represents still refuses it.)
  const young = await s.get({ headers: { "cache-control": "max-age=2147483647" } });
  assertEquals([young.body, young.response.fromCache], ["v2", false]);
  await s.session.close();
});

// The same with staleness: a response stale by more than 2^31 seconds (its Date in year 1, or an
// invalid Age, which reads as 2^31) was refused to `max-stale=99999999999`, though a `max-stale`
// without a value took it.
Deno.test("a request's max-stale beyond 2^31 accepts a response stale by more than 2^31 seconds", async () => {
  for (const headers of [{ date: YEAR_ONE }, { age: "1.5" }]) {
    const s = scripted((clock) => (_request, n) =>
      reply(`v${n}`, { "cache-control": "max-age=60", etag: `"${n}"`, ...headers }, { clock })
    );
    await s.get();
    s.clock.tick(120);
    const { response, body } = await s.get({ headers: { "cache-control": `max-stale=${HUGE}` } });
    assertEquals([body, response.fromCache, s.origin.calls], ["v1", true, 1], JSON.stringify(headers));
    await s.session.close();
  }
});

// RFC 5861 §4, with §1.2.2: a `stale-if-error` beyond 2^31 ("for ever") served nothing on an error
// once the response was stale by more than 2^31 seconds.
Deno.test("a stale-if-error beyond 2^31 covers a response stale by more than 2^31 seconds", async () => {
  for (const headers of [{ date: YEAR_ONE }, { age: "1.5" }]) {
    const s = scripted((clock) => (_request, n) =>
      n === 1
        ? reply("v1", { "cache-control": `max-age=60, stale-if-error=${HUGE}`, etag: '"1"', ...headers }, {
          clock,
        })
        : new Response("down", { status: 503 })
    );
    await s.get();
    s.clock.tick(120);
    const { response, body } = await s.get();
    assertEquals([response.status, body, response.fromCache], [200, "v1", true], JSON.stringify(headers));
    await s.session.close();
  }
});
