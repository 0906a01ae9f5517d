/**
 * Expiration, third pass: which URL's `urlsExpireAfter` pattern decides for a response that
 * `fetch` reached through redirects (a `POST`'s, or any with a `fetch` that follows whatever it is
 * asked, as a browser's does), on storing and on a `304` that freshens it. Against a scripted
 * origin and an injected clock.
 *
 * @module
 */

import { assertEquals } from "./_assert.ts";
import { DO_NOT_CACHE } from "../mod.ts";
import { reached, reply } from "./_origin.ts";
import { scripted } from "./_scripted.ts";

const ORIGIN = "http://127.0.0.1";

// docs/expiration.md: `"*/live/*": DO_NOT_CACHE` keeps those URLs out of the cache. When the
// session follows a redirect itself, the step to /live/1 bypasses the cache; but a response that
// `fetch` reached there was stored under the URL asked for (and its alias from /live/1), its
// pattern unread: /latest answered with what /live/1 said a minute before.
Deno.test("a response that fetch reached at a DO_NOT_CACHE URL through a redirect is not stored", async () => {
  const s = scripted(
    (clock) => (_r, n) =>
      reached(reply(`live ${n}`, { "cache-control": "max-age=60" }, { clock }), "/live/1"),
    { urlsExpireAfter: { "127.0.0.1/live/*": DO_NOT_CACHE }, allowedMethods: ["GET", "HEAD", "POST"] },
  );
  const bodies = [];
  for (let i = 0; i < 2; i++) bodies.push((await s.get(undefined, `${ORIGIN}/latest`)).body);
  for (let i = 0; i < 2; i++) {
    const response = await s.session.fetch(`${ORIGIN}/search`, { method: "POST", body: "q" });
    bodies.push(`${await response.text()} ${response.fromCache}`);
  }
  assertEquals(bodies, ["live 1", "live 2", "live 3 false", "live 4 false"]);
  assertEquals(s.origin.calls, 4);
  // A request's own expireAfter still stores it, as for the URL itself.
  await s.get({ expireAfter: 60 }, `${ORIGIN}/latest`);
  const { response, body } = await s.get({ expireAfter: 60 }, `${ORIGIN}/latest`);
  assertEquals([body, response.fromCache], ["live 5", true]);
  await s.session.close();
});

// The same pattern decides how long such a response stays fresh, as it does for the step the
// session follows itself; and when a 304 freshens it, the freshened entry's lifetime too.
Deno.test("a response that fetch reached through a redirect is fresh for as long as that URL's pattern says", async () => {
  const s = scripted(
    (clock) => (request, n) => {
      const unchanged = request.headers.get("if-none-match") === '"v1"';
      return reached(
        unchanged
          ? reply(null, { etag: '"v1"' }, { status: 304, clock })
          : reply(`v${n}`, { etag: '"v1"' }, { clock }),
        "/static/app.js",
      );
    },
    { urlsExpireAfter: { "127.0.0.1/static/*": 3600 }, expireAfter: 10 },
  );
  const first = await s.get(undefined, `${ORIGIN}/app.js`);
  assertEquals((first.response.expiresAt!.getTime() - s.clock.now) / 1000, 3600);
  s.clock.tick(600);
  const { response, body } = await s.get(undefined, `${ORIGIN}/app.js`);
  assertEquals([body, response.fromCache, s.origin.calls], ["v1", true, 1]);
  s.clock.tick(3600);
  const revalidated = await s.get(undefined, `${ORIGIN}/app.js`);
  assertEquals([revalidated.body, revalidated.response.revalidated, s.origin.calls], ["v1", true, 2]);
  assertEquals((revalidated.response.expiresAt!.getTime() - s.clock.now) / 1000, 3600);
  await s.session.close();
});
