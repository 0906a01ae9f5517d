/**
 * `@x/http-cache`: a persistent, RFC 9111-aware HTTP cache for the web-standard `fetch`, on Deno,
 * Bun and Node.
 *
 * Wrap fetch in a {@linkcode CachedSession} (or use {@linkcode cachedFetch} /
 * {@linkcode installCache}); pick a storage backend from its own entry point
 * (`@x/http-cache/sqlite`, `/redis`, `/mongodb`, `/deno-kv`) — this module loads no driver.
 *
 * @example Cache responses in memory
 * ```ts
 * import { CachedSession } from "./mod.ts";
 *
 * const session = new CachedSession({
 *   fetch: () => Promise.resolve(new Response("hello", { headers: { "cache-control": "max-age=60" } })),
 * });
 * const first = await session.fetch("http://127.0.0.1/hello");
 * await first.text();
 * const second = await session.fetch("http://127.0.0.1/hello");
 * console.log(second.fromCache, await second.text()); // true hello
 * await session.close();
 * ```
 *
 * @module
 */

export { CachedSession, DEFAULT_MAX_BODY_SIZE } from "./src/session.ts";
export { type CachedFetch, cachedFetch, installCache, uninstallCache } from "./src/install.ts";
export { CachedResponse, type CacheInfo } from "./src/response.ts";
export type { CachedSessionOptions, ErrorContext } from "./src/options.ts";
export type { CacheMode, CacheRequestInit } from "./src/request.ts";
export {
  DO_NOT_CACHE,
  EXPIRE_IMMEDIATELY,
  type ExpireAfter,
  NEVER_EXPIRE,
  type UrlsExpireAfter,
} from "./src/expiration.ts";
export { createCacheKey, type KeyOptions, type KeyRequest } from "./src/cache_keys.ts";
export { REVALIDATION_WINDOW_SECONDS } from "./src/store_plan.ts";
export { BackendError, CorruptRecordError, HttpCacheError } from "./src/errors.ts";
export type { CacheEntry } from "./src/record.ts";
export type { CacheStats } from "./src/stats.ts";
export { type CacheStatus, DEFAULT_CACHE_STATUS_NAME, type ForwardReason } from "./src/cache_status.ts";
export type {
  CacheEvent,
  CacheEventType,
  ErrorEvent,
  EvictEvent,
  HitEvent,
  MissEvent,
  StoreEvent,
} from "./src/events.ts";
export {
  CacheBackend,
  type DeleteOptions,
  type DeleteProgress,
  type ResponseFilter,
  type Storage,
  type StoredEntry,
} from "./backends/base.ts";
export {
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_ENTRIES,
  DEFAULT_MAX_ENTRY_SIZE,
  MemoryBackend,
  type MemoryBackendOptions,
} from "./backends/memory.ts";
