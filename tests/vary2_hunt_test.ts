/**
 * Vary (RFC 9111 §4.1), a second hunt: a reload of a variant stored beside the primary slot, and
 * the key a response served from (or stored as) a variant names.
 *
 * @module
 */

import { assertEquals } from "./_assert.ts";
import { reply } from "./_origin.ts";
import { scripted } from "./_scripted.ts";

const accepting = (accept: string, init: RequestInit = {}) => ({ ...init, headers: { accept } });

/** An origin whose responses vary on Accept, fresh for 10 s and then served stale for 1,000 s. */
function staleWhileRevalidate(gone: Set<string>) {
  return scripted((clock) => (request, n) => {
    const accept = request.headers.get("accept")!;
    if (gone.has(accept)) return reply(`#${n} gone`, { vary: "Accept" }, { status: 404, clock });
    return reply(`#${n} ${accept}`, {
      "cache-control": "max-age=10, stale-while-revalidate=1000",
      vary: "Accept",
    }, { clock });
  });
}

// Was wrong: a reload read the primary slot alone, so a stale variant stored beside it outlived
// the newer answer that may not be stored (a 404), and was served stale after it; the same
// reload of the variant in the primary slot took that one out.
Deno.test("Vary: a reload of a variant stored beside the primary whose answer may not be stored takes that stale variant out", async () => {
  for (const order of [["a", "b"], ["b", "a"]]) {
    const gone = new Set<string>();
    const s = staleWhileRevalidate(gone);
    for (const accept of order) await s.get(accepting(accept)); // the first takes the primary slot
    s.clock.tick(20); // both stale, within stale-while-revalidate
    gone.add("b");
    const reloaded = await s.get(accepting("b", { cache: "reload" }));
    const after = await s.get(accepting("b"));
    assertEquals(
      [reloaded.response.status, after.body, after.response.fromCache, after.response.status],
      [404, `#${s.origin.calls} gone`, false, 404],
      `b stored ${order[0] === "b" ? "in the primary slot" : "beside it"}`,
    );
    if (order[0] === "a") {
      // The variant in the primary slot is no part of that answer: it is still served.
      const other = await s.get(accepting("a"));
      assertEquals([other.body, other.response.fromCache], ["#1 a", true]);
    }
    await s.session.close();
  }
});

// Was wrong: `cacheKey` of a response served from (or stored as) a variant beside the primary
// slot named the primary slot's key: `cache.get(response.cacheKey)` gave another variant, and
// `cache.delete(response.cacheKey)` deleted that one and left this one.
Deno.test("Vary: response.cacheKey of a variant is the key it is stored under, as cache.get() and cache.delete() take it", async () => {
  const s = scripted((clock) => (request, n) =>
    reply(`#${n} ${request.headers.get("accept")}`, { "cache-control": "max-age=60", vary: "Accept" }, {
      clock,
    })
  );
  const a = await s.get(accepting("a")); // the primary slot
  const miss = await s.get(accepting("b")); // beside it
  const hit = await s.get(accepting("b"));
  assertEquals([hit.body, hit.response.fromCache], ["#2 b", true]);
  assertEquals(miss.response.cacheKey, hit.response.cacheKey);
  const got = await s.session.cache.get(hit.response.cacheKey!);
  assertEquals(await got?.text(), "#2 b");
  // The primary slot's response keeps the request's key.
  assertEquals(await (await s.session.cache.get(a.response.cacheKey!))?.text(), "#1 a");
  await s.session.cache.delete(hit.response.cacheKey!);
  const [b, a2] = [await s.get(accepting("b")), await s.get(accepting("a"))];
  assertEquals([b.body, b.response.fromCache, a2.body, a2.response.fromCache], ["#3 b", false, "#1 a", true]);
  await s.session.close();
});

// Was wrong: a HEAD answered from its own stored response (no GET response stored) had the GET's
// key as `cacheKey`, under which nothing is stored.
Deno.test("Vary: response.cacheKey of a HEAD answered from its own stored response reaches that response", async () => {
  const s = scripted((clock) => (_request, n) =>
    reply(null, { "cache-control": "max-age=60", vary: "Accept", "x-n": String(n) }, { clock })
  );
  await s.get(accepting("a", { method: "HEAD" }));
  await s.get(accepting("b", { method: "HEAD" })); // beside it
  for (const accept of ["a", "b"]) {
    const { response } = await s.get(accepting(accept, { method: "HEAD" }));
    const got = await s.session.cache.get(response.cacheKey!);
    await got?.body?.cancel();
    assertEquals(
      [response.fromCache, got?.headers.get("x-n"), got?.headers.get("x-n")],
      [true, response.headers.get("x-n"), accept === "a" ? "1" : "2"],
      accept,
    );
  }
  await s.session.close();
});
