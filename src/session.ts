/**
 * {@linkcode CachedSession}: the request flow. Look up → serve, revalidate or fetch → store.
 *
 * @module
 */

import type { CacheBackend } from "../backends/base.ts";
import {
  ALIAS_PREFIX,
  createCacheKey,
  type KeyRequest,
  redactUrl,
  urlKeyPrefix,
  variantKey,
} from "./cache_keys.ts";
import { captureBody, endAfter } from "./body.ts";
import {
  type CachedSessionOptions,
  type ErrorContext,
  type ResolvedOptions,
  resolveOptions,
} from "./options.ts";
import {
  conditionalHeaders,
  currentAge,
  ERROR_STATUSES,
  mayServeOnError,
  type PolicyRequest,
  requestDirectives,
  updateHeaders,
  type Usability,
  usability,
  validatorsMatch,
} from "./policy.ts";
import type { CacheEntry } from "./record.ts";
import { type CacheRequestInit, networkArguments, type ParsedRequest, parseRequest } from "./request.ts";
import { partialContent } from "./range.ts";
import { CachedResponse } from "./response.ts";
import { expiresAtOf, type Found, planDeleteAt, planEntry, varyMatches, varyValues } from "./store_plan.ts";

/** Largest body the session collects for storage when the backend sets no bound: 64 MiB. */
export const DEFAULT_MAX_BODY_SIZE = 64 * 1024 * 1024;

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);

/** A lookup that found an entry to use. */
type Hit = Found & { entry: CacheEntry };

/** A request on its way through the cache. */
interface Flow extends ParsedRequest {
  key: string;
  policy: PolicyRequest;
  label: string;
}

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
  #inflight = new Map<string, Promise<CacheEntry | undefined>>();
  #refreshing = new Set<string>();
  #background = new Set<Promise<unknown>>();
  #maxBodySize: number;

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
  }

  /**
   * Fetches through the cache. Takes exactly what `fetch` takes, plus `init.expireAfter`, and
   * honours the standard `init.cache` modes.
   *
   * @param input A URL string, `URL` or `Request`.
   * @param init Request options, `cache` mode and `expireAfter`.
   * @returns The response, from the cache or the network.
   * @throws {TypeError} Whatever plain fetch would throw (invalid URL, network error, abort), or
   *   when `init.cache` or `init.expireAfter` is invalid. Cache failures never reject.
   */
  async fetch(input: RequestInfo | URL, init?: CacheRequestInit): Promise<CachedResponse> {
    const parsed = parseRequest(input, init);
    if (parsed === undefined) return this.#bypass({ input, init, method: "GET" });
    const o = this.#o;
    const cacheable = o.allowedMethods.has(parsed.method) ||
      (parsed.method === "HEAD" && o.allowedMethods.has("GET"));
    if (!cacheable || parsed.mode === "no-store") return this.#bypass(parsed);
    let flow: Flow;
    try {
      flow = await this.#flow(parsed);
    } catch (error) {
      this.#report(error, "read", parsed);
      return this.#bypass(parsed);
    }
    let found = flow.mode === "reload" ? undefined : await this.#lookup(flow);
    let use = found?.entry === undefined ? undefined : this.#usability(flow, found.entry);
    if ((use === undefined || use === "revalidate") && flow.mode !== "reload") {
      // The same request is at the origin already (a miss or a revalidation): share its result.
      const shared = this.#inflight.get(flow.key);
      const entry = shared === undefined ? undefined : await shared;
      if (entry !== undefined && varyMatches(entry, flow.headers)) {
        found = { key: flow.key, entry, viaAlias: false };
        use = this.#usability(flow, entry);
      }
    }
    if (use === "fresh" || use === "stale-ok") return this.#serve(flow, found as Hit);
    if (use === "stale-while-revalidate") {
      this.#refresh(flow, found as Hit);
      return this.#serve(flow, found as Hit);
    }
    // RFC 9111 §5.2.1.7: the only-if-cached directive wants a stored response that satisfies the
    // request's other constraints, or a 504; the fetch mode of that name takes any stored one.
    if (flow.mode === "only-if-cached" || flow.policy.cacheControl.onlyIfCached) {
      // RFC 9111 §5.2.1.7: "respond either using a stored response ... or respond with a 504".
      return new CachedResponse(null, { status: 504, statusText: "Gateway Timeout" }, {
        url: flow.url.href,
        redirected: false,
      }, this.#info(flow.key, undefined));
    }
    return this.#network(flow, found);
  }

  /**
   * Waits for background work (refreshes, writes) and closes the backend.
   */
  async close(): Promise<void> {
    while (this.#background.size > 0) await Promise.allSettled([...this.#background]);
    await this.cache.close();
  }

  /** Closes the session (`await using session = new CachedSession()`). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #flow(parsed: ParsedRequest): Promise<Flow> {
    let request = parsed;
    let body: Uint8Array | undefined;
    if (parsed.method !== "GET" && parsed.method !== "HEAD") {
      // Read the body for the key from a clone; a copy goes to the network, so the caller's own
      // Request stays unread (a Request built from another takes over its body).
      const input = parsed.input instanceof Request ? parsed.input.clone() : parsed.input;
      const built = new Request(input, parsed.init);
      body = new Uint8Array(await built.clone().arrayBuffer());
      request = { ...parsed, input: built, init: undefined };
    }
    const keyRequest: KeyRequest = {
      method: parsed.method === "HEAD" ? "GET" : parsed.method,
      url: parsed.url,
      headers: parsed.headers,
      body,
    };
    const key = await this.#key(keyRequest);
    const policy = {
      method: parsed.method,
      headers: parsed.headers,
      cacheControl: requestDirectives(parsed.headers),
    };
    return {
      ...request,
      key,
      policy,
      label: `${parsed.method} ${redactUrl(parsed.url.href, this.#o.ignoredParameters)}`,
    };
  }

  #key(request: KeyRequest): Promise<string> {
    const o = this.#o;
    const defaultKey = () => createCacheKey(request, o);
    return o.keyFn === undefined ? defaultKey() : Promise.resolve(o.keyFn(request, defaultKey));
  }

  /** How a stored entry may answer this request, by the request's mode and the session's rules. */
  #usability(flow: Flow, entry: CacheEntry): Usability {
    const o = this.#o;
    const now = o.now();
    if (flow.mode === "force-cache" || flow.mode === "only-if-cached") return "fresh";
    if (flow.mode === "no-cache") return "revalidate";
    if (o.cacheControl) return usability(entry, flow.policy, now, o);
    return entry.expiresAt > now ? "fresh" : "revalidate";
  }

  async #lookup(flow: Flow): Promise<Found | undefined> {
    let key = flow.key;
    let record = await this.#read(flow, key);
    let viaAlias = false;
    if (record === undefined) {
      const alias = await this.#read(flow, ALIAS_PREFIX + key);
      if (alias === undefined || !("alias" in alias)) return undefined;
      key = alias.alias;
      record = await this.#read(flow, key);
      viaAlias = true;
    }
    if (record === undefined || !("entry" in record)) return undefined;
    const primary = record.entry;
    if (varyMatches(primary, flow.headers)) return { key, entry: primary, viaAlias, primary };
    // RFC 9111 §4.1: another variant of the same resource may be stored beside this one.
    const variant = await variantKey(
      key,
      varyValues(primary.vary.map(([name]) => name), flow.headers, this.#o),
    );
    const other = await this.#read(flow, variant);
    if (other !== undefined && "entry" in other && varyMatches(other.entry, flow.headers)) {
      return { key: variant, entry: other.entry, viaAlias, primary };
    }
    return { key, viaAlias, primary };
  }

  async #network(flow: Flow, stale: Found | undefined): Promise<CachedResponse> {
    const o = this.#o;
    let settle: (entry: CacheEntry | undefined) => void = () => {};
    if (o.coalesceRequests && !this.#inflight.has(flow.key)) {
      const promise = new Promise<CacheEntry | undefined>((resolve) => settle = resolve);
      this.#inflight.set(flow.key, promise);
      promise.then(() => this.#inflight.get(flow.key) === promise && this.#inflight.delete(flow.key));
    }
    try {
      const cached = stale?.entry;
      const validators = cached === undefined ? [] : conditionalHeaders(cached);
      const requestTime = o.now();
      let response: Response;
      try {
        response = await o.fetch(...networkArguments(flow, validators));
      } catch (error) {
        if (cached !== undefined && mayServeOnError(cached, flow.policy, o.now(), o)) {
          settle(undefined);
          return this.#serve(flow, stale as Hit);
        }
        throw error;
      }
      const responseTime = o.now();
      if (
        cached !== undefined && ERROR_STATUSES.has(response.status) &&
        mayServeOnError(cached, flow.policy, responseTime, o)
      ) {
        await response.body?.cancel();
        settle(undefined);
        return this.#serve(flow, stale as Hit);
      }
      if (cached !== undefined && response.status === 304 && validators.length > 0) {
        if (validatorsMatch(cached, response.headers)) {
          const entry = this.#freshen(flow, cached, response, requestTime, responseTime);
          const stored = this.#store(flow, stale!.key, entry);
          stored.then(settle);
          return this.#serve(flow, { key: stale!.key, entry, viaAlias: stale!.viaAlias }, true);
        }
        // §4.3.4: a 304 that selects no stored response cannot be used: ask again, unconditionally.
        response = await o.fetch(...networkArguments(flow));
      }
      if (flow.method === "HEAD" && cached !== undefined && response.status === 200) {
        // RFC 9111 §4.3.5: a HEAD response freshens the stored GET response it describes; one
        // that describes another representation makes the stored one unusable.
        if (validatorsMatch(cached, response.headers)) {
          settle(
            await this.#store(
              flow,
              stale!.key,
              this.#freshen(flow, cached, response, requestTime, responseTime),
            ),
          );
        } else {
          await this.cache.delete(stale!.key).catch((error) => this.#report(error, "delete", flow));
          settle(undefined);
        }
        return this.#wrap(flow, response, undefined);
      }
      if (!SAFE_METHODS.has(flow.method) && response.status < 400) await this.#invalidate(flow, response);
      const primary = stale?.viaAlias ? undefined : stale?.primary;
      const plan = await planEntry(flow, primary, response, requestTime, responseTime, o);
      if (plan === undefined) {
        settle(undefined);
        return this.#wrap(flow, response, undefined);
      }
      const captured = captureBody(response.body, this.#maxBodySize);
      const stored = captured.bytes.then((body) => {
        if (body === undefined) return undefined;
        return this.#store(flow, plan.key, { ...plan.entry, body }, plan.deleteAt).then(async (entry) => {
          if (response.redirected && entry !== undefined) {
            await this.#alias(flow, response.url, plan.key, plan.deleteAt);
          }
          return entry;
        });
      });
      stored.then(settle);
      this.#track(stored);
      const stream = captured.stream && endAfter(captured.stream, stored);
      return this.#wrap(flow, response, stream, plan.entry);
    } catch (error) {
      settle(undefined);
      throw error;
    }
  }

  /** Stores an entry; a write failure is reported, and the entry still answers waiting requests. */
  async #store(flow: Flow, key: string, entry: CacheEntry, deleteAt?: number): Promise<CacheEntry> {
    try {
      await this.cache.write(key, entry, deleteAt ?? this.#deleteAt(entry));
    } catch (error) {
      this.#report(error, "write", flow);
    }
    return entry;
  }

  #deleteAt(entry: CacheEntry): number {
    return planDeleteAt(entry, this.#o);
  }

  async #alias(flow: Flow, finalUrl: string, target: string, deleteAt: number): Promise<void> {
    try {
      const key = await this.#key({ method: "GET", url: new URL(finalUrl), headers: flow.headers });
      if (key !== target) await this.cache.writeAlias(key, target, deleteAt);
    } catch (error) {
      this.#report(error, "write", flow);
    }
  }

  /** RFC 9111 §3.2 and §4.3.4: a 304 refreshes the stored headers and freshness; the body stays. */
  #freshen(
    flow: Flow,
    entry: CacheEntry,
    response: Response,
    requestTime: number,
    responseTime: number,
  ): CacheEntry {
    const headers = updateHeaders(entry.headers, response.headers, this.#o);
    const refreshed = { ...entry, headers, requestTime, responseTime };
    const fresh = new Response(null, { status: entry.status, headers });
    return { ...refreshed, expiresAt: expiresAtOf(flow, fresh, refreshed, this.#o) ?? responseTime };
  }

  /** RFC 9111 §4.4: a non-error response to an unsafe method invalidates the target URI and the
   * same-origin `Location` and `Content-Location`. */
  async #invalidate(flow: Flow, response: Response): Promise<void> {
    const urls = [flow.url];
    for (const name of ["location", "content-location"]) {
      const value = response.headers.get(name);
      if (value === null) continue;
      try {
        const url = new URL(value, flow.url);
        if (url.origin === flow.url.origin) urls.push(url);
      } catch {
        // An unparsable Location invalidates nothing.
      }
    }
    try {
      for (const url of urls) {
        for (const method of ["GET", "HEAD"]) {
          const prefix = await urlKeyPrefix(method, url, this.#o.ignoredParameters);
          await this.cache.deleteByPrefix(prefix, ALIAS_PREFIX + prefix);
        }
      }
    } catch (error) {
      this.#report(error, "delete", flow);
    }
  }

  /** RFC 5861 §3: refresh a stale entry in the background, once at a time per entry. */
  #refresh(flow: Flow, found: Hit): void {
    if (this.#refreshing.has(found.key)) return;
    this.#refreshing.add(found.key);
    const background: Flow = { ...flow, ...withoutSignal(flow) };
    const work = this.#network(background, found)
      .then((response) => response.body?.cancel())
      .catch((error) => this.#report(error, "revalidate", flow))
      .finally(() => this.#refreshing.delete(found.key));
    this.#track(work);
  }

  #serve(flow: Flow, found: Hit, revalidated = false): CachedResponse {
    const { entry } = found;
    const now = this.#o.now();
    const headers = new Headers(entry.headers);
    // RFC 9111 §5.1: a response served from the cache carries its current age.
    if (this.#o.cacheControl) headers.set("age", String(Math.floor(currentAge(entry, now))));
    const range = flow.headers.get("range");
    const partial = range !== null && entry.status === 200
      ? partialContent(headers, entry.body, range)
      : undefined;
    const body = partial?.body ?? entry.body;
    return CachedResponse.fromEntry(entry, {
      cacheKey: flow.key,
      now,
      clock: this.#o.now,
      headers,
      ...(partial && { status: partial.status }),
      body: flow.method === "HEAD" || partial?.body === null ? null : body as Uint8Array<ArrayBuffer>,
      redirected: found.viaAlias ? false : entry.redirected,
      revalidated,
    });
  }

  #wrap(
    flow: Flow,
    response: Response,
    body: BodyInit | null | undefined,
    entry?: Omit<CacheEntry, "body">,
  ): CachedResponse {
    return CachedResponse.fromNetwork(
      response,
      body === undefined ? response.body : body,
      this.#info(flow.key, entry),
    );
  }

  #info(
    key: string | undefined,
    entry: Omit<CacheEntry, "body"> | undefined,
  ): ConstructorParameters<typeof CachedResponse>[3] {
    return {
      fromCache: false,
      revalidated: false,
      cacheKey: key,
      createdAt: entry === undefined ? undefined : new Date(entry.createdAt),
      expiresAt: entry === undefined || !Number.isFinite(entry.expiresAt)
        ? undefined
        : new Date(entry.expiresAt),
      now: this.#o.now,
    };
  }

  async #bypass(
    request: Pick<ParsedRequest, "input" | "init" | "method"> & Partial<ParsedRequest>,
  ): Promise<CachedResponse> {
    const args = request.url === undefined
      ? [request.input, request.init] as const
      : networkArguments(request as ParsedRequest);
    const response = await this.#o.fetch(...args);
    if (request.url !== undefined && !SAFE_METHODS.has(request.method) && response.status < 400) {
      await this.#invalidate({
        ...(request as ParsedRequest),
        key: "",
        policy: NO_POLICY,
        label: `${request.method} ${request.url.href}`,
      }, response);
    }
    return CachedResponse.fromNetwork(response, response.body, this.#info(undefined, undefined));
  }

  async #read(flow: Flow, key: string): ReturnType<CacheBackend["read"]> {
    try {
      return await this.cache.read(key);
    } catch (error) {
      this.#report(error, "read", flow);
      return undefined;
    }
  }

  #track(work: Promise<unknown>): void {
    const tracked = work.catch(() => {});
    this.#background.add(tracked);
    tracked.finally(() => this.#background.delete(tracked));
    this.#o.waitUntil?.(tracked);
  }

  #report(
    error: unknown,
    operation: ErrorContext["operation"],
    request: Pick<ParsedRequest, "method" | "url"> & { label?: string },
  ): void {
    try {
      this.#o.onError(error, {
        operation,
        request: request.label ?? `${request.method} ${request.url.href}`,
      });
    } catch {
      // A failing error handler must not fail the request either.
    }
  }
}

const NO_POLICY: PolicyRequest = { method: "GET", headers: new Headers(), cacheControl: {} };

function withoutSignal(flow: Flow): Partial<Flow> {
  if (flow.init?.signal === undefined && !(flow.input instanceof Request)) return {};
  return { init: { ...flow.init, signal: null } };
}
