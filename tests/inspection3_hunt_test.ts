/**
 * Third hunt over the inspection API and the `http-cache` CLI: records of another writer met by
 * a filtered scan, the progress a bulk delete reports, and the CLI's cache URL parameters.
 *
 * @module
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { CacheBackend, type DeleteProgress } from "../backends/base.ts";
import { MemoryStorage } from "../backends/memory.ts";
import { SQLiteStorage } from "../backends/sqlite.ts";
import { ALIAS_PREFIX, urlKeyPrefix } from "../src/cache_keys.ts";
import { EXIT_OK, EXIT_USAGE } from "../src/cli/main.ts";
import { encodeAlias, encodeEntry } from "../src/record.ts";
import { runCli as cli } from "./_cli.ts";
import { testEntry } from "./_entry.ts";
import { BACKENDS, dispose, sqliteCacheFile } from "./_fixtures.ts";
import { tempDir } from "./_runtime.ts";

Deno.test("inspection3 hunt: a record of another writer whose URL does not parse fails no scan", async (t) => {
  // A glob's matcher parsed each entry's URL: one record of a crafted file or a shared server
  // whose URL is no URL made every `urlPattern` listing, count and delete throw `Invalid URL`
  // (and the CLI's `list --url` exit 2, as for a usage error), and so did a delete by URL that
  // met it through a redirect alias.
  for (const backend of BACKENDS) {
    await t.step({
      name: backend.name,
      ignore: backend.skip !== undefined,
      async fn() {
        const cache = await backend.open();
        try {
          const url = "https://example.com/api/users";
          const key = urlKeyPrefix("GET", new URL(url));
          await cache.write(key, testEntry({ url }), Infinity);
          await cache.storage.set("foreign", encodeEntry(testEntry({ url: "not a url" })), Infinity);
          // An alias of the URL that leads to the foreign record.
          await cache.storage.set(ALIAS_PREFIX + key + "+x", encodeAlias(["foreign"]), Infinity);
          const pattern = { urlPattern: "example.com/api/*" };
          deepEqual(await cache.urls(pattern), [url]);
          equal(await cache.count(pattern), 1);
          equal(await cache.count({ urls: [url] }), 1);
          equal(await cache.delete({ urls: [url] }), 1);
          await cache.write(key, testEntry({ url }), Infinity);
          equal(await cache.delete(pattern), 1);
          deepEqual(await cache.urls(), ["not a url"], "the foreign record is left alone");
        } finally {
          await dispose(cache);
        }
      },
    });
  }
  await t.step("the CLI's list --url", async () => {
    const path = await sqliteCacheFile(`${tempDir("http_cache_inspection3_")}/foreign.db`, [
      testEntry({ url: "https://example.com/api/users" }),
    ]);
    const cache = new CacheBackend(new SQLiteStorage({ path }));
    await cache.storage.set("foreign", encodeEntry(testEntry({ url: "not a url" })), Infinity);
    await cache.close();
    const listed = await cli([`sqlite:${path}`, "list", "--url", "example.com/*", "--json"]);
    equal(listed.code, EXIT_OK, listed.stderr);
    deepEqual(JSON.parse(listed.stdout).map((entry: { url: string }) => entry.url), [
      "https://example.com/api/users",
    ]);
  });
});

/** A memory or SQLite storage that counts the keys it has deleted. */
function counted<S extends MemoryStorage | SQLiteStorage>(storage: S): S & { removed: () => number } {
  let removed = 0;
  const remove = storage.delete.bind(storage);
  storage.delete = async (keys) => {
    await remove(keys);
    removed += keys.length;
  };
  return Object.assign(storage, { removed: () => removed });
}

Deno.test("inspection3 hunt: a bulk delete reports as deleted only what the storage has deleted", async () => {
  // `deleted` ("entries deleted so far") counted each entry as it was selected: the report every
  // 1,000 entries scanned said 250 deleted while the 250 still waited for their batch, none gone
  // (and, had the batch failed, none would be).
  const storages = [
    counted(new MemoryStorage({ maxEntries: 10_000 })),
    counted(new SQLiteStorage({ path: ":memory:" })),
  ];
  for (const storage of storages) {
    const cache = new CacheBackend(storage);
    for (let i = 0; i < 2000; i++) {
      const url = `https://example.com/${i % 4 === 0 ? "old" : "new"}/${i}`;
      await storage.set(`k${String(i).padStart(4, "0")}`, encodeEntry(testEntry({ url })), Infinity);
    }
    const reports: [DeleteProgress, number][] = [];
    const deleted = await cache.delete({ urlPattern: "example.com/old/*" }, {
      onProgress: (progress) => reports.push([progress, storage.removed()]),
    });
    equal(deleted, 500);
    ok(reports.some(([{ scanned }]) => scanned === 1000), `${storage.name}: a report at 1,000 scanned`);
    for (const [progress, removed] of reports) {
      ok(progress.deleted <= removed, `${storage.name}: ${JSON.stringify(progress)} with ${removed} deleted`);
    }
    deepEqual(reports.at(-1), [{ scanned: 2000, deleted: 500 }, 500]);
    await cache.close();
  }
});

Deno.test("inspection3 hunt: the CLI refuses an empty ?prefix= or ?collection= instead of opening the default cache", async () => {
  // An empty value was taken for no value: `redis://…?prefix=$PREFIX clear --yes`, its variable
  // unset, cleared the cache under the default prefix (and `?collection=` the default
  // collection), which the command line did not name. (Unreachable ports: nothing is opened.)
  for (
    const [spec, option] of [
      ["redis://127.0.0.1:1/?prefix=", /prefix must be a non-empty string/],
      ["mongodb://127.0.0.1:1/db?collection=", /collection must be a name/],
    ] as const
  ) {
    const refused = await cli([spec, "clear", "--yes"]);
    equal(refused.code, EXIT_USAGE, `${spec}: ${refused.stderr}`);
    match(refused.stderr, option);
    equal(refused.stdout, "");
  }
});

Deno.test("inspection3 hunt: a MongoDB cache URL whose database is malformed percent-encoding is a usage error", async () => {
  // Its decoding threw a URIError, reported as `http-cache: URI malformed` with exit 1: a message
  // that names neither the cache nor what is wrong with it, for what the usage calls a bad cache URL.
  const refused = await cli(["mongodb://127.0.0.1:1/%zz", "stats"]);
  equal(refused.code, EXIT_USAGE, refused.stderr);
  match(refused.stderr, /mongodb:\/\/127\.0\.0\.1:1\/%zz names its database in malformed percent-encoding/);
});
