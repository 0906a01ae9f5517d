/**
 * {@linkcode CachedSession}: the request flow. Look up → serve, or join an identical request at the
 * origin, or ask the origin (`exchange.ts`: revalidate or fetch → store).
 *
 * @module
 */

import type { CacheBackend } from "../backends/base.ts";
import { unlessAborted } from "./abort_follow.ts";
import { type Fields, Inflight, type Lead, type Shared } from "./inflight.ts";
import { Exchange } from "./exchange.ts";
import { Refreshes } from "./refresh.ts";
import { type CachedSessionOptions, type ResolvedOptions, resolveOptions } from "./options.ts";
import { answersPrecondition } from "./validation.ts";
import { requestDirectives } from "./policy.ts";
import { type CacheRequestInit, type ParsedRequest, parseRequest, signalOf } from "./request.ts";
import { CachedResponse } from "./response.ts";
import { type ForwardReason, forwardReason } from "./cache_status.ts";
import { Monitor, type Served } from "./monitor.ts";
import type { CacheStats } from "./stats.ts";
import { bypassesCache, type Found } from "./store_plan.ts";
import { primaryAfter, slotKey, type Varied, varyMatches, varyValues } from "./vary.ts";
import { variantKey } from "./cache_keys.ts";
import type { CacheEntry } from "./record.ts";
import {
  type Flow,
  fromStored,
  gatewayTimeout,
  type Hit,
  networkInfo,
  onlyIfCached,
  wantsWhole,
} from "./serve.ts";
import {
  answersMethod,
  demandsValidation,
  lookup,
  mayServeOnErrorFor,
  prepareFlow,
  Unprepared,
  usabilityFor,
} from "./lookup.ts";
import { CacheAccess } from "./cache_access.ts";
import { addKeyForms } from "./key_forms.ts";
import { addStaleWindows } from "./stale_windows.ts";
import { askOrigin } from "./origin_call.ts";
import {
  followRedirects,
  followsStepwise,
  isRefusedRedirect,
  refuseRedirect,
  responseOf,
  StepwiseFetch,
} from "./redirects.ts";

/**
 * Whether a request takes only a stored response (or a 504), by its mode or its `only-if-cached`
 * directive (RFC 9111 §5.2.1.7), before the cache handled it: {@linkcode onlyIfCached} once it has.
 */
function takesStoredOnly(request: ParsedRequest): boolean {
  return request.mode === "only-if-cached" || requestDirectives(request.headers).onlyIfCached !== undefined;
}

/**
 * The key under which the requests that send these values of the headers `varied` varies on lead
 * ({@linkcode Inflight}), once they stopped waiting on a request of another variant.
 */
function variantLeadKey(flow: Flow, varied: Varied, o: ResolvedOptions): string {
  return variantKey(flow.key, varyValues(varied.vary.map(([name]) => name), flow.headers, o));
}

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
  /** Set by `close()`: requests go to the network alone. */
  #closed = false;
  /** Aborted by `close()` once background work had its time: what only the cache waits for stops. */
  #closing = new AbortController();
  #monitor: Monitor;
  #access: CacheAccess;
  #exchange: Exchange;
  #refreshes: Refreshes;
  /** The way to the origin, which hands back a redirect to follow here (shared with `#exchange`). */
  #origin: StepwiseFetch;
  /** The largest body the session stores, and reads of a request's body for its key. */
  #maxBodySize: number;

  /**
   * Creates a session.
   *
   * @param options Backend, expiration, filters and hooks; all optional.
   * @throws {TypeError} When an option has the wrong type or is unknown; the message names it.
   * @throws {RangeError} When a numeric option is out of range.
   */
  constructor(options: CachedSessionOptions = {}) {
    const resolved = resolveOptions(options);
    // Known as this session's own (when it is behind a cached fetch, `followOrigin`): a fetch option
    // that calls the installed global back reaches the fetch that was global before
    // (askedByOrigin), not this session, which waits for it.
    const origin = resolved.fetch;
    resolved.fetch = (input, init) => askOrigin(this, () => origin(input, init));
    this.#o = resolved;
    this.cache = this.#o.backend;
    if (options.now !== undefined) this.cache.now = this.#o.now;
    this.#monitor = new Monitor(this.#o);
    this.#access = new CacheAccess(this.cache, this.#o, this.#monitor);
    const serve = this.#serve.bind(this);
    this.#maxBodySize = this.cache.storage.maxEntrySize ?? DEFAULT_MAX_BODY_SIZE;
    this.#origin = new StepwiseFetch(this.#o.fetch);
    this.#exchange = new Exchange(this.#o, this.#inflight, this.#access, this.#monitor, serve, {
      closing: this.#closing.signal,
      maxBodySize: this.#maxBodySize,
      origin: this.#origin,
    });
    this.#refreshes = new Refreshes(
      (flow, stale, read) => this.#exchange.network(flow, stale, read),
      this.#access,
      this.#closing.signal,
    );
    // Deletes and listings by URL look under this session's forms of a URL's keys too.
    addKeyForms(this.cache.storage, this.#o);
    // And what another session stores there is kept as long as this one may serve it stale.
    addStaleWindows(this.cache.storage, this.#o);
    // Handed on alone, as a fetch is (`new OpenAI({ fetch: session.fetch })`), it is still this one's.
    this.fetch = this.fetch.bind(this);
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
   * one step at a time, each step through the cache (`fromCache` tells of the last one). It is
   * bound to its session: `session.fetch` may be handed on alone wherever a fetch function goes.
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
    // (A request whose only-if-cached directive forbids the origin gets its 504 below.)
    const noStore = parsed.mode === "no-store";
    if (
      !cacheable || parsed.integrity !== "" || this.#closed ||
      (noStore && requestDirectives(parsed.headers).onlyIfCached === undefined)
    ) {
      // A request for what is stored alone (the only-if-cached mode or directive) that the cache
      // does not handle (its method, its integrity, a closed session) is not sent on either: a
      // 504, as for DO_NOT_CACHE below. Sent, a POST's side effects would happen.
      if (takesStoredOnly(parsed)) return this.#unsatisfied(parsed);
      return this.#bypass(parsed, cacheable ? "bypass" : "method");
    }
    let flow: Flow;
    try {
      const prepared = prepareFlow(parsed, this.#o, this.#maxBodySize);
      flow = prepared instanceof Promise ? await prepared : prepared;
    } catch (error) {
      // A request with a body is sent as prepared so far: its body may be a stream, given once.
      // (One too large to read for its key, too: it is sent uncached.)
      const failed = error instanceof Unprepared ? error : undefined;
      const sent = failed?.request ?? parsed;
      if (failed === undefined || failed.cacheFailure) {
        this.#access.report(failed?.error ?? error, "read", sent);
      }
      signalOf(sent)?.throwIfAborted();
      return takesStoredOnly(sent) ? this.#unsatisfied(sent) : this.#bypass(sent, "bypass", true);
    }
    signalOf(flow)?.throwIfAborted();
    // DO_NOT_CACHE, or the request's no-store (RFC 9111 §5.2.1.5; the mode, also that of a request
    // with a precondition the cache may not evaluate, §4.3.2): nothing is read or stored for this
    // request, nor shared with identical ones.
    const storesNothing = noStore || (o.cacheControl && flow.policy.cacheControl.noStore);
    if (storesNothing || bypassesCache(flow, o)) {
      if (onlyIfCached(flow)) return this.#unsatisfied(flow);
      // A URL that bypasses the cache by its own pattern (DO_NOT_CACHE) may redirect to one that
      // does not: the redirect comes back, and where it leads goes through the cache.
      return this.#bypass(flow, "bypass", flow.expireAfter === undefined && !storesNothing);
    }
    // A request that leads while this one reads the backend may have stored and left before the
    // read returns (a miss): the ticket keeps its outcome for this request to join.
    const ticket = flow.mode === "reload" ? undefined : this.#inflight.enter(flow.key);
    // (What the read finds, should a delete of its URL come before it goes to the origin, is gone.)
    const read = this.#access.readMark();
    let found: Found | undefined;
    let missed: Shared | undefined;
    try {
      // (A caller that aborts while the backend answers slowly, or not at all, rejects at once.)
      found = await unlessAborted(
        ticket === undefined
          ? this.#slotOf(flow)
          : lookup(flow, this.#o, (key) => this.#access.read(flow, key)),
        signalOf(flow),
      );
    } finally {
      missed = ticket?.missed();
      ticket?.leave();
    }
    let use = found?.entry === undefined ? undefined : usabilityFor(flow, found.entry, o);
    let lead: Lead | undefined;
    let collapsed: ForwardReason | undefined;
    // A HEAD or a Range request waits for no other request, whose body may take minutes to come,
    // and none waits for it (Exchange.network). Nor does a request with its own If-None-Match or
    // If-Modified-Since: the origin answers it (a 304, or what it would pass through) without the
    // body another request is still reading. Nor one that demands validation, which no response
    // asked for before it came answers. (Asked of misses alone: a hit reads no more fields.)
    const joins = ticket !== undefined && (use === undefined || use === "revalidate") && wantsWhole(flow) &&
      !demandsValidation(flow, o);
    if (joins) {
      /** The fields of a response that varies on headers this request sends otherwise. */
      let other: Fields | undefined;
      const options = {
        mayLead: o.coalesceRequests && !onlyIfCached(flow),
        signal: signalOf(flow),
        // The leader settles before its write, and keeps the lead until the write (and its undo)
        // ends: what it got may have been invalidated since (RFC 9111 §4.4).
        outdated: ({ entry, asked }: { entry: CacheEntry; asked: number }) =>
          this.#access.invalidatedSince(flow, entry, asked),
        // A response that varies on headers this request sends otherwise is not for it, nor is one
        // it could use only after validating it (a `no-cache` response; a request in the no-cache
        // mode, or with max-age=0 or min-fresh): it stops waiting once that response's fields have
        // come, not its body.
        accepts: (fields: Fields) => {
          if (!varyMatches(fields, flow.headers)) other = fields;
          return other !== fields && usabilityFor(flow, fields, o) !== "revalidate";
        },
      };
      // The same request is at the origin already (a miss or a revalidation): share its result.
      // With none under the URL's key, the requests of this request's variant may be at the
      // origin under their variant's key (below), once another variant's request has ended.
      const waited = o.now();
      const variant = found?.primary?.vary.length
        ? this.#inflight.held(variantLeadKey(flow, found.primary, o))
        : undefined;
      let joined = await this.#inflight.join(flow.key, missed ?? variant, options);
      if (joined?.kind === "unshared" && other !== undefined) {
        // Its response varies on headers this request sends otherwise: the requests that send what
        // this one sends still share one origin request, led under the key of their variant. Theirs
        // is stored by the one their leader stores: beside it where it takes the primary slot.
        found = { key: flow.key, viaAlias: false, ...found, primary: primaryAfter(found?.primary, other) };
        const key = variantLeadKey(flow, other, o);
        other = undefined;
        joined = await this.#inflight.join(key, undefined, options);
      }
      // (A request that a keyFn gave another method's key waited for that method's answer: not its own.)
      if (
        joined?.kind === "entry" && varyMatches(joined.entry, flow.headers) &&
        answersMethod(joined.entry, flow.method)
      ) {
        collapsed = forwardReason(flow.mode, found, o.now());
        // The entry stands where the leader stored it: beside another variant that the primary
        // slot holds, which a revalidation of it must not overwrite; or in the slot of the URL whose
        // redirect led here, which the leader revalidated through its alias (served as a hit
        // through the alias is: not marked as redirected, and under that slot's key).
        const { entry, alias } = joined;
        const primary = found?.primary;
        found = alias !== undefined
          ? { key: alias, entry, viaAlias: true }
          : { key: slotKey(flow.key, entry, primary, flow.headers), entry, viaAlias: false, primary };
        use = usabilityFor(flow, joined.entry, o);
        // A response that came while this request waited, usable when its fields came, is its
        // answer, though its body took so long that it went stale meanwhile: each waiter would else
        // ask the origin once more, after the whole body. (One that was stale when the request
        // came is not: it is revalidated, as a stored one is.)
        const usableAt = Math.max(entry.responseTime, waited);
        if (use === "revalidate" && usabilityFor(flow, entry, o, usableAt) !== "revalidate") {
          use = "fresh";
        }
      } else if (joined?.kind === "error" || joined?.kind === "error-status") {
        // The origin failed for the request this one waited on: serve stale, or fail alike (after
        // an error status, ask the origin itself). A request for what is stored alone gets its 504.
        // (Not what a delete removed since the look-up read it: the leader no longer had it either.)
        const stale = found?.entry;
        if (
          stale !== undefined && mayServeOnErrorFor(flow, stale, o.now(), o) &&
          !this.#access.invalidatedSince(flow, stale, read)
        ) {
          // (Why it went to the origin, as for the request it waited on: a fresh entry that this
          // request would not take, its max-age=0 say, was not stale.)
          const fwd = forwardReason(flow.mode, found, o.now());
          const forward = joined.kind === "error" ? {} : { status: joined.status };
          return this.#serve(flow, found as Hit, "stale-if-error", { fwd, ...forward });
        }
        if (joined.kind === "error" && !onlyIfCached(flow)) throw joined.error;
      } else if (joined?.kind === "lead") {
        lead = joined.lead;
      }
    }
    // RFC 9111 §4.3.2: the cache answers a client's own If-None-Match / If-Modified-Since itself
    // only from a usable stored response: a 304 when they name it, or the response as it is when
    // it is no 2xx (a redirect, a 404), whose preconditions the origin ignores (RFC 9110 §13.2.1).
    // Any other such request goes to the origin (Exchange: a revalidation of the stored response
    // when they name it, else with its own validators), where what is stored may still answer it
    // on a failure (stale-if-error; a usable one as it is: `mayServeOnErrorFor`). One that asked
    // for what is stored alone (only-if-cached) passes nowhere: a false condition is ignored (RFC
    // 9110 §13.1.2), and the stored response serves it whole.
    const answers = !flow.conditional || onlyIfCached(flow) ||
      (use !== undefined && answersPrecondition(found!.entry!, flow.headers));
    if ((use === "fresh" || use === "stale-ok") && answers) {
      // Nothing else uses this entry now: its body may go to the caller without a copy.
      if (collapsed === undefined) return this.#serve(flow, found as Hit, "hit", undefined, found!.owned);
      return this.#serve(flow, found as Hit, "collapsed", { fwd: collapsed });
    }
    if (use === "stale-while-revalidate" && answers) {
      // (A client that asked only for what is stored asked the cache not to go to the origin.)
      if (!onlyIfCached(flow)) this.#refreshes.refresh(flow, found as Hit, read);
      // (A response this request waited for, that came stale, was no hit: the request was collapsed.)
      if (collapsed === undefined) return this.#serve(flow, found as Hit);
      return this.#serve(flow, found as Hit, "collapsed", { fwd: collapsed });
    }
    // RFC 9111 §5.2.1.7: the only-if-cached directive wants a stored response that satisfies the
    // request's other constraints, or a 504; the fetch mode of that name takes any stored one.
    if (onlyIfCached(flow)) return this.#unsatisfied(flow);
    return this.#exchange.network(flow, found, read, lead);
  }

  /**
   * Closes the session and its backend. Background work (refreshes, writes, bodies still
   * arriving) gets 2 s to end; then what only the cache waits for stops (a refresh, a body its
   * caller cancelled: neither is stored), and the writes of bodies callers still read are waited
   * for 2 s more at most. Requests made from the call on, and those still under way, go to the
   * network (an `only-if-cached` one gets its 504): nothing is read or stored for them. An unsafe one still invalidates what it changed
   * (a delete).
   */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#access.close(this.#closing);
    await this.#access.closeStore();
  }

  /** Closes the session (`await using session = new CachedSession()`). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #serve(
    flow: Flow,
    found: Hit,
    how: Served = "hit",
    forward?: { fwd: ForwardReason; status?: number; stored?: boolean },
    handOver = false,
  ): CachedResponse {
    const now = this.#o.now();
    // A body that came over the network for this request (a coalesced waiter's, a revalidated one)
    // is a byte stream, as a miss's is (`storedBody`).
    const { response, bytes } = fromStored(flow, found, this.#o, {
      revalidated: how === "revalidated",
      handOver,
      byteStream: how === "collapsed" || how === "revalidated",
    }, now);
    return this.#monitor.served(response, flow, found.key, found.entry, how, bytes, now, forward);
  }

  /**
   * What a reload's response goes beside: the entry in its primary slot, read for placement only
   * (a reload uses nothing stored). Without it, the response of one Vary variant would take the
   * primary slot and drop the variant stored there. And what that response replaces: the entry
   * the request selects, as any lookup finds it (there or as a variant beside it, through the
   * alias from where a redirect led, for a `HEAD` the stored `GET` response), which an answer that
   * may not be stored supersedes when it is stale, and which a `HEAD` response freshens or shows
   * outdated (RFC 9111 §4.3.5; `Exchange`).
   */
  async #slotOf(flow: Flow): Promise<Found | undefined> {
    const found = await lookup(flow, this.#o, (key) => this.#access.read(flow, key));
    if (found === undefined) return undefined;
    const { entry, owned: _owned, ...slot } = found;
    return entry === undefined ? slot : { ...slot, replaced: entry };
  }

  /**
   * The 504 of a request that takes only a stored response when none will do; one whose signal has
   * aborted rejects instead, as fetch does (a request the cache does not handle gets here at once).
   */
  #unsatisfied(request: ParsedRequest & { key?: string; label?: string }): CachedResponse {
    signalOf(request)?.throwIfAborted();
    const label = this.#access.labelOf(request);
    return this.#monitor.unsatisfied(gatewayTimeout(request, this.#o.now), { label, key: request.key });
  }

  /**
   * Sends a request past the cache. `stepwise`: what bypasses it is this URL alone (its pattern's
   * DO_NOT_CACHE, a `keyFn` that failed on it), not the request: a redirect comes back as it is, for
   * the session to follow through the cache (when it follows this request's redirects), rather
   * than `fetch` following it to where nothing would be looked up or stored.
   */
  async #bypass(
    request: Pick<ParsedRequest, "input" | "init" | "method"> & Partial<ParsedRequest>,
    fwd: "bypass" | "method" = "bypass",
    stepwise = false,
  ): Promise<CachedResponse> {
    const response = request.url === undefined
      ? responseOf(undefined, await this.#o.fetch(request.input, request.init))
      : stepwise
      ? await this.#origin.fetch(request as ParsedRequest, [])
      : await this.#origin.past(request as ParsedRequest);
    const label = this.#access.labelOf(request);
    if (request.url !== undefined) {
      await this.#access.invalidate({ method: request.method, url: request.url, label }, response);
      if (isRefusedRedirect(request as ParsedRequest, response)) {
        await refuseRedirect(request as ParsedRequest, response);
      }
    }
    const wrapped = CachedResponse.fromNetwork(
      response,
      response.body,
      networkInfo(undefined, undefined, this.#o.now),
    );
    return this.#monitor.bypassed(wrapped, label, fwd);
  }
}
