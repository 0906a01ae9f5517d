/**
 * The exchange with the origin for a request the cache cannot answer alone: ask (conditionally
 * when something is stored), then serve a stored response on error, freshen it from a `304` or a
 * `HEAD`, or store and share what came. (Background refreshes ask through it: src/refresh.ts.)
 *
 * @module
 */

import { unlessAborted } from "./abort_follow.ts";
import { CacheFailure, contentLength, takeBody, type TakenBody } from "./body.ts";
import { type CacheAccess, mayHoldEntry } from "./cache_access.ts";
import { type ForwardReason, forwardReason } from "./cache_status.ts";
import { SHARED_BODY_WAIT } from "./deadline.ts";
import { answerLeader, type Inflight, type Lead, type Outcome, RETRY } from "./inflight.ts";
import { mayServeOnErrorFor, redirectsToOwnKey } from "./lookup.ts";
import type { Monitor, Served } from "./monitor.ts";
import type { ResolvedOptions } from "./options.ts";
import { ERROR_STATUSES, headerValue } from "./policy.ts";
import type { CacheEntry } from "./record.ts";
import type { Varied } from "./vary.ts";
import {
  isFollowed,
  isRefusedRedirect,
  refuseRedirect,
  type StepwiseFetch,
  storesRedirect,
} from "./redirects.ts";
import { signalOf, withSignal } from "./request.ts";
import { CachedResponse } from "./response.ts";
import { type Flow, freshen, type Hit, networkInfo, unconditional, wantsWhole } from "./serve.ts";
import { type Found, freshenedSlot, type Plan, planEntry, reachedWhereStored } from "./store_plan.ts";
import { answersPrecondition, conditionalHeaders, headDescribes, validatorsMatch } from "./validation.ts";

/** How the session serves a stored entry (its `#serve`). */
export type Serve = (
  flow: Flow,
  found: Hit,
  how?: Served,
  forward?: { fwd: ForwardReason; status?: number; stored?: boolean },
) => CachedResponse;

/** A session's exchanges with the origin. */
export class Exchange {
  #o: ResolvedOptions;
  #inflight: Inflight;
  #access: CacheAccess;
  #monitor: Monitor;
  #serve: Serve;
  #origin: StepwiseFetch;
  #closing: AbortSignal;
  #maxBodySize: number;

  /**
   * @param o The session's options.
   * @param inflight The session's leads (coalescing).
   * @param access The session's reads, writes and background work.
   * @param monitor Where stats and events go.
   * @param serve How the session serves a stored entry.
   * @param limits `closing`: the session's closing signal; `maxBodySize`: the largest body collected;
   *   `origin`: the session's way to the origin.
   */
  constructor(
    o: ResolvedOptions,
    inflight: Inflight,
    access: CacheAccess,
    monitor: Monitor,
    serve: Serve,
    limits: { closing: AbortSignal; maxBodySize: number; origin: StepwiseFetch },
  ) {
    this.#o = o;
    this.#inflight = inflight;
    this.#access = access;
    this.#monitor = monitor;
    this.#serve = serve;
    this.#origin = limits.origin;
    this.#closing = limits.closing;
    this.#maxBodySize = limits.maxBodySize;
  }

  /**
   * Asks the origin for a request the cache cannot answer alone, and leads the identical
   * requests that arrive meanwhile (unless `claimed` already leads them).
   *
   * @param flow The request.
   * @param stale What is stored for it, if anything: asked for conditionally.
   * @param read The {@linkcode CacheAccess.readMark} taken before `stale` was read.
   * @param claimed The lead the request took while it waited for another.
   * @returns The response for the caller.
   */
  network(flow: Flow, stale: Found | undefined, read: number, claimed?: Lead): Promise<CachedResponse> {
    // A stored response that a delete of its URL (an unsafe request, `deleteUrls`, `clear()`)
    // removed after the look-up read it is gone: a 304 or a HEAD response that freshened it would
    // write it back, and what was deleted would be served again.
    const stored = stale?.entry ?? stale?.replaced;
    if (stored !== undefined && this.#access.invalidatedSince(flow, stored, read)) stale = undefined;
    const signal = signalOf(flow);
    // Identical requests that arrive meanwhile wait for this one (Inflight.join) instead of asking
    // too; not for a HEAD, a Range or a conditional request, which bring no whole body to share.
    const leads = this.#o.coalesceRequests && wantsWhole(flow);
    const lead = claimed ?? (leads ? this.#inflight.lead(flow.key, signal) : undefined);
    // (A refresh keeps its signal: it stops as the session closes, or at its time limit.)
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
    // A revalidation sends the stored response's validators alone: beside them, the caller's own
    // (a `no-cache` request's If-None-Match, where only Last-Modified is stored) would have the
    // origin answer 304 for the caller's copy, and a 304 that names no validator would freshen the
    // stored response as if it were current.
    // Once the request's signal aborts (the lead's, when no one wants the response any more; a
    // refresh's, at its time limit), it is not waited for: a `fetch` that does not follow its signal
    // would else hold the URL's lead, or its refresh, for good. A response that comes later is let go of.
    const ask = async (validators: [string, string][]) => {
      const asking = this.#origin.fetch(
        validators.length > 0 ? unconditional(sent) : sent,
        validators,
      );
      const response = await unlessAborted(asking, signalOf(sent)).catch((error) => {
        asking.then((late) => late.body?.cancel().catch(() => {}), () => {});
        throw error;
      });
      arrived?.();
      return response;
    };
    // What the origin sent is stored, and shared with waiters, only if its URL was not invalidated
    // since it was asked for (RFC 9111 §4.4).
    let asked = this.#access.mark();
    // (`alias`: the slot of an entry the request reached through a redirect alias, see `Outcome`.)
    const settle = (entry: CacheEntry | undefined, alias?: string) => {
      if (entry === undefined) lead?.release();
      // A waiter may have come after the invalidation: the waiters ask again, one of them leading.
      else if (this.#access.invalidatedSince(flow, entry, asked)) lead?.release(RETRY);
      else lead?.settle({ kind: "entry", entry, asked, ...(alias !== undefined && { alias }) });
    };
    // Shared with no one, a body the caller alone reads on follows its signal, as fetch's does,
    // until it has ended: the body to hand to the caller.
    const unshared = (response: Response): ReadableStream<Uint8Array> | null => {
      settle(undefined);
      return response.body === null || lead === undefined ? response.body : lead.follow(response.body);
    };
    // An error caused by the origin request's abort is not the origin's: a waiter asks again.
    const failed = (error: unknown): Outcome => signalOf(sent)?.aborted ? RETRY : { kind: "error", error };
    try {
      const cached = stale?.entry;
      // RFC 9110 §13.1.2: a condition that fails on another method than GET or HEAD is a `412`, and
      // the method is not performed: a stored `POST` answer is asked for again unconditionally.
      // A request with its own If-None-Match or If-Modified-Since that names another copy than the
      // stale stored response is sent with those alone: the origin answers for the caller's copy,
      // with a 304 that goes to the caller and freshens nothing, or with the whole response, stored
      // as any. One that names the stored response (or whose stored response is no 2xx, for which
      // the origin ignores them) revalidates it (RFC 9111 §4.3.4): a 304 freshens it, and the
      // caller gets a 304 of it, or the response itself.
      const validators = cached === undefined || (flow.method !== "GET" && flow.method !== "HEAD") ||
          (flow.conditional && !answersPrecondition(cached, flow.headers))
        ? []
        : conditionalHeaders(cached);
      let requestTime = o.now();
      const fwd = forwardReason(flow.mode, stale, requestTime);
      const conditional = validators.length > 0;
      let response: Response;
      let responseTime: number;
      // §4.3.4: a 304 that selects no stored response cannot be used: ask again, unconditionally.
      // The response stored is that second one: its age counts from its own exchange (§4.2.3), and
      // where it fails, stale-if-error may serve the stored response as after the first.
      for (let asking = validators;; asking = [], requestTime = o.now()) {
        try {
          response = await ask(asking);
        } catch (error) {
          // An abort by the request's own caller is no error of the origin's: it rejects, as fetch's
          // does, rather than serve a stale response in its place (stale-if-error). Nor does a
          // refresh, which serves no one: its failure (its time limit's too) is reported (`refresh`).
          const rejects = flow.background || signalOf(flow)?.aborted === true;
          if (!rejects && cached !== undefined && mayServeOnErrorFor(flow, cached, o.now(), o)) {
            lead?.release(failed(error));
            return this.#serve(flow, stale as Hit, "stale-if-error", { fwd });
          }
          throw error;
        }
        responseTime = o.now();
        // (An unsafe request that refuses redirects got one: it rejects, though it invalidated.)
        if (isRefusedRedirect(flow, response)) {
          await this.#access.invalidate(flow, response);
          return await refuseRedirect(flow, response);
        }
        if (
          cached !== undefined && ERROR_STATUSES.has(response.status) &&
          mayServeOnErrorFor(flow, cached, responseTime, o)
        ) {
          await response.body?.cancel();
          lead?.release({ kind: "error-status", status: response.status });
          return this.#serve(flow, stale as Hit, "stale-if-error", { fwd, status: response.status });
        }
        if (response.status !== 304 || asking.length === 0) break;
        // (A 304 from where a `fetch` that follows redirects now leads validates nothing stored here.)
        if (
          validatorsMatch(cached!, response.headers) && reachedWhereStored(cached!, flow.url, response, o)
        ) {
          const freshened = freshen(o, flow, cached!, response, requestTime, responseTime);
          const { entry, storable } = freshened;
          // (A 304 that says the response may no longer be stored, `no-store` say, deletes it.)
          const at = storable ? freshenedSlot(stale!, cached!, entry) : stale!;
          settle(storable ? entry : undefined, at.viaAlias ? at.key : undefined);
          this.#access.track(
            this.#access.update(flow, at, freshened, asked).finally(() => lead?.release()),
            "write",
            flow,
          );
          const found = { key: at.key, entry, viaAlias: at.viaAlias };
          const stored = storable && this.#access.writing;
          const served = this.#serve(flow, found, "revalidated", { fwd, status: 304, stored });
          // The 304's own Set-Cookie answers this request: its caller gets it, as from fetch, though
          // a session without storeSetCookie neither stores it nor serves it again, nor does one
          // with it when the response's directives keep it out (`no-cache="set-cookie"`, in a
          // shared cache `private="set-cookie"`).
          // (And the obsolete Set-Cookie2, which sets a cookie all the same.)
          if (headerValue(entry.headers, "set-cookie") === null) {
            for (const cookie of response.headers.getSetCookie()) served.headers.append("set-cookie", cookie);
          }
          const cookie2 = response.headers.get("set-cookie2");
          if (cookie2 !== null && headerValue(entry.headers, "set-cookie2") === null) {
            served.headers.append("set-cookie2", cookie2);
          }
          return served;
        }
        await response.body?.cancel();
      }
      // (A reload uses nothing stored, but its HEAD response still describes the stored response
      // it would have selected.)
      const described = flow.mode === "reload" ? stale?.replaced : cached;
      if (flow.method === "HEAD" && described !== undefined && response.status === 200) {
        // RFC 9111 §4.3.5: a HEAD response freshens the stored GET response it describes; one
        // that describes another representation makes the stored one unusable.
        // (One from where a `fetch` that follows redirects now leads shows the stored one outdated.)
        const freshened = headDescribes(described, response.headers) &&
            reachedWhereStored(described, flow.url, response, o)
          ? freshen(o, flow, described, response, requestTime, responseTime)
          : undefined;
        // (The freshened entry is stored, as after a 304: `Cache-Status` and `expiresAt` say so.)
        const kept = freshened?.storable ? freshened.entry : undefined;
        const at = kept === undefined ? stale! : freshenedSlot(stale!, described, kept);
        const member = this.#record(flow, response, kept, fwd, conditional, at.key);
        if (freshened?.storable) settle(freshened.entry);
        await this.#access.awaited(this.#access.update(flow, at, freshened, asked), "write", flow);
        settle(undefined);
        return this.#wrap(flow, response, undefined, kept, member, at.key);
      }
      asked = await this.#access.invalidateFor(flow, response, asked);
      // A redirect to a URL keyed as this one (`?utm_source=x` to the URL without it) is not stored:
      // it would answer the request it leads to. Nor does it say anything of what is stored there.
      let loops = redirectsToOwnKey(flow, response, o);
      if (typeof loops !== "boolean") loops = await loops;
      // (A HEAD response is stored on its own only where no GET response answers the HEADs.)
      const plan = loops || (flow.method === "HEAD" && described?.method === "GET")
        ? undefined
        : this.#plan(flow, stale?.primary, response, requestTime, responseTime);
      if (plan === undefined) {
        // A newer answer that may not be stored supersedes a stale stored one, which would else
        // go on being served stale (stale-while-revalidate, stale-if-error) after it. A fresh one
        // stays (cache-tests cc-resp-no-store-old-new), and so does one an error status leaves
        // (a rate limit's 429 or 403 says nothing of the resource, whose validators revalidate it
        // later), except that the resource is gone (404, 410). A 304 is no newer answer: it says
        // the copy that the request named (the caller's own, in a reload say) is current.
        // (A reload uses nothing stored: what it would have found, in the primary slot, beside it
        // or through an alias, is what it replaces.)
        const outdated = flow.mode === "reload" ? stale?.replaced : cached;
        const superseded = !loops && outdated?.method === flow.method && outdated.expiresAt <= responseTime &&
          (response.status < 400 || response.status === 404 || response.status === 410) &&
          response.status !== 206 && response.status !== 304;
        if (superseded) this.#access.replacedUnstored(flow, stale!.key, stale);
        return this.#unstored(flow, response, fwd, conditional, unshared(response));
      }
      // A body declared larger than the limit streams through untouched: nothing is collected.
      // (A HEAD response has none, whatever length it declares: it is stored.)
      const length = contentLength(response.headers);
      if (flow.method !== "HEAD" && Number(length) > this.#maxBodySize) {
        const body = unshared(response);
        this.#access.replacedUnstored(flow, plan.key, stale);
        return this.#unstored(flow, response, fwd, conditional, body);
      }
      const keep = async (taken: TakenBody | undefined) => {
        if (taken === undefined) {
          // Let go of (too large): the caller's stream, which follows its signal, cancels the body
          // on an abort (`takeBody`).
          settle(undefined);
          return this.#access.replacedUnstored(flow, plan.key, stale);
        }
        // Waiting requests get the entry now; they never wait for the backend's write.
        const entry = { ...plan.entry, body: taken.body };
        settle(entry);
        const found = { key: plan.key, viaAlias: false, occupied: mayHoldEntry(flow, stale) };
        await this.#access.store(flow, found, entry, asked, plan.deleteAt, taken.record);
        return entry;
      };
      // A body that failed is never stored nor served; waiters get the same error. One the cache
      // could not hold goes on to its caller: the failure, the cache's, is reported.
      const dropped = (error: unknown) => {
        if (error instanceof CacheFailure) {
          this.#access.report(error.cause, "write", flow);
          return keep(undefined);
        }
        lead?.release(failed(error));
      };
      /** The write, once the body has been taken. */
      let written: Promise<unknown> | undefined;
      const store = (bytes: Promise<TakenBody | undefined>) => {
        const stored = bytes.then(keep, dropped).finally(() => settle(undefined));
        this.#access.track(stored, "write", flow);
        written = stored;
        // (The body ends once the writes of the redirects that led here have settled too.)
        return flow.after === undefined ? stored : Promise.allSettled([stored, flow.after]);
      };
      // The waiters get the entry once the body has ended; one of no declared length (a feed, which
      // may never end) they wait for a while at most, then ask the origin themselves.
      // (Recorded before the body is taken: its miss event comes before its entry's store event.)
      const member = this.#record(flow, response, plan.entry, fwd, conditional, plan.key);
      if (length === null) lead?.unshareAfter(SHARED_BODY_WAIT);
      lead?.announce(plan.entry);
      const signal = flow.method === "HEAD" ? undefined : signalOf(flow);
      const followed = !flow.background && isFollowed(flow, response);
      const body = await takeBody(
        response,
        this.#maxBodySize,
        plan.entry,
        store,
        signal,
        this.#closing,
        followed,
        lead,
      );
      // (A HEAD's caller gets no body, as from fetch, though an empty one was stored.)
      const served = flow.method === "HEAD" ? null : body;
      const wrapped = this.#wrap(flow, response, served, plan.entry, member, plan.key);
      // The body of the response a followed redirect leads to ends once the redirect is stored too.
      if (followed && written !== undefined) storesRedirect(wrapped, written);
      return wrapped;
    } catch (error) {
      lead?.release(failed(error));
      throw error;
    }
  }

  /**
   * Plans the storage of a response; a `filter` that throws is a cache failure (reported to
   * `onError`): the response goes to the caller unstored, as for `keyFn`.
   */
  #plan(
    flow: Flow,
    primary: Varied | undefined,
    response: Response,
    requestTime: number,
    responseTime: number,
  ): Plan | undefined {
    try {
      return planEntry(flow, primary, response, requestTime, responseTime, this.#o);
    } catch (error) {
      this.#access.report(error, "write", flow);
      return undefined;
    }
  }

  /**
   * Records a response from the origin (stats, its `miss` event) and gives its `Cache-Status`
   * member: called before its body is taken, so that the event comes before its entry's `store`.
   * `key` is where its entry is stored (a Vary variant's own, a HEAD's own), when one is: the
   * event names it, as the entry's `store` event and the response's `cacheKey` do (`#wrap`).
   */
  #record(
    flow: Flow,
    response: Response,
    entry: Omit<CacheEntry, "body"> | undefined,
    fwd: ForwardReason,
    conditional: boolean,
    key: string = flow.key,
  ): string | undefined {
    // (What the session will not write, its reads or writes resting after failures, is not "stored".)
    const stored = this.#access.writing ? entry : undefined;
    const at = stored === undefined ? flow.key : key;
    return this.#monitor.forwarded(flow, fwd, conditional, response.status, stored, this.#o.now(), at);
  }

  /** A response from the origin that nothing is stored from, recorded and wrapped (with `body`, if given). */
  #unstored(
    flow: Flow,
    response: Response,
    fwd: ForwardReason,
    conditional: boolean,
    body?: ReadableStream<Uint8Array> | null,
  ): CachedResponse {
    const member = this.#record(flow, response, undefined, fwd, conditional);
    return this.#wrap(flow, response, body, undefined, member);
  }

  /**
   * Wraps a response from the origin, with the `Cache-Status` member it was recorded with; `key` is
   * where its entry is stored (a Vary variant's own), when one is.
   */
  #wrap(
    flow: Flow,
    response: Response,
    body: BodyInit | null | undefined,
    entry: Omit<CacheEntry, "body"> | undefined,
    member: string | undefined,
    key: string = flow.key,
  ): CachedResponse {
    // (What the session will not write, its writes resting after failures, has no entry's times,
    // nor a key of its own.)
    const stored = this.#access.writing ? entry : undefined;
    const wrapped = CachedResponse.fromNetwork(
      response,
      body === undefined ? response.body : body,
      networkInfo(stored === undefined ? flow.key : key, stored, this.#o.now),
    );
    return this.#monitor.described(wrapped, member);
  }
}
