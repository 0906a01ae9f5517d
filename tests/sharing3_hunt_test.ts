/**
 * Third hunt in sharing: sessions with other options over one backend (their stale windows).
 *
 * @module
 */
import { equal, ok } from "node:assert/strict";
import { CacheBackend } from "../backends/base.ts";
import { CachedSession, type CachedSessionOptions } from "../mod.ts";
import { Clock, origin, reply } from "./_origin.ts";
import { DeleteAts, URL_A } from "./_scripted.ts";

// A session without stale windows stored (or revalidated) a response for as long as it could use
// it itself: the storage then dropped it once it went stale, and another session on the backend,
// one with `staleIfError` or `staleWhileRevalidate`, could no longer serve it through an outage
// of the origin, or at once while refreshing it.
for (
  const [option, window] of [
    [{ staleIfError: 300 }, 300],
    [{ staleWhileRevalidate: 300 }, 300],
  ] as const
) {
  Deno.test(`sharing3 hunt: a response one session stores is kept for another's ${Object.keys(option)[0]} on the backend`, async () => {
    const clock = new Clock();
    const o = origin(() => reply("v1", { "cache-control": "max-age=10" }, { clock }));
    const storage = new DeleteAts();
    const backend = new CacheBackend(storage);
    const common: CachedSessionOptions = { backend, fetch: o.fetch, now: clock.fn };
    const plain = new CachedSession(common);
    const tolerant = new CachedSession({ ...common, ...option });
    try {
      await (await plain.fetch(URL_A)).text();
      const kept = (storage.writtenOnSessionClock("entry", clock.now)! - clock.now) / 1000;
      ok(kept >= 10 + window, `kept for ${kept} s`);
      const hit = await tolerant.fetch(URL_A);
      equal([await hit.text(), hit.fromCache].join(), "v1,true");
    } finally {
      await plain.close();
      await tolerant.close();
    }
  });
}
