/**
 * Time, third pass: the clocks and dates a response's freshness and its storage depend on — HTTP
 * dates in their three formats, the session's clock, and the times the backends are handed.
 *
 * @module
 */

import { assertEquals } from "./_assert.ts";
import { reply } from "./_origin.ts";
import { scripted } from "./_scripted.ts";
import { parseHttpDate } from "../src/cache_control.ts";

const YEAR_MS = 365.2425 * 86_400_000;

/** An rfc850-date of a time, with the day name given. */
function rfc850(time: number, dayName: string): string {
  const [, dd, mon, yyyy, hms] = new Date(time).toUTCString().split(" ");
  return `${dayName}, ${dd}-${mon}-${yyyy!.slice(-2)} ${hms} GMT`;
}

// RFC 9110 §5.6.7 reads a two-digit year within 50 years ahead as that future year, so
// `Thursday, 01-Jan-70 00:00:00 GMT` (the epoch as RFC 850 writes it, which formatters of that
// format send as an Expires meaning "already expired") was read as 2070, a Wednesday: the response
// was stored fresh for 43 years and never asked for again. The day name tells the centuries apart.
Deno.test("an rfc850-date whose day name is that of the century before names that century's year", async () => {
  assertEquals(parseHttpDate("Thursday, 01-Jan-70 00:00:00 GMT"), 0);
  assertEquals(parseHttpDate("THURSDAY, 01-jan-70 00:00:00 gmt"), 0);
  const s = scripted((clock) => (_request, n) =>
    reply(`v${n}`, { expires: "Thursday, 01-Jan-70 00:00:00 GMT" }, { clock })
  );
  await s.get();
  s.clock.tick(1);
  const { response, body } = await s.get();
  assertEquals([body, response.fromCache, s.origin.calls], ["v2", false, 2], "already expired: not served");
  await s.session.close();
});

// The contrast: a future date whose day name is its own, or no century's, keeps the rule's year.
Deno.test("an rfc850-date in the coming 50 years keeps its year when the day name does not name the century before", () => {
  const ahead = Math.floor((Date.now() + 40 * YEAR_MS) / 1000) * 1000;
  const before = new Date(ahead);
  before.setUTCFullYear(before.getUTCFullYear() - 100);
  const days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
  const own = days[new Date(ahead).getUTCDay()]!;
  const past = days[before.getUTCDay()]!;
  const neither = days.find((day) => day !== own && day !== past)!;
  assertEquals(parseHttpDate(rfc850(ahead, own)), ahead);
  assertEquals(parseHttpDate(rfc850(ahead, neither)), ahead);
  assertEquals(parseHttpDate(rfc850(ahead, past)), before.getTime());
});
