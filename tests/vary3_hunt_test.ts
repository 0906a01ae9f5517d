/**
 * Vary generations (`CacheEntry.varyGeneration`): every place an entry is written or rewritten
 * keeps a variant findable while it is of the generation the primary slot holds, and none of an
 * older one is served.
 *
 * @module
 */

import { assertEquals } from "./_assert.ts";
import { settle } from "./_origin.ts";
import { as, validating } from "./_vary.ts";

// Was: the freshened variant kept its key beside the primary slot but took a new generation, so
// no lookup selected it again (before generations it was found), and the next miss for it took
// the primary slot from the entry there.
Deno.test("Vary: a variant that a 304 freshens with other Vary names is found again", async () => {
  const vary = { list: "Accept" };
  const s = validating(vary);
  await s.get(as("a", "en")); // #1: the primary slot, by Accept
  await s.get(as("b", "en")); // #2 beside it: Accept b (ETag "e2", stale first)
  vary.list = "Accept, Accept-Language";
  s.clock.tick(11);
  const revalidated = await s.get(as("b", "en")); // #2 freshened, now by Accept and Accept-Language
  assertEquals([revalidated.body, revalidated.response.revalidated], ["#2 b en", true]);
  await settle();
  const again = await s.get(as("b", "en"));
  assertEquals([again.body, again.response.fromCache, s.origin.calls], ["#2 b en", true, 3]);
  // It now varies on Accept-Language too: another language is not answered with it.
  const other = await s.get(as("b", "fr"));
  assertEquals([other.body, other.response.fromCache], ["#4 b fr", false]);
  await s.session.close();
});

// Was: as after a 304, the variant a HEAD response freshened with other Vary names was lost.
Deno.test("Vary: a variant that a HEAD response freshens with other Vary names is found again", async () => {
  const vary = { list: "Accept" };
  const s = validating(vary);
  await s.get(as("a", "en")); // #1
  await s.get(as("b", "en")); // #2 beside it, stale first
  vary.list = "Accept, Accept-Language";
  s.clock.tick(11);
  const head = await s.session.fetch("http://127.0.0.1/resource", { method: "HEAD", ...as("b", "en") });
  await head.body?.cancel();
  assertEquals(s.origin.calls, 3);
  await settle();
  const again = await s.get(as("b", "en"));
  assertEquals([again.body, again.response.fromCache, s.origin.calls], ["#2 b en", true, 3]);
  await s.session.close();
});
