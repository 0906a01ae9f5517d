/**
 * Options, a third pass: the options of a bulk delete, and arrays with holes in them, are checked
 * as the session's and the backends' options are: a wrong one is refused before anything is done,
 * in a message that names it and what is allowed, not in the words of the code that trips on it.
 *
 * @module
 */

import { assertEquals, assertRejects, assertThrows } from "./_assert.ts";
import { DenoKVBackend } from "../backends/deno_kv.ts";
import { CacheBackend } from "../backends/base.ts";
import { MemoryBackend, MemoryStorage } from "../backends/memory.ts";
import { CachedSession } from "../mod.ts";
import { origin, reply } from "./_origin.ts";

const URL_A = "http://127.0.0.1/options3";

// `delete(filter, options)` read `onProgress` without checking it: one that was no function failed
// the delete with "onProgress is not a function" after its first batch was gone, so the caller
// was told the delete failed while it had deleted entries; and a misspelt option (`onprogress`), a
// progress function passed in place of the options or a Map was ignored without a word.
Deno.test("delete: options of the wrong kind are refused by name before anything is deleted", async () => {
  const o = origin(() => reply("stored", { "cache-control": "max-age=600" }));
  const backend = new MemoryBackend();
  const session = new CachedSession({ backend, fetch: o.fetch });
  try {
    for (let i = 0; i < 3; i++) await (await session.fetch(`${URL_A}/${i}`)).text();
    const cases: [unknown, string][] = [
      [{ onProgress: "x" }, 'Cannot delete: onProgress must be a function: received "x"'],
      [
        { onprogress: () => {} },
        'Cannot delete: unknown option: allowed is onProgress: received "onprogress"',
      ],
      [() => {}, "Cannot delete: options must be an object: received a function"],
      [new Map([["onProgress", () => {}]]), "Cannot delete: options must be an object: received a Map"],
    ];
    for (const [options, message] of cases) {
      for (
        const filter of [{ urlPattern: "127.0.0.1/options3/*" }, { urls: [`${URL_A}/0`] }, { valid: true }]
      ) {
        await assertRejects(() => backend.delete(filter, options as never), TypeError, message);
      }
    }
    assertEquals(await backend.count(), 3, "nothing was deleted");
    // A delete without options, or with undefined ones, still deletes.
    assertEquals(await backend.delete({ urls: [`${URL_A}/0`] }, undefined), 1);
    const progress: number[] = [];
    assertEquals(
      await backend.delete({ valid: true }, { onProgress: ({ deleted }) => progress.push(deleted) }),
      2,
    );
    assertEquals(progress.at(-1), 2);
  } finally {
    await session.close();
  }
});

// An array with a hole skipped the checks (`every` and `map` skip holes): a Deno KV prefix of
// `[, "v1"]` failed with "Cannot read properties of undefined (reading 'length')", and a filter's
// `urls` with a hole with "Cannot destructure property 'search' of 'url' as it is undefined".
Deno.test("a hole in a Deno KV prefix or in a filter's urls is refused naming the option", async () => {
  const kv = { get() {}, list() {}, atomic() {}, close() {} };
  assertThrows(
    () => new DenoKVBackend({ kv: kv as never, prefix: [, "v1"] as never }),
    TypeError,
    "Cannot create DenoKVBackend: prefix must be a non-empty array of strings",
  );
  const backend = new MemoryBackend();
  try {
    const urls = [, `${URL_A}/0`] as never;
    await assertRejects(
      () => backend.count({ urls }),
      TypeError,
      "Cannot count: urls must be an array of absolute URLs: received undefined",
    );
    await assertRejects(
      () => backend.delete({ urls }),
      TypeError,
      "Cannot delete: urls must be an array of absolute URLs: received undefined",
    );
  } finally {
    await backend.close();
  }
});

// A `fetch` option that resolved to something else than a response (a `Response`'s text, a
// forgotten `await` in a wrapper) was reported to `onError`, and its caller got a `CachedResponse`
// with no status whose `url` getter threw.
Deno.test("fetch: a fetch option that resolves to no Response rejects the request with a TypeError naming it", async () => {
  const errors: unknown[] = [];
  const wrong = [undefined, "text", { status: "200" }, { status: 200, headers: {} }];
  for (const value of wrong) {
    const session = new CachedSession({
      backend: new MemoryBackend(),
      fetch: () => Promise.resolve(value as Response),
      onError: (error) => void errors.push(error),
    });
    await assertRejects(
      () => session.fetch(URL_A),
      TypeError,
      `Cannot fetch ${URL_A}: the fetch option resolved to`,
    );
    await session.close();
  }
  assertEquals(errors, []);
});

// A custom storage's `maxEntrySize` was taken as it came: `NaN` (a bound read from an unset
// environment variable) compares with nothing, so the session collected bodies of any size for it.
Deno.test("backend: a custom storage whose maxEntrySize is no size is refused naming it", () => {
  for (const maxEntrySize of [NaN, -1, "1048576", null]) {
    const storage = new MemoryStorage();
    Object.defineProperty(storage, "maxEntrySize", { value: maxEntrySize });
    assertThrows(
      () => new CachedSession({ backend: new CacheBackend(storage) }),
      TypeError,
      "backend.storage.maxEntrySize must be a number of bytes (0 or more, Infinity) or undefined",
    );
  }
  for (const maxEntrySize of [0, 1024, Infinity, undefined]) {
    const storage = new MemoryStorage();
    Object.defineProperty(storage, "maxEntrySize", { value: maxEntrySize });
    new CachedSession({ backend: new CacheBackend(storage) });
  }
});

// A clock that gave no time (`NaN`, an unset fake clock's `undefined`) made every record the
// session read decode as corrupt, and so be deleted, on a backend other sessions may share.
Deno.test("now: a clock that gives no time is refused when the session is created, naming it", () => {
  for (const time of [NaN, undefined, Infinity, "1700000000000"]) {
    assertThrows(
      () => new CachedSession({ now: () => time as number }),
      TypeError,
      `now must return the time in epoch milliseconds: received`,
    );
  }
  new CachedSession({ now: () => 1_700_000_000_000 });
});

// The errors the session makes name the URL without its userinfo: `onError` hears them of a
// background refresh, and its default writes them to the console.
Deno.test("fetch: an error the session makes of a URL with a password does not carry the password", async () => {
  const session = new CachedSession({
    backend: new MemoryBackend(),
    fetch: () => Promise.resolve("text" as never),
  });
  await assertRejects(
    () => session.fetch("http://alice:secret@127.0.0.1/options3"),
    TypeError,
    "Cannot fetch http://127.0.0.1/options3: the fetch option resolved to",
  );
  await session.close();
});
