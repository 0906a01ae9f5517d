/**
 * Vary (RFC 9111 §4.1) across the session: variants side by side, and how a reload, a
 * revalidation, an invalidation and inspection treat each of them.
 *
 * @module
 */

import { assertEquals } from "./_assert.ts";
import { reached, reply } from "./_origin.ts";
import { scripted } from "./_scripted.ts";

const accepting = (accept: string, init: RequestInit = {}) => ({ ...init, headers: { accept } });

Deno.test("Vary: a reload of one variant whose response may not be stored leaves another stale variant stored", async () => {
  const s = scripted((clock) => (request, n) => {
    const accept = request.headers.get("accept")!;
    if (accept === "b") return reply(`#${n} b`, { "cache-control": "no-store", vary: "Accept" }, { clock });
    const etag = `"${accept}"`;
    if (request.headers.get("if-none-match") === etag) {
      return reply(null, { etag, "cache-control": "max-age=10", vary: "Accept" }, { status: 304, clock });
    }
    return reply(`#${n} ${accept}`, { etag, "cache-control": "max-age=10", vary: "Accept" }, { clock });
  });
  await s.get(accepting("a")); // the primary slot: Accept a
  s.clock.tick(20); // stale, kept for revalidation
  await s.get(accepting("b", { cache: "reload" })); // another variant, not stored (no-store)
  // The reload's response answers Accept b: it says nothing of the variant stored for Accept a.
  const again = await s.get(accepting("a"));
  assertEquals([
    again.body,
    again.response.revalidated,
    s.origin.requests.at(-1)!.headers.get("if-none-match"),
  ], [
    "#1 a",
    true,
    '"a"',
  ]);
  await s.session.close();
});

Deno.test("Vary: a URL reached through another's redirect is not answered with that other URL's own variant", async () => {
  let redirecting = false;
  const s = scripted((clock) => (request, n) => {
    const { pathname } = new URL(request.url);
    const from = pathname === "/old" && redirecting ? "/new" : pathname;
    const response = reply(`#${n} ${from} ${request.headers.get("accept")}`, {
      "cache-control": "max-age=600",
      vary: "Accept",
    }, { clock });
    // What fetch gives after following a redirect from /old to /new.
    return from === pathname ? response : reached(response, from);
  });
  const OLD = "http://127.0.0.1/old", NEW = "http://127.0.0.1/new";
  await s.get(accepting("b"), OLD); // /old's own response: the primary slot of /old
  await s.get(accepting("a"), OLD); // /old's own response: a variant beside it
  redirecting = true;
  await s.get(accepting("b", { cache: "reload" }), OLD); // now led to /new: over the primary slot
  // What the redirect led to with Accept b is found through the alias.
  const led = await s.get(accepting("b"), NEW);
  assertEquals([led.body, led.response.fromCache], ["#3 /new b", true]);
  // /new is asked for with Accept a: what /old stored for Accept a is /old's own, not /new's.
  const { body, response } = await s.get(accepting("a"), NEW);
  assertEquals([body, response.url], ["#4 /new a", NEW]);
  await s.session.close();
});
