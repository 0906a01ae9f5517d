/**
 * The session's side of the backend: reads that turn a failure into a miss, writes and deletions
 * that report a failure instead of throwing it, and the background work `close()` waits for.
 * Every failure goes to the monitor (stats, events) and to the user's `onError`.
 *
 * @module
 */

import type { CacheBackend } from "../backends/base.ts";
import { normalizeUrl, urlKeyPrefix } from "./cache_keys.ts";
import { BackendError } from "./errors.ts";
import { keyFor } from "./lookup.ts";
import { type Invalidations, invalidationsOf } from "./invalidations.ts";
import type { Monitor } from "./monitor.ts";
import type { ErrorContext, ResolvedOptions } from "./options.ts";
import type { CacheEntry } from "./record.ts";
import type { ParsedRequest } from "./request.ts";
import { type Flow, invalidatedUrls } from "./serve.ts";
import { type Found, planDeleteAt } from "./store_plan.ts";

/** What a report names: the request, by its label or its method and URL. */
type Reported = Pick<ParsedRequest, "method" | "url"> & { label?: string };

/** Reads, writes and background work of one session, never failing the request they serve. */
export class CacheAccess {
  #cache: CacheBackend;
  #o: ResolvedOptions;
  #monitor: Monitor;
  #background = new Set<Promise<unknown>>();
  /** Shared with every other session over the same storage, and with the cache's own deletes. */
  #invalidations: Invalidations;

  /**
   * @param cache The backend.
   * @param o The session's options (`onError`, `waitUntil`, keys, expiry).
   * @param monitor Where stats and events go.
   */
  constructor(cache: CacheBackend, o: ResolvedOptions, monitor: Monitor) {
    this.#cache = cache;
    this.#o = o;
    this.#monitor = monitor;
    this.#invalidations = invalidationsOf(cache.storage);
  }

  /**
   * Reads a record.
   *
   * @param flow The request it is read for.
   * @param key The storage key.
   * @returns The record, `undefined` when there is none, `null` when the read failed (reported).
   */
  read(flow: Flow, key: string): Promise<Awaited<ReturnType<CacheBackend["read"]>> | null> {
    // Not async: a hit waits for one promise here, not for an async frame around it as well.
    return this.#cache.read(key).then(undefined, (error) => {
      if (error instanceof BackendError && error.cause instanceof SyntaxError) {
        this.#monitor.evicted(flow.label, "corrupt", key);
      }
      this.report(error, "read", flow);
      return null;
    });
  }

  /**
   * A mark for a request that goes to the network now: what the origin sends is stored only if
   * its URL is not invalidated meanwhile ({@linkcode Invalidations}).
   *
   * @returns The mark.
   */
  mark(): number {
    return this.#invalidations.mark();
  }

  /**
   * Stores an entry; a failed write is reported, and the entry still answers waiting requests.
   *
   * @param flow The request it was fetched for.
   * @param key The storage key.
   * @param entry The entry.
   * @param asked The request's {@linkcode mark}: the entry is not stored if its URL was
   *   invalidated since.
   * @param deleteAt When the storage may reclaim it (epoch ms); by default from the entry.
   * @param record The entry already encoded, if it is.
   * @returns The entry.
   */
  async store(
    flow: Flow,
    key: string,
    entry: CacheEntry,
    asked: number,
    deleteAt?: number,
    record?: Uint8Array,
  ): Promise<CacheEntry> {
    try {
      const write = () => this.#cache.write(key, entry, deleteAt ?? planDeleteAt(entry, this.#o), record);
      // The URL asked for and, if a redirect led elsewhere, that one too.
      const urls = () => [flow.url, new URL(entry.url)].map((url) => this.#urlOf(url));
      if (await this.#invalidations.write(urls, asked, write)) {
        this.#monitor.stored(flow, key, entry);
      }
    } catch (error) {
      this.report(error, "write", flow);
    }
    return entry;
  }

  /**
   * Stores an entry that a 304 (or a HEAD response) freshened and, for an entry a redirect led to,
   * its alias again, for as long: an entry whose alias is gone is not served (`lookup`), so the
   * alias must not expire first.
   *
   * @param flow The request that revalidated it.
   * @param found Where the entry was found.
   * @param entry The freshened entry.
   * @param asked The request's {@linkcode mark}.
   * @returns The entry.
   */
  async storeFreshened(flow: Flow, found: Found, entry: CacheEntry, asked: number): Promise<CacheEntry> {
    const deleteAt = planDeleteAt(entry, this.#o);
    if (entry.redirected && !found.viaAlias) await this.alias(flow, entry.url, flow.key, asked, deleteAt);
    return await this.store(flow, found.key, entry, asked, deleteAt);
  }

  /**
   * Points the key of a redirect's final URL at the entry stored for the URL that was asked for.
   *
   * @param flow The request.
   * @param finalUrl The URL the redirects ended at.
   * @param target The key of the stored entry.
   * @param asked The request's {@linkcode mark}: the alias is not stored if the final URL was
   *   invalidated since.
   * @param deleteAt When the storage may reclaim the alias (epoch ms).
   */
  async alias(flow: Flow, finalUrl: string, target: string, asked: number, deleteAt: number): Promise<void> {
    try {
      const url = new URL(finalUrl);
      const key = await keyFor({ method: "GET", url, headers: flow.headers }, this.#o);
      if (key === target) return;
      await this.#invalidations.write(
        () => [this.#urlOf(url)],
        asked,
        () => this.#cache.writeAlias(key, target, deleteAt),
      );
    } catch (error) {
      this.report(error, "write", flow);
    }
  }

  /**
   * RFC 9111 §4.4: a non-error response to an unsafe method invalidates the target URI and the
   * same-origin `Location` and `Content-Location`: every stored method, variant and alias, and
   * what a redirect to one of them led to. A response asked for before is not stored after, and
   * writes under way end before the delete: `deleteUrls` invalidates the URLs first.
   *
   * @param flow The unsafe request.
   * @param response Its response.
   */
  async invalidate(flow: Reported & { label: string }, response: Response): Promise<void> {
    try {
      const urls = [...invalidatedUrls(flow.url, response)];
      await this.#cache.deleteUrls(...urls.map((url) => normalizeUrl(url, this.#o.ignoredParameters)));
      for (const url of urls) this.#monitor.evicted(flow.label, "invalidated", url.href);
    } catch (error) {
      this.report(error, "delete", flow);
    }
  }

  /** A URL as the invalidations know it: as the keys of its entries start. */
  #urlOf(url: URL): string {
    return urlKeyPrefix("GET", url, this.#o.ignoredParameters);
  }

  /**
   * Keeps background work (refreshes, writes) for `settled()` and hands it to `waitUntil`.
   *
   * @param work The work; its failure is the work's own business.
   */
  track(work: Promise<unknown>): void {
    const tracked = work.catch(() => {});
    this.#background.add(tracked);
    tracked.finally(() => this.#background.delete(tracked));
    this.#o.waitUntil?.(tracked);
  }

  /** Settles once all background work has, including work started meanwhile. */
  async settled(): Promise<void> {
    while (this.#background.size > 0) await Promise.allSettled([...this.#background]);
  }

  /**
   * Reports a failure to the monitor and to `onError`; a failing `onError` is ignored.
   *
   * @param error The failure.
   * @param operation What was being done.
   * @param request The request it was done for.
   */
  report(error: unknown, operation: ErrorContext["operation"], request: Reported): void {
    const context = { operation, request: request.label ?? `${request.method} ${request.url.href}` };
    this.#monitor.failed(error, context);
    try {
      this.#o.onError(error, context);
    } catch {
      // A failing error handler must not fail the request either.
    }
  }
}
