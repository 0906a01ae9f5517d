/**
 * RFC 9111 / RFC 9110 header semantics: what may be stored, and what a 304 updates, in cases the
 * section-by-section tests and the cache-tests port leave out.
 *
 * @module
 */

import { assertEquals } from "./_assert.ts";
import { reply } from "./_origin.ts";
import { scripted } from "./_scripted.ts";
import { parseHttpDate } from "../src/cache_control.ts";

// RFC 9111 §3: a response is stored only when it has explicit freshness, a heuristically cacheable
// status, `public` or (privately) `private`. `no-cache` is none of these, yet it made such a
// response stored: a 500 (or 403, 201, 302) with `no-cache` and an ETag was kept, and answered a
// later `force-cache` request, where the same response without `no-cache` was not stored.
Deno.test("no-cache does not make a response of a status that is not heuristically cacheable storable", async () => {
  for (const status of [201, 302, 403, 500]) {
    for (const cacheControl of ["no-cache", undefined]) {
      const s = scripted((clock) => (_request, n) =>
        reply(`v${n}`, {
          etag: '"a"',
          ...(cacheControl === undefined ? {} : { "cache-control": cacheControl }),
          ...(status === 302 ? { location: "/elsewhere" } : {}),
        }, { status, clock })
      );
      await s.get({ redirect: "manual" });
      const { response, body } = await s.get({ cache: "force-cache", redirect: "manual" });
      assertEquals(
        [response.status, body, response.fromCache],
        [status, "v2", false],
        `${status} ${cacheControl}`,
      );
      await s.session.close();
    }
  }
});

// The contrast: where §3 lets the response be stored (explicit freshness, `public`, a
// heuristically cacheable status, a configured expiration for it), `no-cache` keeps it stored,
// to be revalidated before each use.
Deno.test("no-cache keeps a response stored where something else makes it storable", async () => {
  const cases: [number, Record<string, string>, object][] = [
    [500, { "cache-control": "no-cache, max-age=60" }, {}],
    [500, { "cache-control": "no-cache", expires: "0" }, {}],
    [500, { "cache-control": "no-cache, public" }, {}],
    [500, { "cache-control": "no-cache, private" }, {}],
    [404, { "cache-control": "no-cache" }, {}],
    [200, { "cache-control": "no-cache" }, {}],
    [500, { "cache-control": "no-cache" }, { allowedCodes: [500], expireAfter: 60 }],
  ];
  for (const [status, headers, options] of cases) {
    const s = scripted(
      (clock) => (_request, n) =>
        n === 1
          ? reply("v1", { etag: '"a"', ...headers }, { status, clock })
          : reply(null, { etag: '"a"', ...headers }, { status: 304, clock }),
      options,
    );
    await s.get();
    const { response, body } = await s.get();
    assertEquals(
      [response.status, body, response.revalidated],
      [status, "v1", true],
      `${status} ${JSON.stringify(headers)}`,
    );
    await s.session.close();
  }
});

// RFC 9110 §7.6.1: the fields a message's `Connection` names are of that message alone, and
// RFC 9111 §3.2 leaves the fields excepted from storage (§3.1) out of a 304's update. A 304 whose
// `Connection` named `X-A` instead deleted the stored response's own `X-A`.
Deno.test("a 304's Connection-named fields neither update nor delete the stored ones", async () => {
  const s = scripted((clock) => (_request, n) =>
    n === 1
      ? reply("v1", { "cache-control": "max-age=10", etag: '"a"', "x-a": "stored", "x-b": "stored" }, {
        clock,
      })
      : reply(null, {
        "cache-control": "max-age=10",
        etag: '"a"',
        connection: "x-a, X-B",
        "x-b": "hop",
        "x-c": "new",
      }, { status: 304, clock })
  );
  await s.get();
  s.clock.tick(20);
  const revalidated = await s.get();
  const fields = (response: Response) =>
    ["x-a", "x-b", "x-c", "connection"].map((name) => response.headers.get(name));
  assertEquals(revalidated.response.revalidated, true);
  assertEquals(fields(revalidated.response), ["stored", "stored", "new", null]);
  const hit = await s.get();
  assertEquals(hit.response.fromCache, true);
  assertEquals(fields(hit.response), ["stored", "stored", "new", null]);
  await s.session.close();
});

// RFC 9110 §5.6.7: an rfc850-date "that appears to be more than 50 years in the future" names the
// most recent past year with those two digits. The year was chosen by the calendar year alone, so
// a date in the year 50 years ahead but past today's date (more than 50 years away) stayed in
// the future.
Deno.test("an rfc850-date more than 50 years ahead, in the year 50 years ahead, names the past century's year", () => {
  const pad = (n: number) => String(n).padStart(2, "0");
  const rfc850 = (time: number) => {
    const d = new Date(time);
    const weekday =
      ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"][d.getUTCDay()];
    const month = d.toUTCString().slice(8, 11);
    return `${weekday}, ${pad(d.getUTCDate())}-${month}-${pad(d.getUTCFullYear() % 100)} ` +
      `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} GMT`;
  };
  const fiftyYears = new Date(Math.floor(Date.now() / 1000) * 1000);
  fiftyYears.setUTCFullYear(fiftyYears.getUTCFullYear() + 50);
  const year = (time: number) => new Date(parseHttpDate(rfc850(time))!).getUTCFullYear();
  const later = fiftyYears.getTime() + 2 * 86_400_000;
  const sooner = fiftyYears.getTime() - 2 * 86_400_000;
  assertEquals(year(later), new Date(later).getUTCFullYear() - 100, rfc850(later));
  assertEquals(year(sooner), new Date(sooner).getUTCFullYear(), rfc850(sooner));
});
