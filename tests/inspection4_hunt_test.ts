/**
 * Fourth hunt over the inspection API: the same answers on every backend for URL patterns with
 * special characters and Vary variants, and scans that leave the memory cache's order of use alone.
 */
import { deepEqual, equal } from "node:assert/strict";
import { CachedSession, MemoryBackend } from "../mod.ts";
import { BACKENDS, dispose } from "./_fixtures.ts";
import { origin, reply } from "./_origin.ts";

/** A URL pattern, and the URLs it selects among those the test stores. */
const PATTERNS: [string, string[]][] = [
  ["example.com/api/*", ["https://example.com/api/users"]],
  ["example.com:8443/*", ["https://example.com:8443/api/port"]],
  ["example.com/café/*", ["https://example.com/caf%C3%A9/menu"]],
  ["example.com/caf%c3%a9/*", ["https://example.com/caf%C3%A9/menu"]],
  ["example.com/a(b)+c/*", ["https://example.com/a(b)+c/x"]],
  ["example.com/{x}/*", ["https://example.com/%7Bx%7D/y"]],
  ["example.com/space here/*", ["https://example.com/space%20here/z"]],
  ["bücher.example/*", ["https://xn--bcher-kva.example/buch"]],
  ["*.example/*", ["https://xn--bcher-kva.example/buch"]],
  ["example.com/q?b=2*", ["https://example.com/q?b=2&a=1"]],
  ["*/api/*", ["https://example.com/api/users", "https://example.com:8443/api/port"]],
];

Deno.test("inspection4 hunt: every backend lists, counts and deletes the same entries for patterns with special characters", async (t) => {
  for (const backend of BACKENDS) {
    await t.step({
      name: backend.name,
      ignore: backend.skip !== undefined,
      async fn() {
        const cache = await backend.open();
        const server = origin((request) =>
          reply(`body of ${request.url}`, { "cache-control": "max-age=60", vary: "accept" })
        );
        const session = new CachedSession({ fetch: server.fetch, backend: cache });
        try {
          const urls = [...new Set(PATTERNS.flatMap(([, urls]) => urls))];
          for (const url of urls) await (await session.fetch(url)).text();
          const html = { headers: { accept: "text/html" } };
          await (await session.fetch("https://example.com/api/users", html)).text();
          for (const [pattern, selected] of PATTERNS) {
            deepEqual(await session.cache.urls({ urlPattern: pattern }), selected, pattern);
          }
          equal(await session.cache.count(), urls.length + 1);
          equal(await session.cache.count({ valid: true, urlPattern: "*/api/*" }), 3);
          const users = { urls: ["https://example.com/api/users"] };
          const bodies: string[] = [];
          for await (const response of session.cache.responses(users)) bodies.push(await response.text());
          deepEqual(
            bodies,
            Array(2).fill("body of https://example.com/api/users"),
            "both Vary variants, whole",
          );
          // A scan broken off leaves nothing held that stops the next one.
          for await (const _ of session.cache.entries()) break;
          equal(await session.cache.delete({ ...users, olderThan: 0 }), 2);
          equal(await session.cache.delete({ urlPattern: "example.com:8443/*" }), 1);
          equal(await session.cache.count(), urls.length - 2);
        } finally {
          await session.close();
          await dispose(cache);
        }
      },
    });
  }
});

Deno.test("inspection4 hunt: a scan of the memory cache leaves its order of use as the session's hits made it", async (t) => {
  // A scan read each record with the storage's get, which counts a use: after size() (say, a
  // metric taken every minute) the least recently used was the first written, however often it
  // was hit, and the next response stored evicted it.
  const scans: [string, (cache: MemoryBackend) => Promise<unknown>][] = [
    ["size()", (cache) => cache.size()],
    ["count(filter)", (cache) => cache.count({ expired: true })],
    ["urls()", (cache) => cache.urls()],
    ["entries()", async (cache) => {
      for await (const _ of cache.entries()) { /* every entry */ }
    }],
    ["delete by state", (cache) => cache.delete({ olderThan: 3600 })],
  ];
  for (const [name, scan] of scans) {
    await t.step(name, async () => {
      const cache = new MemoryBackend({ maxEntries: 3 });
      const server = origin((request) => reply(`body of ${request.url}`, { "cache-control": "max-age=60" }));
      const session = new CachedSession({ fetch: server.fetch, backend: cache });
      const get = async (path: string) => await (await session.fetch(`https://example.com/${path}`)).text();
      try {
        for (const path of ["a", "b", "c", "a"]) await get(path);
        equal(server.calls, 3, "the second request for /a is a hit");
        await scan(cache);
        await get("d"); // evicts the least recently used: /b
        await get("a");
        equal(server.calls, 4, "/a, used last but one, is still stored");
      } finally {
        await session.close();
      }
    });
  }
});
