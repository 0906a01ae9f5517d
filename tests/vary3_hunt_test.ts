/**
 * Vary generations (`CacheEntry.varyGeneration`): every place an entry is written or rewritten
 * keeps a variant findable while it is of the generation the primary slot holds, and none of an
 * older one is served.
 *
 * @module
 */

import { assertEquals } from "./_assert.ts";
import { reply, settle } from "./_origin.ts";
import { scripted } from "./_scripted.ts";

/** Request headers: an `Accept` and an `Accept-Language`. */
const as = (accept: string, language: string) => ({ headers: { accept, "accept-language": language } });

/** An origin that answers `"e2"` with a 304 carrying `vary.list`, else a full response, `#2` stale first. */
function validating(vary: { list: string }) {
  return scripted((clock) => (request, n) =>
    request.headers.get("if-none-match") === '"e2"' || (request.method === "HEAD" && n > 2)
      ? reply(null, { etag: '"e2"', "cache-control": "max-age=600", vary: vary.list }, {
        status: request.method === "HEAD" ? 200 : 304,
        clock,
      })
      : reply(`#${n} ${request.headers.get("accept")} ${request.headers.get("accept-language")}`, {
        etag: `"e${n}"`,
        "cache-control": n === 2 ? "max-age=10" : "max-age=600",
        vary: vary.list,
      }, { clock })
  );
}

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
