/**
 * The session's side of the backend: reads that turn a failure into a miss, writes and deletions
 * that report a failure instead of throwing it, and the background work `close()` waits for.
 * Every failure goes to the monitor (stats, events) and to the user's `onError`.
 *
 * @module
 */

import type { CacheBackend } from "../backends/base.ts";
import { ALIAS_PREFIX, normalizeUrl, redactUrl, urlKeyPrefix, withoutFragment } from "./cache_keys.ts";
import { CorruptRecordError, isBackendError } from "./errors.ts";
import { aliasKeyOf } from "./lookup.ts";
import { deleteEntries } from "./inspection.ts";
import { storedMethods } from "./key_forms.ts";
import { type Invalidations, invalidationsOf, urlPartOf } from "./invalidations.ts";
import type { Monitor } from "./monitor.ts";
import type { ErrorContext, ResolvedOptions } from "./options.ts";
import type { CacheEntry } from "./record.ts";
import { type ParsedRequest, SAFE_METHODS } from "./request.ts";
import { type Flow, invalidatedUrls } from "./serve.ts";
import { type Found, planDeleteAt } from "./store_plan.ts";
import { callSafely } from "./callbacks.ts";
import { settledWithin } from "./deadline.ts";
import { Breaker, type Call } from "./breaker.ts";

/**
 * Methods that set the state of their target whatever their body (RFC 9110 §9.3.4, §9.3.5; RFC
 * 5789): a session that stores them still drops every stored answer to them on a new one, or the
 * answer to an earlier `PUT` of another body would answer that body again without sending it.
 */
const STATE_SETTING_METHODS = new Set(["DELETE", "PATCH", "PUT"]);

/** What a read of the backend finds. */
type Read = Awaited<ReturnType<CacheBackend["read"]>>;

/** A read the session did not make (the backend rests): a miss, as a failed read is. */
const SKIPPED: Promise<null> = Promise.resolve(null);

/**
 * Where an entry is stored: its key, whether the request reached it through an alias (and for a
 * Vary variant, the primary slot beside it, which that alias leads to), whether one may be there.
 */
type Slot = Pick<Found, "key" | "viaAlias" | "beside"> & { occupied?: boolean };

/** What a report names: the request, by its label or its method and URL. */
type Reported = Pick<ParsedRequest, "method" | "url"> & { label?: string };

/** Reads, writes and background work of one session, never failing the request they serve. */
export class CacheAccess {
  #cache: CacheBackend;
  #o: ResolvedOptions;
  #monitor: Monitor;
  #background = new Set<Promise<unknown>>();
  /** Set by `close()`: the backend is left alone from then on. */
  #closed = false;
  /** Shared with every other session over the same storage, and with the cache's own deletes. */
  #invalidations: Invalidations;
  /** Set once the session closed the backend ({@linkcode CacheAccess.closeStore}). */
  #storeClosed = false;
  /** The last invalidation made after close() (CacheAccess.invalidate). */
  #afterClose: Promise<void> = Promise.resolve();
  /** Whether reads rest after failures: they are misses meanwhile, and nothing is written. */
  #reads = new Breaker();
  /** Whether writes rest after failures: nothing is written meanwhile; reads go on. */
  #writes = new Breaker();
  /** A read's value, once it passed (one function for every read: a hit allocates no other). */
  #readPassed = <T>(found: T): T => {
    this.#reads.passed();
    return found;
  };

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
   * @returns The record, `undefined` when there is none, `null` when the read failed (reported)
   *   or was not made: while reads rest after failures ({@linkcode Breaker}).
   */
  read(flow: Flow, key: string): Promise<Read | null> {
    if (this.#closed) return Promise.resolve(undefined);
    const call = this.#reads.ask();
    if (call === "call") return this.#read(flow, key, call);
    // Reads rest after failures: a miss at once, as for a failed read. Once the rest is over, one
    // read goes as the probe, in the background: the request does not wait for it.
    if (call === "probe") this.track(this.#read(flow, key, call), "read", flow);
    return SKIPPED;
  }

  #read(flow: Flow, key: string, call: Call): Promise<Read | null> {
    // Not async: a hit waits for one promise here, not for an async frame around it as well.
    // (While writes rest, a delete that failed is not tried again: it would fail, or hang, too.)
    const read = this.#cache.read(key, this.#writes.working).then(this.#readPassed, (error) => {
      // A corrupt record was read from a backend that works.
      if (isBackendError(error) && CorruptRecordError.is(error.cause)) {
        this.#reads.passed();
        this.#monitor.evicted(flow.label, "corrupt", key);
      } else if (!this.#reads.failed(call)) {
        // (Made before reads began to rest, it failed in the outage that the failures before it
        // reported: a burst of requests under way reports it once, not once per request.)
        return null;
      }
      this.report(error, "read", flow);
      return null;
    });
    return this.#invalidations.undoing ? read.then((found) => this.#unlessUndone(flow, key, found)) : read;
  }

  /**
   * A record that a failed delete should have removed (an invalidation while the storage was out
   * of reach) is a miss, and is deleted again ({@linkcode Invalidations.undone}), unless writes
   * rest after failures: the storage would fail that delete too, or hold the request up until its
   * timeout, and report it, on every request for the URL.
   */
  async #unlessUndone(flow: Flow, key: string, found: Read | null): Promise<Read | null> {
    if (!found) return found;
    // An entry a redirect led to belongs to where it led as well.
    const led = "entry" in found && found.entry.redirected ? found.entry.url : undefined;
    const undone = this.#invalidations.undoneOf(key, led);
    if (undone === undefined) return found;
    if (!this.#writes.working) return undefined;
    await deleteEntries(this.#cache, { urls: [undone.url] }, {}, undone.methods)
      .catch((error) => this.report(error, "delete", flow));
    return undefined;
  }

  /**
   * Where the invalidations stand before a look-up reads the backend: what it finds, should its
   * URL be invalidated since, is gone ({@linkcode invalidatedSince}).
   *
   * @returns The mark of the read.
   */
  readMark(): number {
    return this.#invalidations.current;
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
   * For an entry a redirect led to, stored under the URL asked for, the alias from where it led is
   * written first and for as long: `lookup` serves such an entry only while its alias holds, so the
   * alias must be there first and must not expire first.
   *
   * @param flow The request it was fetched (or revalidated) for.
   * @param found Where it goes: its storage key, whether the request reached it through an
   *   alias (its alias is then the request's own, written again for as long), and whether an entry
   *   may be there ({@linkcode mayHoldEntry}: where none may, a record the storage refuses removes
   *   nothing, and no `evict` event is sent; where one may, it is withheld when nothing is written
   *   while reads or writes rest).
   * @param entry The entry.
   * @param asked The request's {@linkcode mark}: the entry is not stored if its URL was
   *   invalidated since.
   * @param deleteAt When the storage may reclaim it (epoch ms); by default from the entry.
   * @param record The entry already encoded, if it is.
   * @returns The entry.
   */
  async store(
    flow: Flow,
    found: Slot,
    entry: CacheEntry,
    asked: number,
    deleteAt: number = planDeleteAt(entry, this.#o),
    record?: Uint8Array,
  ): Promise<CacheEntry> {
    if (this.#closed) return entry;
    const call = this.#reads.working ? this.#writes.ask() : undefined;
    if (call === undefined) {
      // While reads or writes rest after failures, nothing is written, nor reported. The entry
      // this newer response replaces is older: it is not served again (as after a failed write).
      if (found.occupied === true) this.#cache.withhold(found.key);
      return entry;
    }
    const written = this.#write(flow, found, entry, asked, deleteAt, call, record);
    // Once the writes' rest is over, one write goes as the probe: no request waits for it.
    if (call === "probe") this.track(written, "write", flow);
    else await written;
    return entry;
  }

  async #write(
    flow: Flow,
    found: Slot,
    entry: CacheEntry,
    asked: number,
    deleteAt: number,
    call: Call,
    record: Uint8Array | undefined,
  ): Promise<void> {
    let made = false;
    try {
      // (An alias that a response asked for since has taken, or an invalidation, leaves the entry
      // unwritten: it would not be served without its place in the alias.) The alias a request
      // came through is written again too: an entry freshened through it (a 304) lives longer.
      if (entry.redirected && !await this.#alias(flow, found, entry, asked, deleteAt)) {
        this.#writes.dropped(call);
        return;
      }
      // A record over the storage's bound is refused, and the entry it was to replace deleted.
      let refused = false;
      const write = async () => {
        made = true;
        refused = !await this.#cache.write(found.key, entry, deleteAt, record, this.#o.now);
        this.#writes.passed();
        return !refused;
      };
      // A write that an invalidation overtook is withdrawn, not deleted: `delete` would invalidate
      // the URL again, and a response asked for since the first invalidation, already on its way,
      // would then count as out of date (neither stored nor shared).
      // A response asked for before the one written to the key last is older: it is not written
      // over it (two requests for one URL, the older one's body ending later, or its 304's update).
      const undo = () => this.#cache.withdraw(found.key);
      // (And the URL part of the key it goes to: a slot a redirect alias led to is another URL's,
      // which a `POST` to that URL, or a delete of its key, invalidates.)
      const urls = () => [...this.#urlsOf(flow, entry), urlPartOf(found.key)];
      if (await this.#invalidations.write(urls, asked, write, undo, found.key, this.#again(flow))) {
        this.#monitor.stored(flow, found.key, entry);
      } else if (refused && found.occupied !== false) {
        this.#monitor.evicted(flow.label, "unstorable", found.key);
      }
    } catch (error) {
      if (this.#writes.failed(call)) this.report(error, "write", flow);
    }
    if (!made) this.#writes.dropped(call);
  }

  /** Follows a write made again once an older write of its key has ended: its failure is reported. */
  #again(flow: Flow): (work: Promise<unknown>) => void {
    return (work) => this.track(work.catch((error) => this.report(error, "write", flow)), "write", flow);
  }

  /** Whether what a request stores now is written: the session is open, and nothing rests. */
  get writing(): boolean {
    return !this.#closed && this.#reads.working && this.#writes.working;
  }

  /**
   * Keeps a stored response that a 304 or a `HEAD` response freshened, or deletes it: when the
   * update says it may no longer be stored (`unstorable`), or when a `HEAD` showed it outdated
   * (`mismatch`: nothing freshened).
   *
   * @param flow The request.
   * @param found Where the stored response is.
   * @param freshened The freshened entry and whether it may be stored, if it was freshened.
   * @param asked The request's {@linkcode mark}.
   * @returns Once stored or deleted.
   */
  update(
    flow: Flow,
    found: Pick<Found, "key" | "viaAlias">,
    freshened: { entry: CacheEntry; storable: boolean } | undefined,
    asked: number,
  ): Promise<unknown> {
    if (freshened?.storable) return this.store(flow, found, freshened.entry, asked);
    return this.discard(flow, found.key, freshened === undefined ? "mismatch" : "unstorable");
  }

  /**
   * A newer response to the request, which replaces the stored one, is not stored (its body
   * outgrew the limit, or it may not be stored and the stored one is stale): the stored one goes,
   * so that it does not outlive it. Where nothing was found, nothing is deleted (a reload too reads
   * its slot, `#slotOf`). (A response that may not be stored at all, `no-store`, leaves a
   * fresh stored one in place: the cache-tests suite requires it, cc-resp-no-store-old-new.)
   *
   * @param flow The request.
   * @param key Where the newer response would have gone.
   * @param found What the request found.
   */
  replacedUnstored(flow: Flow, key: string, found: Found | undefined): undefined {
    if (mayHoldEntry(flow, found)) {
      // (One reached through a redirect alias lies in the slot the alias leads to, where it would
      // answer this URL again; the request's own slot, where the newer one would go, is empty.)
      const at = found?.viaAlias ? found.key : key;
      this.track(this.discard(flow, at, "unstorable"), "delete", flow);
    }
    return undefined;
  }

  /**
   * Deletes a stored entry that a response showed to be outdated, or no longer storable; a failed
   * delete is reported.
   *
   * @param flow The request.
   * @param key The entry's key.
   * @param reason Why, for the `evict` event.
   * @returns Once deleted, or reported.
   */
  discard(flow: Flow, key: string, reason: "mismatch" | "unstorable"): Promise<void> {
    return this.#cache.delete(key).then(
      () => this.#monitor.evicted(flow.label, reason, key),
      (error) => this.report(error, "delete", flow),
    );
  }

  /**
   * Whether what the origin sent for a request was invalidated since the request was sent: the
   * URL asked for, or where a redirect led ({@linkcode Invalidations}).
   *
   * @param flow The request.
   * @param entry What the origin sent (its `url` is where a redirect led).
   * @param asked The request's {@linkcode mark}.
   * @returns Whether one of the two URLs was invalidated since.
   */
  invalidatedSince(flow: Flow, entry: Pick<CacheEntry, "url" | "method">, asked: number): boolean {
    return this.#invalidations.since(() => this.#urlsOf(flow, entry), asked);
  }

  /**
   * The URL asked for and, if a redirect led elsewhere, that one too, as invalidations know them;
   * for an entry of another method than `GET` (a `POST`'s, a `HEAD`'s own), also the URL asked for
   * as a delete by that entry's key names it; and the URL part of the request's key, as a delete
   * by that key names it (a `keyFn`'s own key, which starts with no URL's digest).
   */
  #urlsOf(flow: Flow, entry: Pick<CacheEntry, "url" | "method">): string[] {
    const urls = [flow.url, new URL(entry.url)].map((url) => this.#urlOf(url));
    if (entry.method !== "GET") urls.push(urlKeyPrefix(entry.method, flow.url, this.#o.ignoredParameters));
    urls.push(urlPartOf(flow.key));
    return urls;
  }

  /**
   * Points the key of where a redirect led at the slot of the URL that was asked for. A failure is
   * reported; the entry is written all the same (it is then not served, as its alias is missing).
   *
   * @param flow The request.
   * @param found Where the entry goes: the alias leads to its primary slot, the request's own or,
   *   for a request that came through the alias (one for where the redirect led), the one found.
   * @param entry The entry the redirect led to (its `url` is where).
   * @param asked The request's {@linkcode mark}: the alias is not stored if that URL was
   *   invalidated since.
   * @param deleteAt When the storage may reclaim the alias (epoch ms).
   * @returns `false` when the alias was not written: its URL was invalidated since, or a response
   *   asked for since (to another URL whose redirect led there too) was written through it, and
   *   the alias's first target, which a request for where the redirect led is answered with, is
   *   the newer one's.
   */
  async #alias(
    flow: Flow,
    found: Slot,
    entry: CacheEntry,
    asked: number,
    deleteAt: number,
  ): Promise<boolean> {
    try {
      const url = new URL(entry.url);
      const key = await aliasKeyOf(flow, url, this.#o);
      const target = found.viaAlias ? found.beside ?? found.key : flow.key;
      if (key === target) return true;
      // (Ordered by its key as an entry's write is: the writes of one alias take turns, and one for
      // a response asked for before the one that took the alias's first place is not made.)
      return await this.#invalidations.write(
        () => [this.#urlOf(url)],
        asked,
        () =>
          this.#cache.writeAlias(
            key,
            target,
            deleteAt,
            (entry) => planDeleteAt(entry, this.#o),
            this.#o.now,
          ),
        undefined,
        ALIAS_PREFIX + key,
        this.#again(flow),
      );
    } catch (error) {
      this.report(error, "write", flow);
      return true;
    }
  }

  /**
   * RFC 9111 §4.4: a non-error response to an unsafe method invalidates the target URI and the
   * same-origin `Location` and `Content-Location`: every stored method, variant and alias, and
   * what a redirect to one of them led to. A response asked for before is not stored after, and
   * writes under way end before the delete: `deleteEntries` invalidates the URLs first.
   *
   * The entries of the request's own method stay when the session stores that method
   * (`allowedMethods: ["GET", "POST"]`): such a session treats its `POST`s as queries, each keyed
   * by its body, and one that misses does not drop the answers to the others. Not for `PUT`,
   * `DELETE` or `PATCH`, which change the target whatever the body: they drop them all.
   *
   * @param flow The request.
   * @param response Its response.
   * @returns Whether it invalidated anything: `false` for a safe method, or an error response
   *   that no redirect led to.
   */
  async invalidate(flow: Reported & { label: string }, response: Response): Promise<boolean> {
    const urls = SAFE_METHODS.has(flow.method) ? [] : invalidatedUrls(flow.url, response);
    if (urls.length === 0) return false;
    if (!this.#closed) {
      // One under way when close() is called is waited for as background work is, so that the
      // store is not closed under its deletes (they would fail, and a later session or another
      // process serve what it changed); should it outlast that wait, the store is closed again
      // once it is done, as after close().
      const work = this.#invalidate(flow, urls);
      this.#background.add(work);
      try {
        await work;
      } finally {
        this.#background.delete(work);
      }
      if (this.#storeClosed) await this.#closeAgain(Promise.resolve(), flow);
      return true;
    }
    // After close(), an invalidation opens a SQLite or Deno KV store again: it is closed again
    // once the delete is done, so that nothing is left open. One at a time, so that none closes
    // the store under another.
    await this.#closeAgain(this.#afterClose.then(() => this.#invalidate(flow, urls)), flow);
    return true;
  }

  /** Closes the store once `work` (after the invalidations before it) is done. */
  #closeAgain(work: Promise<void>, flow: Reported): Promise<void> {
    const done = work.finally(() => this.#cache.close().catch((error) => this.report(error, "delete", flow)));
    this.#afterClose = done;
    return done;
  }

  async #invalidate(flow: Reported & { label: string }, urls: URL[]): Promise<void> {
    try {
      const methods = storedMethods(this.#cache.storage).filter((method) =>
        method !== flow.method || !this.#o.allowedMethods.has(method) || STATE_SETTING_METHODS.has(method)
      );
      // Each URL as this session keys it and as given: another session over the storage that
      // keeps one of this session's ignored parameters keys it with that parameter.
      const filter = { urls: urls.flatMap((url) => [normalizeUrl(url, this.#o.ignoredParameters), url]) };
      // Tried even while reads rest after failures: the backend may be back already, and another
      // process over it learns of the invalidation from the delete alone (one that fails is
      // remembered, in this process).
      if (await deleteEntries(this.#cache, filter, {}, methods) > 0) {
        // (An event tells of entries removed: where nothing was stored, nothing was. One for each
        // URL as entries are stored under it: a Location or Content-Location that names the target
        // again, with a fragment or an ignored parameter or without, is no other URL.)
        const targets = new Set(urls.map((url) => withoutFragment(this.#redacted(url))));
        for (const target of targets) this.#monitor.evicted(flow.label, "invalidated", target);
      }
    } catch (error) {
      this.report(error, "delete", flow);
    }
  }

  /**
   * Invalidates what a response to a request invalidates ({@linkcode invalidate}) and gives the
   * mark that the response itself is stored under: its own invalidation does not count against
   * it, as it is newer than what it invalidated; one made while it was on its way (a delete by its
   * key, say) still does.
   *
   * @param flow The request.
   * @param response Its response.
   * @param asked The request's {@linkcode mark}.
   * @returns The mark to store the response under.
   */
  async invalidateFor(flow: Flow, response: Response, asked: number): Promise<number> {
    const overtaken = this.invalidatedSince(flow, { url: flow.url.href, method: flow.method }, asked);
    return await this.invalidate(flow, response) && !overtaken ? this.mark() : asked;
  }

  /** A URL as the invalidations know it: as the keys of its entries start. */
  #urlOf(url: URL): string {
    return urlKeyPrefix("GET", url, this.#o.ignoredParameters);
  }

  /** A URL as events and error reports show it: without its ignored parameters. */
  #redacted(url: URL): string {
    return redactUrl(url.href, this.#o.ignoredParameters);
  }

  /**
   * How events and error reports name a request: its label, or for one that has none yet (its
   * key not worked out, or no URL it could be parsed into), its method and redacted URL.
   *
   * @param request The request.
   * @returns `"GET https://…"`.
   */
  labelOf(request: Omit<Reported, "url"> & { url?: URL | undefined }): string {
    return request.label ??
      `${request.method} ${request.url === undefined ? "" : this.#redacted(request.url)}`;
  }

  /**
   * Keeps background work (refreshes, writes) for `close()` and hands it to `waitUntil`; a
   * `waitUntil` that throws (or rejects) is reported as a failure of the work's operation.
   *
   * @param work The work; its failure is the work's own business.
   * @param operation What the work does.
   * @param request The request it is done for.
   */
  track(work: Promise<unknown>, operation: ErrorContext["operation"], request: Reported): void {
    const tracked = work.catch(() => {});
    this.#background.add(tracked);
    tracked.finally(() => this.#background.delete(tracked));
    if (this.#o.waitUntil !== undefined) {
      callSafely(this.#o.waitUntil, tracked, (error) => this.report(error, operation, request));
    }
  }

  /**
   * Background work the request waits for, as for a body's write: 2 s at most
   * ({@linkcode settledWithin}).
   *
   * @param work The work.
   * @param operation What the work does.
   * @param request The request it is done for.
   */
  awaited(work: Promise<unknown>, operation: ErrorContext["operation"], request: Reported): Promise<void> {
    this.track(work, operation, request);
    return settledWithin(work);
  }

  /**
   * Gives background work 2 s to end ({@linkcode settledWithin}), aborts `closing` (what only the
   * cache waits for then stops), waits for the rest 2 s more at most, and from then on neither
   * reads nor stores: a request still under way reads and stores nothing, and only its
   * invalidations (deletes) reach the backend, and are reported when they fail.
   *
   * @param closing Aborted once the time is up.
   */
  async close(closing: AbortController): Promise<void> {
    await settledWithin(this.#settled());
    closing.abort();
    // The writes of bodies callers still read get as long again, no longer: a body the origin
    // stalls never ends, and its caller may have dropped it unread (it has nothing to cancel).
    await settledWithin((async () => {
      await this.#settled();
      this.#closed = true;
      await this.#settled();
    })());
    this.#closed = true;
  }

  /**
   * Closes the backend, once {@linkcode close} has ended: an invalidation that was under way
   * then, and ends later, closes it again ({@linkcode invalidate}).
   */
  async closeStore(): Promise<void> {
    this.#storeClosed = true;
    await this.#cache.close();
  }

  /** Settles once all background work has, including work started meanwhile. */
  async #settled(): Promise<void> {
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
    // (Once closed, a read or a write that fails fails for the closing; a delete that fails is
    // an invalidation lost, which a later session could serve: that one is still reported.)
    if (this.#closed && operation !== "delete") return;
    const context = { operation, request: this.labelOf(request) };
    this.#monitor.failed(error, context);
    callSafely((error: unknown) => this.#o.onError(error, context), error);
  }
}

/**
 * Whether an entry may be stored where a request's response goes: one was found, or, for a reload
 * (which reads its slot for placement alone, and keeps no entry), the slot holds one.
 *
 * @param flow The request.
 * @param found What it found.
 * @returns Whether an entry may be there.
 */
export function mayHoldEntry(flow: Flow, found: Found | undefined): boolean {
  return found?.entry !== undefined || (flow.mode === "reload" && found !== undefined);
}
