/**
 * What the cache answers itself, or stores, for requests that carry preconditions or a Range:
 * If-Match / If-Unmodified-Since in the modes that send them on through the cache.
 */
import { assertEquals } from "./_assert.ts";
import { reply, settle } from "./_origin.ts";
import { scripted, URL_A } from "./_scripted.ts";

const PRECONDITIONS: Record<string, string>[] = [
  { "if-match": '"v0"' },
  { "if-unmodified-since": "Sat, 01 Jan 2000 00:00:00 GMT" },
];

Deno.test("RFC 9110 §15.5.13: a 412 the origin sent to a request's own If-Match or If-Unmodified-Since is not stored, nor served to requests without them", async () => {
  // In the no-cache, reload and force-cache modes such a request goes through the cache (only the
  // default mode makes it no-store). The 412 answers its precondition, which is no part of the key;
  // it was stored (and replaced the stored 200), and every plain GET after it got the 412.
  for (const cache of ["no-cache", "reload", "force-cache"] as const) {
    for (const precondition of PRECONDITIONS) {
      const s = scripted((clock) => (request) =>
        request.headers.has("if-match") || request.headers.has("if-unmodified-since")
          ? reply("precondition failed", { "cache-control": "max-age=60", etag: '"v1"' }, {
            status: 412,
            clock,
          })
          : reply("v1", { "cache-control": "max-age=60", etag: '"v1"' }, { clock })
      );
      const label = `${cache} ${JSON.stringify(precondition)}`;
      const failed = await s.get({ cache, headers: precondition });
      assertEquals(failed.response.status, 412, label);
      const plain = await s.get();
      assertEquals([plain.response.status, plain.body], [200, "v1"], label);
      // With a 200 stored, the 412 leaves it there.
      const again = await s.get({
        cache: cache === "force-cache" ? "no-cache" : cache,
        headers: precondition,
      });
      assertEquals(again.response.status, 412, label);
      const stored = await s.get();
      assertEquals(
        [stored.response.status, stored.body, stored.response.fromCache],
        [200, "v1", true],
        label,
      );
      await s.session.close();
    }
  }
});

Deno.test("a plain GET that waits on a no-cache request's If-Match at the origin does not get its 412", async () => {
  // The no-cache request leads the identical requests that come meanwhile; its 412 was stored and
  // shared with them, so a GET without any precondition got "Precondition Failed". (Whether the
  // GET joins it or comes after it, it wants the resource.)
  let arrived!: () => void;
  const atOrigin = new Promise<void>((resolve) => arrived = resolve);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  const s = scripted((clock) => async (request) => {
    if (request.headers.has("if-match")) {
      arrived();
      await gate;
      return reply("precondition failed", { "cache-control": "max-age=60" }, { status: 412, clock });
    }
    return reply("v1", { "cache-control": "max-age=60" }, { clock });
  });
  const conditional = s.session.fetch(URL_A, { cache: "no-cache", headers: { "if-match": '"v0"' } });
  await atOrigin;
  const plain = s.session.fetch(URL_A);
  await settle();
  release();
  const [failed, whole] = await Promise.all([conditional, plain]);
  assertEquals([failed.status, await failed.text()], [412, "precondition failed"]);
  assertEquals([whole.status, await whole.text()], [200, "v1"]);
  await s.session.close();
});
