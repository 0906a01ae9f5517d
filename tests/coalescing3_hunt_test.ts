/**
 * Request coalescing, hunted a third time: requests that wait on an identical one whose response
 * varies on headers they send otherwise, and requests that wait for a body that outlasts its
 * response's freshness.
 *
 * @module
 */

import { deepEqual, equal } from "node:assert/strict";
import { CachedSession } from "../mod.ts";
import { delay, until, within } from "./_fixtures.ts";
import { Clock, origin, reply } from "./_origin.ts";

Deno.test("coalescing3 hunt: identical requests whose Vary headers differ from the leading one's share one origin request among them", async () => {
  // Each German request left the English one's lead once its fields came, and asked the origin on
  // its own: 20 identical German requests made 20 origin requests (README: identical concurrent
  // requests share one).
  // (The English body comes only once every German request has its answer: all the while, the
  // English request leads.)
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  const o = origin(async (request) => {
    const language = request.headers.get("accept-language")!;
    const fields = { "cache-control": "max-age=60", vary: "accept-language", "content-length": "5" };
    if (language !== "en") {
      await delay(20); // the other German requests arrive meanwhile
      return reply(`in ${language}`, fields);
    }
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        await gate;
        controller.enqueue(new TextEncoder().encode("in en"));
        controller.close();
      },
    });
    return new Response(body, { headers: reply(null, fields).headers });
  });
  const session = new CachedSession({ fetch: o.fetch });
  const ask = (language: string) =>
    session.fetch("http://h.test/", { headers: { "accept-language": language } }).then((r) => r.text());
  const english = [ask("en")];
  await until(() => o.calls === 1);
  english.push(ask("en"));
  const german = await within(5000, Promise.all(Array.from({ length: 20 }, () => ask("de"))));
  release();
  deepEqual(await Promise.all(english), ["in en", "in en"]);
  deepEqual([...new Set(german)], ["in de"]);
  equal(o.requests.map((request) => request.headers.get("accept-language")).join(), "en,de");
  const { coalesced, misses } = session.stats();
  deepEqual({ coalesced, misses }, { coalesced: 20, misses: 2 });
  await session.close();
});

Deno.test("coalescing3 hunt: a request that waited for a body that outlasted its response's freshness gets that response, not a second origin request", async () => {
  // The waiters took the response when its fields came (fresh), then found it stale once its body
  // had come, 10 s later: each asked the origin once more (a full download again without a
  // validator, a revalidation with one), after waiting for the whole body.
  for (const etag of [undefined, '"v1"']) {
    const clock = new Clock();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => release = resolve);
    const o = origin((_request, n) => {
      let sent = false;
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (!sent) {
            sent = true;
            return controller.enqueue(new Uint8Array(10).fill(n));
          }
          await gate;
          controller.enqueue(new Uint8Array(10).fill(n));
          controller.close();
        },
      });
      const fields = { "cache-control": "max-age=5", "content-length": "20", ...(etag && { etag }) };
      return new Response(body, { headers: reply(null, fields, { clock }).headers });
    });
    const session = new CachedSession({ fetch: o.fetch, now: clock.fn });
    const leader = await session.fetch("http://h.test/");
    const leaderBody = leader.arrayBuffer();
    const waiters = Array.from({ length: 3 }, () => session.fetch("http://h.test/"));
    await delay(20); // the waiters reach the wait
    clock.tick(10); // the body takes 10 s
    release();
    equal((await leaderBody).byteLength, 20);
    const responses = await within(5000, Promise.all(waiters));
    for (const response of responses) {
      deepEqual([...new Uint8Array(await response.arrayBuffer())], new Array(20).fill(1), `etag ${etag}`);
      equal(response.headers.get("age"), "10", "its age is told as it is");
    }
    equal(o.calls, 1, `etag ${etag}: one origin request`);
    equal(session.stats().coalesced, 3);
    // A request that comes once the body has come finds it stale, and asks again.
    const later = await session.fetch("http://h.test/");
    await later.arrayBuffer();
    equal(o.calls, 2);
    await session.close();
  }
});
