/**
 * `installCache` / `cachedFetch` as the fetch they stand for: a `fetch` option that queues its
 * calls of `globalThis.fetch` (a concurrency limiter), and what code that prints or checks the
 * global fetch reads of it. Each test that patches `globalThis.fetch` puts back what it found,
 * whatever happens.
 *
 * @module
 */

import { assertEquals } from "./_assert.ts";
import { cachedFetch, type CachedResponse, installCache } from "../mod.ts";
import { origin, reply } from "./_origin.ts";
import { withGlobalFetch, within } from "./_fixtures.ts";

const URL_A = "http://127.0.0.1/install3";
const FRESH = { "cache-control": "max-age=60" };

/**
 * A concurrency limiter of p-queue's shape: a task ending starts the next queued one (in the async
 * context of the one that ended, as a queue that does not bind its tasks runs them).
 */
function limiter(concurrency: number): <T>(task: () => Promise<T>) => Promise<T> {
  const queue: (() => void)[] = [];
  let active = 0;
  return <T>(task: () => Promise<T>) =>
    new Promise<T>((resolve, reject) => {
      const run = () => {
        active++;
        task().then(resolve, reject).finally(() => {
          active--;
          queue.shift()?.();
        });
      };
      if (active < concurrency) run();
      else queue.push(run);
    });
}

// askedByOrigin told the session's own origin requests by an origin request under way in the async
// context of the call. A queued call runs in the context of the call before it, whose request had
// settled: it reached the session, which waited on its own request for ever (every request but the
// first of those made at once hung).
Deno.test("install3: a fetch option that queues its calls of globalThis.fetch in a limiter: each queued call reaches the fetch that was global", async () => {
  const o = origin((_request, n) => reply(`body ${n}`, FRESH));
  await withGlobalFetch(o.fetch, async () => {
    const limit = limiter(1);
    const session = installCache({ fetch: (input, init) => limit(() => fetch(input, init)) });
    const urls = [`${URL_A}?1`, `${URL_A}?2`, `${URL_A}?2`, `${URL_A}?3`];
    const responses = await within(5_000, Promise.all(urls.map((url) => fetch(url))));
    assertEquals(await Promise.all(responses.map((response) => response.text())), [
      "body 1",
      "body 2",
      "body 2",
      "body 3",
    ]);
    // The application's identical requests still share one.
    assertEquals(o.calls, 3);
    assertEquals((await within(5_000, fetch(`${URL_A}?2`)) as CachedResponse).fromCache, true);
    await session.close();
  });
});

// The installed fetch was an anonymous arrow of length 2 (`[Function (anonymous)]` when printed),
// and Bun's cachedFetch had no name either.
Deno.test("install3: the installed fetch and cachedFetch have the name and length of the fetch they stand for", async () => {
  const o = origin((_request, n) => reply(`body ${n}`, FRESH));
  const runtime = globalThis.fetch;
  await withGlobalFetch(runtime, async () => {
    const fetch = cachedFetch({ fetch: o.fetch });
    const session = installCache({ fetch: o.fetch });
    assertEquals([globalThis.fetch.name, globalThis.fetch.length], [runtime.name, runtime.length]);
    assertEquals([fetch.name, fetch.length], [runtime.name, runtime.length]);
    await session.close();
    await fetch.session.close();
  });
});
