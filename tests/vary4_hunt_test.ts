/**
 * Vary (RFC 9111 §4.1), a fourth hunt: identical requests of several variants that arrive
 * together, each variant's requests sharing one origin request, and all of their responses stored.
 *
 * @module
 */

import { assertEquals } from "./_assert.ts";
import { delay, until } from "./_fixtures.ts";
import { Clock, origin, reply, settle } from "./_origin.ts";
import { CachedSession } from "../mod.ts";

// Was: a request that stopped waiting for an identical one whose response varies on headers it
// sends otherwise (Accept `b` waiting on `a`) placed its own response by what its lookup had read
// before: an empty primary slot, or one whose response named other headers. Both responses took
// the primary slot, and the second write dropped the first: `a` was asked for again.
Deno.test("Vary: requests of two variants that arrive together keep both responses stored", async () => {
  for (const before of [undefined, "Accept-Language"]) {
    const clock = new Clock();
    const vary = { list: before ?? "Accept" };
    const o = origin(async (request, n) => {
      await delay(10); // the other requests arrive meanwhile
      const fields = { "cache-control": "max-age=10", vary: vary.list };
      return reply(`#${n} ${request.headers.get("accept")}`, fields, { clock });
    });
    const session = new CachedSession({ fetch: o.fetch, now: clock.fn });
    const ask = async (accept: string) => {
      const response = await session.fetch("http://h.test/", {
        headers: { accept, "accept-language": "en" },
      });
      return { response, body: await response.text() };
    };
    if (before !== undefined) {
      await ask("a"); // #1 in the primary slot, by Accept-Language: stale once the origin varies on Accept
      clock.tick(20);
      vary.list = "Accept";
    }
    const n = o.calls;
    const together = await Promise.all(["a", "b", "b", "a"].map(ask));
    assertEquals(together.map(({ body }) => body), [
      `#${n + 1} a`,
      `#${n + 2} b`,
      `#${n + 2} b`,
      `#${n + 1} a`,
    ]);
    await settle();
    const [a, b] = [await ask("a"), await ask("b")];
    assertEquals(
      [a.body, a.response.fromCache, b.body, b.response.fromCache, o.calls],
      [`#${n + 1} a`, true, `#${n + 2} b`, true, n + 2],
      `before: ${before}`,
    );
    // Each names the key it is stored under, as the requests that shared it do.
    assertEquals(
      together.map(({ response }) => response.cacheKey),
      [a, b, b, a].map((r) => r.response.cacheKey),
    );
    assertEquals(await (await session.cache.get(b.response.cacheKey!))?.text(), `#${n + 2} b`);
    await session.close();
  }
});

// Pins the other side of the fix: a request whose own variant is in the primary slot (stale) and
// that stopped waiting for another variant's response, stored beside it, still replaces its own.
Deno.test("Vary: a variant in the primary slot refreshed beside another variant's request keeps the slot", async () => {
  const clock = new Clock();
  const o = origin(async (request, n) => {
    await delay(10);
    return reply(
      `#${n} ${request.headers.get("accept")}`,
      { "cache-control": "max-age=10", vary: "Accept" },
      {
        clock,
      },
    );
  });
  const session = new CachedSession({ fetch: o.fetch, now: clock.fn });
  const ask = async (accept: string) => {
    const response = await session.fetch("http://h.test/", { headers: { accept } });
    return `${await response.text()}:${response.fromCache}`;
  };
  await ask("b"); // #1 in the primary slot
  clock.tick(20);
  const a = ask("a"); // leads: its variant is not stored
  await until(() => o.calls === 2);
  assertEquals(await Promise.all([a, ask("b")]), ["#2 a:false", "#3 b:false"]);
  await settle();
  assertEquals([await ask("a"), await ask("b"), o.calls], ["#2 a:true", "#3 b:true", 3]);
  await session.close();
});
