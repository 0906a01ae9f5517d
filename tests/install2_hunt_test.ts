/**
 * `installCache` / `uninstallCache` / `cachedFetch` beside what else a process may hold: a `fetch`
 * option whose promise is not this realm's, no global fetch at all, and a second copy of this
 * module (a hot reload evaluating it again, one from npm beside one from JSR). Each test that
 * patches `globalThis.fetch` puts back what it found, whatever happens.
 *
 * @module
 */

import vm from "node:vm";
import { assert, assertEquals } from "./_assert.ts";
import { cachedFetch, type CachedResponse, CachedSession, installCache, uninstallCache } from "../mod.ts";
import { origin, reply } from "./_origin.ts";
import { withGlobalFetch, within } from "./_fixtures.ts";

const URL_A = "http://127.0.0.1/install2";
const FRESH = { "cache-control": "max-age=60" };

/** The module's exports this file uses, as a second copy of it has them. */
type InstallModule = Pick<typeof import("../src/install.ts"), "installCache" | "uninstallCache">;

// askOrigin took the option's call as settled at once unless it returned an `instanceof Promise`
// of this realm: an async fetch option of a `node:vm` context (Jest runs tests in one) or another
// thenable that called `globalThis.fetch` after an await reached the session again, which waited
// on its own request forever.
Deno.test("installCache with a fetch option whose promise is another realm's, or a thenable: its later call of globalThis.fetch reaches the fetch that was global", async () => {
  const o = origin((_request, n) => reply(`body ${n}`, FRESH));
  const realm = vm.createContext({
    globalFetch: (input: RequestInfo | URL, init?: RequestInit) => fetch(input, init),
  });
  const options: [string, typeof fetch][] = [
    [
      "a node:vm async function",
      vm.runInContext("(async (input, init) => { await null; return globalFetch(input, init); })", realm),
    ],
    [
      "a thenable",
      ((input: RequestInfo | URL, init?: RequestInit) => ({
        then(resolve: (value: unknown) => void, reject: (reason: unknown) => void) {
          Promise.resolve().then(() => fetch(input, init)).then(resolve, reject);
        },
      })) as unknown as typeof fetch,
    ],
  ];
  for (const [label, option] of options) {
    await withGlobalFetch(o.fetch, async () => {
      const session = installCache({ fetch: option });
      const response = await within(5_000, fetch(`${URL_A}?${label.length}`));
      assertEquals([response.status, (response as CachedResponse).fromCache], [200, false], label);
      await response.text();
      assertEquals(
        (await within(5_000, fetch(`${URL_A}?${label.length}`)) as CachedResponse).fromCache,
        true,
        label,
      );
      await session.close();
    });
  }
  assertEquals(o.calls, 2);
});

// cachedFetch and installCache copied the global fetch's own members with Reflect.ownKeys, which
// throws on `undefined`: where there is no global fetch, `cachedFetch({ fetch })` threw a TypeError
// that named no option, though `new CachedSession({ fetch })` works there.
Deno.test("cachedFetch and installCache given a fetch option work where there is no global fetch", async () => {
  const o = origin((_request, n) => reply(`body ${n}`, FRESH));
  await withGlobalFetch(undefined, async () => {
    const fetch = cachedFetch({ fetch: o.fetch });
    assertEquals(await (await fetch(URL_A)).text(), "body 1");
    assertEquals((await fetch(URL_A)).fromCache, true);
    await fetch.session.close();
    const session = installCache({ fetch: o.fetch });
    assertEquals(await (await globalThis.fetch(`${URL_A}?installed`)).text(), "body 2");
    assert(session instanceof CachedSession);
    uninstallCache();
    assertEquals(globalThis.fetch, undefined);
    await session.close();
  });
});

// The installation in place was a variable of the module: a second copy of it (a hot reload
// evaluating it again, one from npm beside one from JSR) saw none, so its installCache stacked a
// second cache over the first, still live, and its uninstallCache put the first cache back.
Deno.test("installCache from a second copy of the module replaces the first copy's installation, and uninstallCache restores the original", async () => {
  const o = origin((_request, n) => reply(`body ${n}`, FRESH));
  // Two copies of the module, each evaluated apart (a specifier built at run time: the type
  // checker does not resolve it).
  const copy = (name: string): Promise<InstallModule> => import(`../src/install.ts?${name}`);
  const [one, two] = [await copy("one"), await copy("two")];
  assert(one.installCache !== two.installCache, "not two copies");
  await withGlobalFetch(o.fetch, async () => {
    const first = one.installCache();
    await (await fetch(URL_A)).text();
    const second = two.installCache({ expireAfter: 5 });
    await (await fetch(`${URL_A}?b`)).text();
    assertEquals([first.stats().requests, second.stats().requests], [1, 1], "the first cache is still asked");
    two.uninstallCache();
    assertEquals(globalThis.fetch, o.fetch);
    const after = await fetch(URL_A);
    assertEquals([await after.text(), (after as CachedResponse).fromCache], ["body 3", undefined]);
    // And the other way round: the first copy uninstalls what the second installed.
    two.installCache();
    one.uninstallCache();
    assertEquals(globalThis.fetch, o.fetch);
    await first.close();
    await second.close();
  }, [one, two]);
});
