/**
 * Races, third pass, hunted: concurrent operations on one key or one store. A stored response read
 * just before, or while, a delete of its URL (`deleteUrls`, `cache.delete(key)`, `clear()`, an
 * unsafe request), and then confirmed by the origin, must not come back once the delete has ended.
 *
 * @module
 */

import { equal, notEqual } from "node:assert/strict";
import { CacheBackend } from "../backends/base.ts";
import { CachedSession } from "../mod.ts";
import { until, within } from "./_fixtures.ts";
import { Clock } from "./_origin.ts";
import { Gated } from "./_scripted.ts";

const URL_A = "http://127.0.0.1/races3/a";

/**
 * An origin whose one resource has an ETag that never changes, and whose body counts the full
 * responses sent (`r1`, `r2`, …): a `304` answers a request that names the ETag.
 */
function counting(cacheControl: string) {
  let sent = 0;
  const fetch = (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    const headers = { "cache-control": cacheControl, etag: '"same"' };
    if (request.headers.get("if-none-match") === '"same"') {
      return Promise.resolve(new Response(null, { status: 304, headers }));
    }
    return Promise.resolve(new Response(request.method === "HEAD" ? null : `r${++sent}`, { headers }));
  };
  return fetch as typeof globalThis.fetch;
}

/** Fetches through a session and reads the body whole: `body:fromCache`. */
async function served(session: CachedSession, init?: RequestInit): Promise<string> {
  const response = await session.fetch(URL_A, init);
  return `${await response.text()}:${response.fromCache}`;
}

const REVALIDATIONS: {
  name: string;
  cacheControl: string;
  /** Makes the request that revalidates the entry it reads (a refresh's, in the background). */
  revalidate(session: CachedSession, clock: Clock): Promise<unknown>;
}[] = [
  {
    name: "a no-cache request's 304",
    cacheControl: "max-age=60",
    revalidate: (session) => served(session, { cache: "no-cache" }),
  },
  {
    name: "a HEAD response",
    cacheControl: "max-age=60",
    revalidate: (session) => served(session, { method: "HEAD", cache: "no-cache" }),
  },
  {
    name: "a stale-while-revalidate refresh's 304",
    cacheControl: "max-age=1, stale-while-revalidate=60",
    async revalidate(session, clock) {
      clock.tick(2);
      return await served(session);
    },
  },
];

/** Deletes of what is stored for the URL; `keys` are those of its entries. */
const DELETES: { name: string; remove(session: CachedSession, keys: string[]): Promise<unknown> }[] = [
  { name: "deleteUrls", remove: (session) => session.cache.deleteUrls(URL_A) },
  { name: "clear()", remove: (session) => session.cache.clear() },
  { name: "cache.delete(key)", remove: (session, keys) => session.cache.delete(...keys) },
  { name: "a POST", remove: (session) => session.fetch(URL_A, { method: "POST" }).then((r) => r.text()) },
];

/**
 * When the request reads the stored response: just before the delete begins, or while the delete
 * is under way, before it has removed anything. Either way the delete ends before the request
 * hears from the origin.
 */
const READS: {
  name: string;
  race(storage: Gated, revalidate: () => Promise<unknown>, remove: () => Promise<unknown>): Promise<unknown>;
}[] = [
  {
    name: "just before",
    async race(storage, revalidate, remove) {
      const release = storage.holdNextRead();
      const revalidating = revalidate();
      await within(2000, until(() => storage.waiting === 1));
      await within(2000, remove());
      release();
      return revalidating;
    },
  },
  {
    name: "while",
    async race(storage, revalidate, remove) {
      const releaseDelete = storage.holdNextDelete();
      const removing = remove();
      await within(2000, until(() => storage.waiting === 1));
      const releaseRead = storage.holdNextRead();
      const revalidating = revalidate();
      await within(2000, until(() => storage.waiting === 2));
      releaseDelete();
      await within(2000, removing);
      releaseRead();
      return revalidating;
    },
  },
];

for (const revalidation of REVALIDATIONS) {
  for (const deletion of DELETES) {
    for (const read of READS) {
      Deno.test(`races3 hunt: ${revalidation.name} for an entry read ${read.name} ${deletion.name} does not write it back`, async () => {
        // The request read the stored response, then the delete removed it and ended; the request
        // went on to ask the origin conditionally (or with HEAD) and wrote the response it had
        // read, freshened, back into the cache: what was deleted was served again afterwards.
        const storage = new Gated();
        const clock = new Clock();
        const fetch = counting(revalidation.cacheControl);
        const session = new CachedSession({ fetch, backend: new CacheBackend(storage), now: clock.fn });
        try {
          equal(await served(session), "r1:false");
          const keys = await Array.fromAsync(session.cache.keys());
          await within(
            5000,
            read.race(
              storage,
              () => revalidation.revalidate(session, clock),
              () => deletion.remove(session, keys),
            ),
          );
          await within(5000, session.close());
          const after = new CachedSession({ fetch, backend: new CacheBackend(storage), now: clock.fn });
          try {
            const body = (await served(after)).split(":")[0];
            notEqual(body, "r1", "the deleted response is not served from the cache");
          } finally {
            await after.close();
          }
        } finally {
          await session.close();
        }
      });
    }
  }
}
