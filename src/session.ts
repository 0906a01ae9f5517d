/**
 * {@linkcode CachedSession}: the request flow. Look up → serve, revalidate or fetch → store.
 *
 * @module
 */

import type { CacheBackend } from "../backends/base.ts";
import { takeBody, type TakenBody } from "./body.ts";
import { answerLeader, Inflight, type Lead, type Outcome, RETRY, type Shared } from "./inflight.ts";
import { type CachedSessionOptions, type ResolvedOptions, resolveOptions } from "./options.ts";
import { ERROR_STATUSES } from "./policy.ts";
import { conditionalHeaders, headDescribes, isNotModified, validatorsMatch } from "./validation.ts";
import type { CacheEntry } from "./record.ts";
import {
  type CacheRequestInit,
  networkArguments,
  type ParsedRequest,
  parseRequest,
  signalOf,
  withSignal,
} from "./request.ts";
import { CachedResponse } from "./response.ts";
import { type ForwardReason, forwardReason } from "./cache_status.ts";
import { Monitor, type Served } from "./monitor.ts";
import type { CacheStats } from "./stats.ts";
import { bypassesCache, type Found, planEntry, varyMatches } from "./store_plan.ts";
import {
  type Flow,
  freshen,
  fromStored,
  gatewayTimeout,
  type Hit,
  networkInfo,
  onlyIfCached,
} from "./serve.ts";
import { lookup, mayServeOnErrorFor, prepareFlow, usabilityFor } from "./lookup.ts";
import { CacheAccess } from "./cache_access.ts";
import { addKeyForms } from "./key_forms.ts";
import { followRedirects, followsStepwise, StepwiseFetch } from "./redirects.ts";

/** Largest body the session collects for storage when the backend sets no bound: 64 MiB. */
export const DEFAULT_MAX_BODY_SIZE = 64 * 1024 * 1024;

/**
 * A fetch with a persistent, RFC 9111-aware HTTP cache in front of it.
 *
 * @example Cache a JSON API for ten minutes
 * ```ts
 * import { CachedSession } from "../mod.ts";
 *
 * const session = new CachedSession({
 *   expireAfter: 600,
 *   fetch: () => Promise.resolve(Response.json({ ok: true })),
 * });
 * const response = await session.fetch("http://127.0.0.1/api/status");
 * console.log(await response.json(), response.fromCache); // { ok: true } false
 * await session.close();
 * ```
 */
export class CachedSession implements AsyncDisposable {
  /** The cache: inspect or manage what is stored. */
  readonly cache: CacheBackend;
  #o: ResolvedOptions;
  #inflight = new Inflight();
  #refreshing = new Set<string>();
  /** Set by `close()`: requests go to the network alone. */
  #closed = false;
  /** Aborted by `close()` once background work had its time: what only the cache waits for stops. */
  #closing = new AbortController();
  #maxBodySize: number;
  #monitor: Monitor;
  #access: CacheAccess;
  #origin: StepwiseFetch;

  /**
   * Creates a session.
   *
   * @param options Backend, expiration, filters and hooks; all optional.
   * @throws {TypeError} When an option has the wrong type or is unknown; the message names it.
   * @throws {RangeError} When a numeric option is out of range.
   */
  constructor(options: CachedSessionOptions = {}) {
    this.#o = resolveOptions(options);
    this.cache = this.#o.backend;
    if (options.now !== undefined) this.cache.now = this.#o.now;
    this.#maxBodySize = this.cache.storage.maxEntrySize ?? DEFAULT_MAX_BODY_SIZE;
    this.#monitor = new Monitor(this.#o);
    this.#access = new CacheAccess(this.cache, this.#o, this.#monitor);
    this.#origin = new StepwiseFetch(this.#o.fetch);
    // Deletes and listings by URL look under this session's forms of a URL's keys too.
    addKeyForms(this.cache.storage, this.#o);
  }

  /**
   * What the cache has done since the session was created: hits, misses, stale responses served,
   * revalidations, coalesced requests, backend errors and bytes served from the cache.
   *
   * @returns A snapshot of the counters.
   *
   * @example Count hits
   * ```ts
   * import { CachedSession } from "../mod.ts";
   * const session = new CachedSession({
   *   fetch: () => Promise.resolve(new Response("hi", { headers: { "cache-control": "max-age=60" } })),
   * });
   * await (await session.fetch("http://127.0.0.1/a")).text();
   * await (await session.fetch("http://127.0.0.1/a")).text();
   * const stats = session.stats();
   * console.log(stats.hits, stats.misses, stats.bytesFromCache); // 1 1 2
   * ```
   */
  stats(): CacheStats {
    return this.#monitor.stats();
  }

  /**
   * Fetches through the cache. Takes exactly what `fetch` takes, plus `init.expireAfter`, and
   * honours the standard `init.cache` modes. The redirects of a `GET` or `HEAD` are followed here,
   * one step at a time, each step through the cache (`fromCache` tells of the last one).
   *
   * @param input A URL string, `URL` or `Request`.
   * @param init Request options, `cache` mode and `expireAfter`.
   * @returns The response, from the cache or the network.
   * @throws {TypeError} Whatever plain fetch would throw (invalid URL, network error, abort, more
   *   than 20 redirects), or when `init.cache` or `init.expireAfter` is invalid. Cache failures
   *   never reject.
   * @throws {RangeError} When `init.expireAfter` is a negative number of seconds or an invalid date.
   */
  fetch(input: RequestInfo | URL, init?: CacheRequestInit): Promise<CachedResponse> {
    this.#monitor.request();
    let parsed: ParsedRequest | undefined;
    try {
      parsed = parseRequest(input, init);
    } catch (error) {
      return Promise.reject(error);
    }
    if (parsed === undefined) return this.#bypass({ input, init, method: "GET" });
    const response = this.#one(parsed);
    if (!followsStepwise(parsed)) return response;
    // Each step of a redirect followed here is a request to the cache of its own, in the stats too.
    const step = (next: ParsedRequest) => {
      this.#monitor.request();
      return this.#one(next);
    };
    return response.then((response) => followRedirects(parsed, response, step));
  }

  /** One request through the cache: look up, then serve, revalidate or fetch, then store. */
  async #one(parsed: ParsedRequest): Promise<CachedResponse> {
    const o = this.#o;
    const cacheable = o.allowedMethods.has(parsed.method) ||
      (parsed.method === "HEAD" && o.allowedMethods.has("GET"));
    if (!cacheable || parsed.mode === "no-store" || parsed.integrity !== "" || this.#closed) {
      return this.#bypass(parsed, cacheable ? "bypass" : "method");
    }
    let flow: Flow;
    try {
      const prepared = prepareFlow(parsed, this.#o);
      flow = prepared instanceof Promise ? await prepared : prepared;
    } catch (error) {
      this.#access.report(error, "read", parsed);
      return this.#bypass(parsed);
    }
    signalOf(flow)?.throwIfAborted();
    // DO_NOT_CACHE, or the request's no-store (RFC 9111 §5.2.1.5): nothing is read or stored for
    // this request, nor shared with identical ones.
    if (bypassesCache(flow, o) || (o.cacheControl && flow.policy.cacheControl.noStore)) {
      return onlyIfCached(flow) ? this.#unsatisfied(flow) : this.#bypass(flow);
    }
    // A request that leads while this one reads the backend may have stored and left before the
    // read returns (a miss): the ticket keeps its outcome for this request to join.
    const ticket = flow.mode === "reload" ? undefined : this.#inflight.enter(flow.key);
    let found: Found | undefined;
    let missed: Shared | undefined;
    try {
      found = ticket === undefined
        ? undefined
        : await lookup(flow, this.#o, (key) => this.#access.read(flow, key));
    } finally {
      missed = ticket?.missed();
      ticket?.leave();
    }
    let use = found?.entry === undefined ? undefined : usabilityFor(flow, found.entry, o);
    let lead: Lead | undefined;
    let collapsed: ForwardReason | undefined;
    if ((use === undefined || use === "revalidate") && flow.mode !== "reload") {
      // The same request is at the origin already (a miss or a revalidation): share its result.
      const joined = await this.#inflight.join(flow.key, missed, {
        mayLead: o.coalesceRequests && !flow.conditional && !onlyIfCached(flow),
        signal: signalOf(flow),
        // The leader settles before its write, and keeps the lead until the write (and its undo)
        // ends: what it got may have been invalidated since (RFC 9111 §4.4).
        outdated: ({ entry, asked }) => this.#access.invalidatedSince(flow, entry, asked),
      });
      if (joined?.kind === "entry" && varyMatches(joined.entry, flow.headers)) {
        collapsed = forwardReason(flow.mode, found, o.now());
        found = { key: flow.key, entry: joined.entry, viaAlias: false };
        use = usabilityFor(flow, joined.entry, o);
      } else if (joined?.kind === "error") {
        // The origin failed for the request this one waited on: fail alike, or serve stale.
        if (found?.entry === undefined || !mayServeOnErrorFor(flow, found.entry, o.now(), o)) {
          throw joined.error;
        }
        return this.#serve(flow, found as Hit, "stale-if-error", { fwd: "stale" });
      } else if (joined?.kind === "lead") {
        lead = joined.lead;
      }
    }
    // RFC 9111 §4.3.2: the cache answers a client's own If-None-Match / If-Modified-Since itself
    // only with a 304 from a usable stored response; any other such request passes through.
    const answers = !flow.conditional || (use !== undefined && isNotModified(found!.entry!, flow.headers));
    if ((use === "fresh" || use === "stale-ok") && answers) {
      // Nothing else uses this entry now: its body may go to the caller without a copy.
      if (collapsed === undefined) return this.#serve(flow, found as Hit, "hit", undefined, found!.owned);
      return this.#serve(flow, found as Hit, "collapsed", { fwd: collapsed });
    }
    if (use === "stale-while-revalidate" && answers) {
      // (A client that asked only for what is stored asked the cache not to go to the origin.)
      if (!onlyIfCached(flow)) this.#refresh(flow, found as Hit);
      return this.#serve(flow, found as Hit);
    }
    // RFC 9111 §5.2.1.7: the only-if-cached directive wants a stored response that satisfies the
    // request's other constraints, or a 504; the fetch mode of that name takes any stored one.
    if (onlyIfCached(flow)) return this.#unsatisfied(flow);
    if (flow.conditional) return this.#bypass(flow);
    return this.#network(flow, found, lead);
  }

  /**
   * Closes the session and its backend. Background work (refreshes, writes, bodies still
   * arriving) gets 2 s to end; then what only the cache waits for stops (a refresh, a body its
   * caller cancelled: neither is stored), and the writes of bodies callers still read are waited
   * for. Requests made from the call on, and those still under way, leave the backend alone: they
   * go to the network, and nothing is read, stored or reported.
   */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#access.close(this.#closing);
    await this.cache.close();
  }

  /** Closes the session (`await using session = new CachedSession()`). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #network(flow: Flow, stale: Found | undefined, claimed?: Lead): Promise<CachedResponse> {
    const signal = signalOf(flow);
    // Identical requests that arrive meanwhile wait for this one (Inflight.join) instead of asking too.
    const lead = claimed ?? (this.#o.coalesceRequests ? this.#inflight.lead(flow.key, signal) : undefined);
    // (A refresh keeps its signal, the session's closing one: it stops as the session closes.)
    if (lead?.signal === undefined || flow.background || !signal) {
      return this.#exchange(flow, flow, stale, lead);
    }
    // The origin request goes on while a waiter wants its response (Lead.signal).
    const sent = { ...flow, ...withSignal(flow, lead.signal) };
    return answerLeader(signal, (arrived) => this.#exchange(flow, sent, stale, lead, arrived));
  }

  /**
   * Asks the origin, then serves, stores and shares what it sent.
   *
   * @param flow The request.
   * @param sent The request as sent to the origin (with the lead's signal).
   * @param stale What is stored for it, if anything.
   * @param lead The lead, when identical requests may wait for this one.
   * @param arrived Called once the origin's response has arrived.
   * @returns The response for the caller.
   */
  async #exchange(
    flow: Flow,
    sent: Flow,
    stale: Found | undefined,
    lead: Lead | undefined,
    arrived?: () => void,
  ): Promise<CachedResponse> {
    const o = this.#o;
    const ask = async (validators: [string, string][]) => {
      const response = await this.#origin.fetch(sent, validators);
      arrived?.();
      return response;
    };
    // What the origin sent is stored, and shared with waiters, only if its URL was not invalidated
    // since it was asked for (RFC 9111 §4.4).
    let asked = this.#access.mark();
    const settle = (entry: CacheEntry | undefined) => {
      if (entry === undefined || entry.method === "HEAD") lead?.release();
      // A waiter may have come after the invalidation: the waiters ask again, one of them leading.
      else if (this.#access.invalidatedSince(flow, entry, asked)) lead?.release(RETRY);
      else lead?.settle({ kind: "entry", entry, asked });
    };
    // Shared with no one, a body the caller alone reads on follows its signal, as fetch's does.
    const unshared = (response: Response) => {
      settle(undefined);
      if (response.body !== null) lead?.follow(response.body);
    };
    // An error caused by the origin request's abort is not the origin's: a waiter asks again.
    const failed = (error: unknown): Outcome => signalOf(sent)?.aborted ? RETRY : { kind: "error", error };
    try {
      const cached = stale?.entry;
      const validators = cached === undefined ? [] : conditionalHeaders(cached);
      const requestTime = o.now();
      const fwd = forwardReason(flow.mode, stale, requestTime);
      const conditional = validators.length > 0;
      let response: Response;
      try {
        response = await ask(validators);
      } catch (error) {
        if (cached !== undefined && mayServeOnErrorFor(flow, cached, o.now(), o)) {
          lead?.release(failed(error));
          return this.#serve(flow, stale as Hit, "stale-if-error", { fwd });
        }
        throw error;
      }
      const responseTime = o.now();
      if (
        cached !== undefined && ERROR_STATUSES.has(response.status) &&
        mayServeOnErrorFor(flow, cached, responseTime, o)
      ) {
        await response.body?.cancel();
        settle(undefined);
        return this.#serve(flow, stale as Hit, "stale-if-error", { fwd, status: response.status });
      }
      if (cached !== undefined && response.status === 304 && validators.length > 0) {
        if (validatorsMatch(cached, response.headers)) {
          const freshened = freshen(this.#o, flow, cached, response, requestTime, responseTime);
          const { entry, storable } = freshened;
          // (A 304 that says the response may no longer be stored, `no-store` say, deletes it.)
          settle(storable ? entry : undefined);
          this.#access.track(
            this.#access.update(flow, stale!, freshened, asked).finally(() => lead?.release()),
          );
          const found = { key: stale!.key, entry, viaAlias: stale!.viaAlias };
          return this.#serve(flow, found, "revalidated", { fwd, status: 304, stored: storable });
        }
        // §4.3.4: a 304 that selects no stored response cannot be used: ask again, unconditionally.
        response = await ask([]);
      }
      if (flow.method === "HEAD" && cached !== undefined && response.status === 200) {
        // RFC 9111 §4.3.5: a HEAD response freshens the stored GET response it describes; one
        // that describes another representation makes the stored one unusable.
        const freshened = headDescribes(cached, response.headers)
          ? freshen(this.#o, flow, cached, response, requestTime, responseTime)
          : undefined;
        if (freshened?.storable) settle(freshened.entry);
        await this.#access.awaited(this.#access.update(flow, stale!, freshened, asked));
        settle(undefined);
        return this.#wrap(flow, response, undefined, undefined, fwd, conditional);
      }
      asked = await this.#access.invalidateFor(flow, response, asked);
      const primary = stale?.viaAlias ? undefined : stale?.primary;
      // (A HEAD response is stored on its own only where no GET response answers the HEADs.)
      const plan = flow.method === "HEAD" && stale?.entry?.method === "GET"
        ? undefined
        : planEntry(flow, primary, response, requestTime, responseTime, o);
      if (plan === undefined) {
        unshared(response);
        return this.#wrap(flow, response, undefined, undefined, fwd, conditional);
      }
      // A body declared larger than the limit streams through untouched: nothing is collected.
      if (Number(response.headers.get("content-length")) > this.#maxBodySize) {
        unshared(response);
        this.#access.replacedUnstored(flow, plan.key, stale);
        return this.#wrap(flow, response, undefined, undefined, fwd, conditional);
      }
      const keep = async (taken: TakenBody | undefined) => {
        if (taken === undefined) {
          unshared(response); // let go of: too large
          return this.#access.replacedUnstored(flow, plan.key, stale);
        }
        // Waiting requests get the entry now; they never wait for the backend's write.
        const entry = { ...plan.entry, body: taken.body };
        settle(entry);
        const found = { key: plan.key, viaAlias: false };
        await this.#access.store(flow, found, entry, asked, plan.deleteAt, taken.record);
        return entry;
      };
      // A body that failed is never stored nor served; waiters get the same error.
      const store = (bytes: Promise<TakenBody | undefined>) => {
        const stored = bytes.then(keep, (error) => lead?.release(failed(error))).finally(() =>
          settle(undefined)
        );
        this.#access.track(stored);
        return stored;
      };
      const signal = flow.method === "HEAD" ? undefined : signalOf(flow);
      const body = await takeBody(
        response,
        this.#maxBodySize,
        plan.entry,
        store,
        signal,
        this.#closing.signal,
      );
      // (A HEAD's caller gets no body, as from fetch, though an empty one was stored.)
      return this.#wrap(flow, response, flow.method === "HEAD" ? null : body, plan.entry, fwd, conditional);
    } catch (error) {
      lead?.release(failed(error));
      throw error;
    }
  }

  /** RFC 5861 §3: refresh a stale entry in the background, once at a time per entry. */
  #refresh(flow: Flow, found: Hit): void {
    if (this.#refreshing.has(found.key)) return;
    this.#refreshing.add(found.key);
    const closing = this.#closing.signal;
    const background: Flow = { ...flow, ...withSignal(flow, closing), background: true };
    // Read to its end, which comes once it is stored: one refresh at a time, body and write too.
    const work = this.#network(background, found)
      .then((response) => response.body?.pipeTo(new WritableStream()))
      .catch((error) => closing.aborted || this.#access.report(error, "revalidate", flow))
      .finally(() => this.#refreshing.delete(found.key));
    this.#access.track(work);
  }

  #serve(
    flow: Flow,
    found: Hit,
    how: Served = "hit",
    forward?: { fwd: ForwardReason; status?: number; stored?: boolean },
    handOver = false,
  ): CachedResponse {
    const now = this.#o.now();
    const { response, bytes } = fromStored(flow, found, this.#o, {
      revalidated: how === "revalidated",
      handOver,
    }, now);
    return this.#monitor.served(response, flow, found.entry, how, bytes, now, forward);
  }

  #wrap(
    flow: Flow,
    response: Response,
    body: BodyInit | null | undefined,
    entry: Omit<CacheEntry, "body"> | undefined,
    fwd: ForwardReason,
    conditional: boolean,
  ): CachedResponse {
    const wrapped = CachedResponse.fromNetwork(
      response,
      body === undefined ? response.body : body,
      networkInfo(flow.key, entry, this.#o.now),
    );
    return this.#monitor.forwarded(wrapped, flow, fwd, conditional, entry, this.#o.now());
  }

  #unsatisfied(flow: Flow): CachedResponse {
    return this.#monitor.unsatisfied(gatewayTimeout(flow, this.#o.now), flow);
  }

  async #bypass(
    request: Pick<ParsedRequest, "input" | "init" | "method"> & Partial<ParsedRequest>,
    fwd: "bypass" | "method" = "bypass",
  ): Promise<CachedResponse> {
    const args = request.url === undefined
      ? [request.input, request.init] as const
      : networkArguments(request as ParsedRequest);
    const response = await this.#o.fetch(...args);
    const label = this.#access.labelOf(request);
    if (request.url !== undefined) {
      await this.#access.invalidate({ method: request.method, url: request.url, label }, response);
    }
    const wrapped = CachedResponse.fromNetwork(
      response,
      response.body,
      networkInfo(undefined, undefined, this.#o.now),
    );
    return this.#monitor.bypassed(wrapped, label, fwd);
  }
}
