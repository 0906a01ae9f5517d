/**
 * The inspection and bulk-delete part of the conformance suite: `entries`, `size`,
 * `delete(filter)`, `deleteExpired` across batch boundaries, and the filters of `responses`,
 * `urls` and `count`. `runStorageSuite` registers it for every backend.
 *
 * @module
 */

import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import type { CacheBackend, DeleteProgress } from "../../backends/base.ts";
import { ALIAS_PREFIX, urlKeyPrefix } from "../../src/cache_keys.ts";
import { DELETE_BATCH, READ_AHEAD } from "../../src/inspection.ts";
import { encodeAlias, encodeEntry } from "../../src/record.ts";
import { testEntry as entry } from "../_entry.ts";

/** Registers one test of the suite against a fresh cache. */
export type SuiteTest = (name: string, fn: (cache: CacheBackend) => Promise<void>) => void;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * Registers the inspection tests.
 *
 * @param test The suite's test registrar.
 */
export function runInspectionSuite(test: SuiteTest): void {
  test("entries streams key, entry and record size; size() adds up every record", async (cache) => {
    const a = entry({ url: "https://example.com/a", body: new Uint8Array(1000).fill(1) });
    const b = entry({ url: "https://example.com/b", headers: [["x-long", "y".repeat(300)]] });
    await cache.write("a", a, Infinity);
    await cache.write("b", b, Infinity);
    await cache.writeAlias("r", "a", Infinity);
    const found = new Map<string, number>();
    for await (const { key, entry, size } of cache.entries()) {
      found.set(key, size);
      equal(entry.url, key === "a" ? a.url : b.url);
    }
    deepEqual(found, new Map([["a", encodeEntry(a).length], ["b", encodeEntry(b).length]]));
    equal(await cache.size(), encodeEntry(a).length + encodeEntry(b).length + encodeAlias(["a"]).length);
    await cache.clear();
    equal(await cache.size(), 0);
  });

  test("filters combine with AND: expired, valid, olderThan and urlPattern", async (cache) => {
    const now = Date.now();
    cache.now = () => now;
    const old = now - 10 * DAY;
    await cache.write(
      "old-stale",
      entry({ url: "https://api.example.com/v1/a", createdAt: old, expiresAt: now - 1 }),
      Infinity,
    );
    await cache.write(
      "old-fresh",
      entry({ url: "https://api.example.com/v2/b", createdAt: old, expiresAt: now + HOUR }),
      Infinity,
    );
    await cache.write(
      "new-stale",
      entry({ url: "https://www.example.com/c", createdAt: now - HOUR, expiresAt: now }),
      Infinity,
    );
    await cache.write(
      "new-fresh",
      entry({ url: "https://www.example.com/d", createdAt: now, expiresAt: Infinity }),
      Infinity,
    );
    const keys = async (filter: Parameters<CacheBackend["entries"]>[0]) => {
      const out: string[] = [];
      for await (const { key } of cache.entries(filter)) out.push(key);
      return out.sort();
    };
    deepEqual(await keys({ expired: true }), ["new-stale", "old-stale"]);
    deepEqual(await keys({ valid: true }), ["new-fresh", "old-fresh"]);
    deepEqual(await keys({ olderThan: 7 * 86_400 }), ["old-fresh", "old-stale"]);
    deepEqual(await keys({ olderThan: new Date(now - HOUR + 1) }), ["new-stale", "old-fresh", "old-stale"]);
    deepEqual(await keys({ urlPattern: "api.example.com/*" }), ["old-fresh", "old-stale"]);
    deepEqual(
      await keys({ urlPattern: "https://API.example.com/v2" }),
      ["old-fresh"],
      "scheme dropped, any case",
    );
    deepEqual(await keys({ urlPattern: /\/[cd]$/ }), ["new-fresh", "new-stale"]);
    deepEqual(await keys({ urlPattern: "*.example.com/*", expired: true, olderThan: 86_400 }), ["old-stale"]);
    deepEqual(await keys({ expired: true, valid: true }), []);
    equal(await cache.count({ urlPattern: "www.example.com" }), 2);
    deepEqual(await cache.urls({ urlPattern: "api.*", valid: true }), ["https://api.example.com/v2/b"]);
    const bodies: string[] = [];
    for await (const response of cache.responses({ urlPattern: /v1/ })) bodies.push(response.url);
    deepEqual(bodies, ["https://api.example.com/v1/a"]);

    equal(await cache.delete({ urlPattern: "api.example.com", expired: true }), 1);
    equal(await cache.delete({ olderThan: 86_400 }), 1);
    deepEqual(await keys({}), ["new-fresh", "new-stale"]);
    equal(await cache.delete({ valid: true }), 1);
    deepEqual(await keys({}), ["new-stale"]);
  });

  test("delete({ urls }) removes a URL's variants and the entry a redirect to it led to", async (cache) => {
    const page = "https://example.com/page?b=2&a=1";
    const prefix = await urlKeyPrefix("GET", new URL(page));
    const start = await urlKeyPrefix("GET", new URL("https://example.com/start"));
    const other = await urlKeyPrefix("GET", new URL("https://example.com/other"));
    const now = Date.now();
    await cache.write(prefix, entry({ url: page, expiresAt: now - 1 }), Infinity);
    await cache.write(`${prefix}+cred`, entry({ url: page }), Infinity);
    // A response to /start that was redirected to the page: stored under /start, aliased from the page.
    await cache.write(start, entry({ url: "https://example.com/page?a=1&b=2", redirected: true }), Infinity);
    await cache.writeAlias(prefix, start, Infinity);
    await cache.write(other, entry({ url: "https://example.com/other" }), Infinity);
    const listed: string[] = [];
    for await (const { key } of cache.entries({ urls: ["https://example.com/page?a=1&b=2#top"] })) {
      listed.push(key);
    }
    deepEqual(listed.sort(), [prefix, `${prefix}+cred`, start].sort());
    equal(await cache.delete({ urls: [page], expired: true }), 1);
    deepEqual(
      await cache.read(ALIAS_PREFIX + prefix),
      { targets: [start] },
      "the alias stays with its entry",
    );
    equal(await cache.delete({ urls: [new URL(page)] }), 2);
    equal(await cache.read(ALIAS_PREFIX + prefix), undefined);
    deepEqual(await allKeys(cache), [other]);
    equal(await cache.delete({ urls: [] }), 0);
  });

  test("deleteExpired and delete(filter) across several batches, with progress", async (cache) => {
    const total = DELETE_BATCH * 2 + READ_AHEAD + 7;
    let now = Date.now();
    cache.now = () => now;
    const stored = Array.from({ length: total }, (_, i) => i);
    for (let first = 0; first < total; first += 100) {
      await Promise.all(
        stored.slice(first, first + 100).map((i) =>
          cache.write(
            `k${String(i).padStart(5, "0")}`,
            entry({ url: `https://example.com/${i}`, expiresAt: i % 3 === 0 ? now + HOUR : now - 1 }),
            Infinity,
          )
        ),
      );
    }
    equal(await cache.count(), total);
    const fresh = stored.filter((i) => i % 3 === 0).length;
    equal(await cache.count({ valid: true }), fresh);
    const progress: DeleteProgress[] = [];
    equal(
      await cache.delete({ expired: true }, { onProgress: (step) => progress.push(step) }),
      total - fresh,
    );
    ok(progress.length >= 2, "progress is reported per batch");
    deepEqual(progress.at(-1), { scanned: total, deleted: total - fresh });
    for (let i = 1; i < progress.length; i++) ok(progress[i]!.deleted >= progress[i - 1]!.deleted);
    equal(await cache.count(), fresh);
    equal(await cache.deleteExpired(), 0);
    now += 2 * HOUR;
    equal(await cache.deleteExpired(), fresh);
    equal(await cache.count(), 0);
  });

  test("delete(...keys) still deletes by key; an empty or malformed filter is refused", async (cache) => {
    await cache.write("a", entry(), Infinity);
    await cache.write("b", entry(), Infinity);
    await cache.delete("a");
    deepEqual(await allKeys(cache), ["b"]);
    await rejects(cache.delete({}), { name: "TypeError", message: /the filter must give urls/ });
    await rejects(cache.delete({ expired: false }), TypeError);
    await rejects(cache.delete({ olderThan: -1 }), RangeError);
    await rejects(cache.delete({ urls: ["not a url"] }), /urls must be an array of absolute URLs/);
    await rejects(cache.count({ urlPattern: 42 as unknown as string }), /urlPattern must be/);
    deepEqual(await allKeys(cache), ["b"], "nothing was deleted by a refused call");
  });
}

async function allKeys(cache: CacheBackend): Promise<string[]> {
  const out: string[] = [];
  for await (const key of cache.keys()) out.push(key);
  return out.sort();
}
