/**
 * Time: the session's clock against the storage's, how long a redirect's alias is kept, and the
 * years an HTTP date may name.
 *
 * @module
 */

import { assert, assertEquals } from "./_assert.ts";
import { origin, reached, reply } from "./_origin.ts";
import { DeleteAts, URL_A } from "./_scripted.ts";
import { CacheBackend } from "../backends/base.ts";
import { CachedSession } from "../mod.ts";
import { parseHttpDate } from "../src/cache_control.ts";

const DAY = 86_400_000;

// A redirect's alias was written with the deleteAt of the last entry it led to, while it kept
// leading to the others: a URL redirected to the same place for a second lets the storage drop the
// alias of an hour-long entry after that second, and that entry, served only while its alias holds,
// went back to the origin.
Deno.test("a redirect's alias shared by two URLs is kept as long as the longer-lived entry", async () => {
  const o = origin((request) => {
    const path = new URL(request.url).pathname;
    return reached(
      reply(path, { "cache-control": path === "/long" ? "max-age=3600" : "max-age=1" }),
      "/target",
    );
  });
  const storage = new DeleteAts();
  const session = new CachedSession({ fetch: o.fetch, backend: new CacheBackend(storage) });
  await (await session.fetch("http://127.0.0.1/long")).text();
  const kept = storage.written("entry")!;
  assertEquals(storage.written("alias"), kept);
  await (await session.fetch("http://127.0.0.1/short")).text();
  assert(storage.written("entry")! < kept, "the second entry is kept for a second or so");
  assertEquals(storage.written("alias"), kept, "the alias still leads to the hour-long entry");
  await session.close();
});

// The storage's expiry was put on the real clock by the backend's `now`, which is the clock of the
// last session made over it with a `now` of its own: a session with the default clock sharing the
// backend had its entries moved by the other session's difference, dropped at once when that clock
// ran ahead (nothing it stored was ever served) and kept a day too long when it ran behind.
Deno.test("a session's entries expire in the storage by its own clock, not by another session's over the backend", async () => {
  for (const offset of [DAY, -DAY]) {
    const storage = new DeleteAts();
    const backend = new CacheBackend(storage);
    let calls = 0;
    const fetch = () =>
      Promise.resolve(new Response(`v${++calls}`, { headers: { "cache-control": "max-age=600" } }));
    const other = new CachedSession({ backend, fetch, now: () => Date.now() + offset });
    const session = new CachedSession({ backend, fetch });
    await (await session.fetch(URL_A)).text();
    const deleteAt = storage.written("entry")!;
    const second = await session.fetch(URL_A);
    assertEquals([await second.text(), second.fromCache, calls], ["v1", true, 1], `other clock ${offset}`);
    assert(Math.abs(deleteAt - second.expiresAt!.getTime()) < 5000, `kept ${deleteAt - Date.now()} ms`);
    await other.close();
    await session.close();
  }
});

// `Date.UTC` reads the years 0 to 99 as 1900 to 1999: .NET's least date, which servers send as a
// Last-Modified or Expires, read as 1901, and a Last-Modified of year 50 as 1950.
Deno.test("an HTTP date in the first century names that year, in each of the formats that have four digits", () => {
  assertEquals(parseHttpDate("Mon, 01 Jan 0001 00:00:00 GMT"), Date.parse("0001-01-01T00:00:00Z"));
  assertEquals(parseHttpDate("Mon Jan  1 00:00:00 0001"), Date.parse("0001-01-01T00:00:00Z"));
  assertEquals(parseHttpDate("Sat, 29 Feb 0048 23:59:59 GMT"), Date.parse("0048-02-29T23:59:59Z"));
  assertEquals(parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777000);
  assertEquals(parseHttpDate("Thu, 29 Feb 1900 00:00:00 GMT"), undefined, "1900 was no leap year");
});
