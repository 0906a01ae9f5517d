/**
 * Time on two clocks: the session's own (`now`, a test's clock moved by hand) and the real one the
 * storages expire records by; and responses that are stale when they arrive but can be revalidated.
 */
import { assertEquals } from "./_assert.ts";
import { BACKENDS, dispose } from "./_fixtures.ts";
import { CachedSession, type CachedSessionOptions } from "../mod.ts";

const URL_DOC = "http://127.0.0.1/doc";

Deno.test("a session clock that stands still while real time passes: the storage keeps what the session still uses", async (t) => {
  for (const backend of BACKENDS) {
    await t.step({
      name: backend.name,
      ignore: backend.skip !== undefined,
      async fn() {
        const cache = await backend.open();
        let now = Date.now(); // moved by hand, as a test's clock is
        let calls = 0;
        const session = new CachedSession({
          backend: cache,
          now: () => now,
          fetch: () =>
            Promise.resolve(new Response(`v${++calls}`, { headers: { "cache-control": "max-age=1" } })),
        });
        try {
          await (await session.fetch(URL_DOC)).text();
          await new Promise((resolve) => setTimeout(resolve, 1200)); // real time passes
          now += 500; // half a second of the one by the session's clock
          const second = await session.fetch(URL_DOC);
          assertEquals([await second.text(), second.fromCache, calls], ["v1", true, 1]);
        } finally {
          await session.close();
          await dispose(cache);
        }
      },
    });
  }
});

Deno.test("a session clock less than a second behind the real one: the storage keeps what the session still uses", async () => {
  let calls = 0;
  const session = new CachedSession({
    now: () => Date.now() - 900,
    fetch: () => Promise.resolve(new Response(`v${++calls}`, { headers: { "cache-control": "max-age=1" } })),
  });
  await (await session.fetch(URL_DOC)).text();
  await new Promise((resolve) => setTimeout(resolve, 300));
  const second = await session.fetch(URL_DOC);
  assertEquals([await second.text(), second.fromCache, calls], ["v1", true, 1]);
  await session.close();
});

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A response stale on arrival, with an ETag: stored, and revalidated by the next request. */
const staleOnArrival: [string, CachedSessionOptions, (now: number) => Record<string, string>][] = [
  ["expireAfter: a Date two days past", { expireAfter: new Date(Date.now() - 2 * DAY) }, () => ({})],
  ["an origin clock two days behind", {}, (now) => ({
    date: new Date(now - 2 * DAY).toUTCString(),
    "cache-control": "max-age=60",
  })],
  [
    "an Age of two days from a cache upstream",
    {},
    () => ({ age: String(2 * 86_400), "cache-control": "max-age=60" }),
  ],
  ["an invalid Age (two values)", {}, () => ({ age: "5, 5", "cache-control": "max-age=60" })],
];

for (const [name, options, headers] of staleOnArrival) {
  Deno.test(`stale on arrival, with a validator (${name}): stored and revalidated`, async () => {
    const sent: string[] = [];
    const session = new CachedSession({
      ...options,
      fetch: (_input, init) => {
        const conditional = new Headers(init?.headers).get("if-none-match") === '"v1"';
        sent.push(conditional ? "conditional" : "full");
        const fields = { ...headers(Date.now()), etag: '"v1"' };
        return Promise.resolve(
          conditional
            ? new Response(null, { status: 304, headers: fields })
            : new Response("body", { headers: fields }),
        );
      },
    });
    await (await session.fetch(URL_DOC)).text();
    assertEquals(await session.cache.count(), 1, "stored");
    const second = await session.fetch(URL_DOC);
    assertEquals([await second.text(), second.revalidated, sent], ["body", true, ["full", "conditional"]]);
    await session.close();
  });
}
