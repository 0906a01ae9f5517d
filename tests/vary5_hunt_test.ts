/**
 * Vary (RFC 9111 §4.1), a fifth hunt: a response that varies on a credential keeps users apart
 * when nothing else does (a `keyFn` that leaves credentials out of the key), whether requests
 * come one at a time, together, or after their responses went stale.
 *
 * @module
 */

import { assertEquals } from "./_assert.ts";
import { delay } from "./_fixtures.ts";
import { Clock, origin, reply, settle } from "./_origin.ts";
import { CachedSession } from "../mod.ts";

// Pins: with a keyFn that leaves credentials out, `Vary: Cookie` / `Vary: Authorization` is all
// that keeps one user's response from another, through coalesced requests and 304s too.
Deno.test("Vary: a credential that a keyFn leaves out of the key still keeps users apart, together and revalidated", async () => {
  for (const header of ["cookie", "authorization"]) {
    for (const setup of ["empty", "stale", "stale with validators"]) {
      const clock = new Clock();
      const o = origin(async (request, n) => {
        await delay(5); // the other requests arrive meanwhile
        const user = request.headers.get(header);
        const fields: Record<string, string> = { "cache-control": "max-age=10", vary: header };
        if (setup === "stale with validators") fields.etag = `"${user}"`;
        if (request.headers.get("if-none-match") === `"${user}"`) {
          return reply(null, fields, { status: 304, clock });
        }
        return reply(`#${n} ${user}`, fields, { clock });
      });
      const session = new CachedSession({
        fetch: o.fetch,
        now: clock.fn,
        keyFn: (request) => `by-path:${request.url.pathname}`,
      });
      const ask = async (user: string) => {
        const response = await session.fetch("http://h.test/", { headers: { [header]: user } });
        return `${user} got ${(await response.text()).split(" ")[1]}`;
      };
      if (setup !== "empty") {
        for (const user of ["alice", "bob"]) await ask(user);
        clock.tick(20);
      }
      const users = ["alice", "bob", "carol", "alice", "bob", "carol"];
      const served = await Promise.all(users.map(ask));
      await settle();
      served.push(...await Promise.all(users.map(ask)));
      assertEquals(served, [...users, ...users].map((user) => `${user} got ${user}`), `${header}, ${setup}`);
      await session.close();
    }
  }
});
