/**
 * A complete stored entry for tests that write records directly.
 *
 * @module
 */
import type { CacheEntry } from "../src/record.ts";

/**
 * A 200 `text/plain` response with the body "body", stored just now and fresh for an hour.
 *
 * @param overrides Fields to change.
 * @returns The entry.
 */
export function testEntry(overrides: Partial<CacheEntry> = {}): CacheEntry {
  const now = Date.now();
  return {
    method: "GET",
    url: "https://example.com/resource",
    redirected: false,
    status: 200,
    statusText: "OK",
    headers: [["content-type", "text/plain"]],
    vary: [],
    requestTime: now - 10,
    responseTime: now - 5,
    createdAt: now,
    expiresAt: now + 3_600_000,
    varyGeneration: 0,
    body: new TextEncoder().encode("body"),
    ...overrides,
  };
}

/**
 * Fields that another writer may leave in a record and that no `Request` or `Headers` takes (or a
 * line break where a response has none): each makes the record corrupt.
 */
export const UNSERVABLE_FIELDS: readonly Partial<CacheEntry>[] = [
  { headers: [["x-a", "a\r\nset-cookie: evil=1"]] },
  { headers: [["bad name", "x"]] },
  { headers: [["x-a", "a\0b"]] },
  { headers: [["x-a", "\u{1F600}"]] },
  { statusText: "OK\r\nX-Injected: 1" },
  { url: "https://example.com/\n" },
  { method: "GET\nPOST" },
  { vary: [["bad name", null]] },
  { status: 600 },
  { status: 199 },
];
