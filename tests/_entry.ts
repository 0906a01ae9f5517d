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
    body: new TextEncoder().encode("body"),
    ...overrides,
  };
}
