/**
 * Freshness and validation, third pass (RFC 9111 §4.2, §4.3; RFC 5861): request directives
 * repeated or combined, as a request assembled from a default and the caller's own headers
 * carries them.
 *
 * @module
 */

import { assertEquals } from "./_assert.ts";
import { reply } from "./_origin.ts";
import { scripted } from "./_scripted.ts";
import { parseCacheControl } from "../src/cache_control.ts";

// RFC 9111 §5.2.1.3 and §4.2.1 ("if directives conflict … the most restrictive directive should
// be honored"): a repeated min-fresh was read as 0, which asks nothing, so a request saying
// `min-fresh=30, min-fresh=60` (a library's default and the caller's own, appended) was served a
// response with 10 s of freshness left. The most demanding occurrence counts, as for max-stale.
Deno.test("a repeated request min-fresh counts its most demanding occurrence", async () => {
  assertEquals(parseCacheControl("min-fresh=30, min-fresh=60").minFresh, 60);
  assertEquals(parseCacheControl("min-fresh=60, min-fresh=x").minFresh, 60);
  assertEquals(parseCacheControl("min-fresh=x").minFresh, 0);
  const s = scripted((clock) => (_request, n) =>
    reply(`v${n}`, { "cache-control": "max-age=100" }, { clock })
  );
  await s.get();
  s.clock.tick(90);
  const headers = new Headers({ "cache-control": "min-fresh=30" });
  headers.append("cache-control", "min-fresh=60");
  const { response, body } = await s.get({ headers });
  assertEquals([body, response.fromCache], ["v2", false], "10 s of freshness left: fetched");
  // (The contrast: a single min-fresh=5 takes the 10 s left.)
  s.clock.tick(90);
  const single = await s.get({ headers: { "cache-control": "min-fresh=5" } });
  assertEquals([single.body, single.response.fromCache], ["v2", true]);
  await s.session.close();
});
