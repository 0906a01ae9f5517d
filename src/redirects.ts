/**
 * Following redirects one step at a time, as the Fetch standard's HTTP-redirect fetch does, so that
 * each step goes through the cache on its own: a redirect is stored (or not) by its own headers,
 * and where it leads by its own. When `fetch` follows a redirect itself, the cache sees only where
 * it led, and would keep that under the URL asked for even when the redirect said `no-store`.
 *
 * @module
 */

import { redact } from "./backend_options.ts";
import { CREDENTIAL_HEADERS, hrefWithoutUserinfo } from "./cache_keys.ts";
import { describe } from "./expiration.ts";
import {
  type CacheRequestInit,
  networkArguments,
  type ParsedRequest,
  parseRequest,
  SAFE_METHODS,
  signalOf,
} from "./request.ts";
import { CachedResponse } from "./response.ts";

/** Redirect statuses (Fetch standard: "redirect status"). */
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** Header fields a redirect to another origin does not carry on: the credentials, and `Host`. */
export const CROSS_ORIGIN_DROPPED: readonly string[] = [...CREDENTIAL_HEADERS, "host"];

/** How many redirects a fetch follows before it fails (Fetch standard §4.4, step 5). */
const MAX_REDIRECTS = 20;

/** The write of each redirect the session follows that it stores, by its response, until it settles. */
const WRITES = new WeakMap<Response, Promise<unknown>>();

/**
 * Keeps the write of a redirect that the session follows, for the body of the response it leads
 * to to wait for at its end ({@linkcode followRedirects}).
 *
 * @param response The redirect, as the session served it.
 * @param write The write; its failure is its own business.
 */
export function storesRedirect(response: Response, write: Promise<unknown>): void {
  WRITES.set(response, write);
  write.finally(() => WRITES.delete(response)).catch(() => {});
}

/**
 * The writes that the request a redirect leads to waits for at the end of its body: those the
 * redirect's own request waited for, and the redirect's own, when still under way.
 */
function writesBefore(request: ParsedRequest, response: Response): Promise<unknown> | undefined {
  const write = WRITES.get(response);
  if (write === undefined || request.after === undefined) return write ?? request.after;
  return Promise.allSettled([request.after, write]);
}

/**
 * Whether the session follows this request's redirects itself, step by step: a request that
 * follows redirects and has no body (`GET`, `HEAD`). One with a body would have to send it again
 * after a `307` or `308`; `fetch` follows its redirects. So it does those of a request with
 * `integrity`, which it checks against the last response only.
 *
 * @param request The request.
 * @returns Whether to fetch it with `redirect: "manual"` and follow here.
 */
export function followsStepwise(request: Pick<ParsedRequest, "redirect" | "method" | "integrity">): boolean {
  return request.redirect === "follow" && (request.method === "GET" || request.method === "HEAD") &&
    request.integrity === "";
}

/**
 * Follows a response's redirects one step at a time, each step through `step` (the cache), until
 * a response that is not one: that is the answer, marked as reached through redirects. Its body
 * ends only once the writes of the redirects stored on the way have settled too (`after`, 2 s at
 * most, as for its own): a caller who read it to the end finds the whole way in the cache.
 *
 * @param request The request that got the response.
 * @param response Its response.
 * @param step Fetches one request through the cache, without following its redirects.
 * @param hops Redirects followed before this one.
 * @returns The last step's response.
 * @throws {TypeError} Where `fetch` fails ({@linkcode redirectTarget}).
 */
export function followRedirects(
  request: ParsedRequest,
  response: CachedResponse,
  step: (request: ParsedRequest) => Promise<CachedResponse>,
  hops = 0,
): CachedResponse | Promise<CachedResponse> {
  let target: ReturnType<typeof redirectTarget>;
  try {
    target = redirectTarget(request, response, hops);
  } catch (error) {
    return discard(response).then(() => Promise.reject(error));
  }
  if (target === undefined) return hops === 0 ? response : CachedResponse.reachedByRedirect(response);
  const after = writesBefore(request, response);
  return discard(response).then(() => {
    const next = parseRequest(...target)!;
    if (after !== undefined) next.after = after;
    return step(next).then((response) => followRedirects(next, response, step, hops + 1));
  });
}

/**
 * The session's way to the origin: a request whose redirects the session follows asks `fetch`
 * for `redirect: "manual"`, so that a redirect comes back as it is, to be followed through the
 * cache. A `fetch` that answers that with an opaque redirect (status 0, no `Location`: a
 * browser's) is asked again to follow it itself, and so is every request after it: the cache then
 * sees where a redirect led, not the redirect.
 */
export class StepwiseFetch {
  #fetch: typeof globalThis.fetch;
  /** Set once `fetch` has hidden a redirect. */
  #hidden = false;

  constructor(fetch: typeof globalThis.fetch) {
    this.#fetch = fetch;
  }

  /**
   * Sends a request to the origin.
   *
   * @param request The request.
   * @param extra Header fields to set (validators).
   * @returns The origin's response; a redirect as it is, unless `fetch` hides redirects.
   */
  async fetch(request: ParsedRequest, extra: [string, string][]): Promise<Response> {
    // (An unsafe request that refuses redirects gets its opaque redirect: it is never sent twice.)
    const refuses = refusesRedirects(request);
    const manual = refuses || (followsStepwise(request) && !this.#hidden);
    const response = responseOf(
      request.url,
      await this.#fetch(...networkArguments(request, extra, { manual })),
    );
    if (refuses || !manual || response.type !== "opaqueredirect") return response;
    this.#hidden = true;
    return responseOf(request.url, await this.#fetch(...networkArguments(request, extra)));
  }

  /**
   * Sends a request past the cache, its redirects followed by `fetch` (but for those of a request
   * that refuses them: {@linkcode refusesRedirects}).
   *
   * @param request The request.
   * @returns The origin's response.
   */
  async past(request: ParsedRequest): Promise<Response> {
    const manual = refusesRedirects(request);
    return responseOf(request.url, await this.#fetch(...networkArguments(request, [], { manual })));
  }
}

/**
 * What the `fetch` option resolved to, when it is a response: a `Response`, or one of another
 * implementation (undici's from npm) with its status, headers and body.
 *
 * @param url The URL asked for, if the request was parsed.
 * @param value What `fetch` resolved to.
 * @returns It, as a response.
 * @throws {TypeError} When it is none: the cache could neither store nor serve it.
 */
export function responseOf(url: URL | undefined, value: unknown): Response {
  const response = value as Partial<Response> | null;
  if (
    typeof response === "object" && response !== null && typeof response.status === "number" &&
    typeof response.headers?.get === "function" && "body" in response
  ) {
    return response as Response;
  }
  const asked = url === undefined ? "it" : hrefWithoutUserinfo(url);
  throw new TypeError(
    `Cannot fetch ${asked}: the fetch option resolved to ${describe(value)}, not a Response`,
  );
}

/**
 * Whether a request is sent with `redirect: "manual"` in place of its own `"error"`: an unsafe one.
 * A redirect is a non-error answer to it, which invalidates what the request changed (RFC 9111
 * §4.4), but `fetch` would reject without showing it to the cache. The cache rejects as `fetch`
 * does once it has invalidated ({@linkcode isRefusedRedirect}, {@linkcode refuseRedirect}).
 *
 * @param request The request.
 * @returns Whether to fetch it with `redirect: "manual"`, and reject on a redirect.
 */
export function refusesRedirects(request: Pick<ParsedRequest, "redirect" | "method">): boolean {
  return request.redirect === "error" && !SAFE_METHODS.has(request.method);
}

/**
 * Whether a response is a redirect that its request refuses ({@linkcode refusesRedirects}): any
 * redirect status, with a `Location` or not (as Deno, Node and Bun reject it), or an opaque one.
 */
export function isRefusedRedirect(
  request: Pick<ParsedRequest, "redirect" | "method">,
  response: Pick<Response, "status" | "type">,
): boolean {
  return refusesRedirects(request) &&
    (REDIRECT_STATUSES.has(response.status) || response.type === "opaqueredirect");
}

/**
 * Lets go of a redirect that its request refuses, and rejects as `fetch` does.
 *
 * @param request The request.
 * @param response The redirect.
 * @throws {TypeError} Always.
 */
export async function refuseRedirect(
  request: Pick<ParsedRequest, "url">,
  response: Response,
): Promise<never> {
  await discard(response);
  throw new TypeError(
    `Cannot fetch ${hrefWithoutUserinfo(request.url)}: it redirects, and its redirect mode is "error"`,
  );
}

/**
 * Whether the session follows this response itself: a redirect with a `Location`, to a request
 * whose redirects it follows.
 */
export function isFollowed(
  request: Pick<ParsedRequest, "redirect" | "method" | "integrity">,
  response: Pick<Response, "status" | "headers">,
): boolean {
  return REDIRECT_STATUSES.has(response.status) && response.headers.has("location") &&
    followsStepwise(request);
}

/**
 * Lets go of a redirect's body once it is followed, as fetch does: the cache reads on only
 * briefly (`FOLLOWED_READ_TIMEOUT`), and stores the redirect if its body has come by then.
 */
function discard(response: Response): Promise<void> {
  return response.body?.cancel().catch(() => {}) ?? Promise.resolve();
}

/**
 * A `Location` value as `fetch` follows it: header values come as byte strings (one character a
 * byte), and bytes that are not ASCII are read as UTF-8, as browsers, undici and Bun read them
 * (an origin that sends `/café` raw means `/caf%C3%A9`, not `/caf%C3%83%C2%A9`).
 *
 * @param value The field value.
 * @returns The value to parse as a URL.
 */
export function utf8Location(value: string): string {
  // deno-lint-ignore no-control-regex
  if (!/[\x80-\xff]/.test(value) || /[^\x00-\xff]/.test(value)) return value;
  return new TextDecoder().decode(Uint8Array.from(value, (char) => char.charCodeAt(0)));
}

/**
 * Where a redirect leads, as {@linkcode redirectTarget} resolves its `Location`.
 *
 * @param url The URL of the request that got the response.
 * @param response The response.
 * @returns The URL (its fragment aside), or `undefined` when the response is no redirect with a
 *   `Location` that is a URL.
 */
export function redirectLocation(url: URL, response: Pick<Response, "status" | "headers">): URL | undefined {
  if (!REDIRECT_STATUSES.has(response.status)) return undefined;
  const location = response.headers.get("location");
  if (location === null) return undefined;
  try {
    return new URL(utf8Location(location), url);
  } catch {
    return undefined;
  }
}

/**
 * The request a redirect leads to, or `undefined` when the response is not one to follow.
 *
 * @param request The request that got the response.
 * @param response Its response: from the network (fetched with `redirect: "manual"`) or the cache.
 * @param hops Redirects followed before this one.
 * @returns The next request's `fetch` arguments (the cache mode and `expireAfter` included).
 * @throws {TypeError} Where `fetch` fails: a `Location` that is no URL or no HTTP(S) one, or
 *   more than {@linkcode MAX_REDIRECTS} redirects.
 */
function redirectTarget(
  request: ParsedRequest,
  response: Response,
  hops: number,
): [string, CacheRequestInit] | undefined {
  if (!REDIRECT_STATUSES.has(response.status)) return undefined;
  const location = response.headers.get("location");
  if (location === null) return undefined;
  let target: URL;
  try {
    target = new URL(utf8Location(location), request.url);
  } catch {
    // (A password that the Location names, which no parser took, is left out all the same.)
    const named = redact(location);
    throw new TypeError(
      `Cannot follow the redirect of ${hrefWithoutUserinfo(request.url)}: Location ${named} is not a URL`,
    );
  }
  if (target.protocol !== "http:" && target.protocol !== "https:") {
    throw new TypeError(
      `Cannot follow the redirect of ${hrefWithoutUserinfo(request.url)} to ${target.protocol} URL`,
    );
  }
  if (hops >= MAX_REDIRECTS) {
    throw new TypeError(
      `Cannot fetch ${hrefWithoutUserinfo(request.url)}: more than ${MAX_REDIRECTS} redirects`,
    );
  }
  // Fetch's "location URL": a Location without a fragment takes the request's; one with a "#" keeps
  // its own, the empty one too (`/new#`), which `hash` cannot tell from none.
  if (!location.includes("#")) target.hash = request.url.hash;
  // A GET stays a GET and a HEAD a HEAD, whatever the status (requests with a body are not followed
  // here), with the same header fields, but credentials go to the origin they were sent to only
  // (Fetch standard §4.4 drops Authorization; undici drops all three), and so does a `Host` the
  // caller set (undici and Bun drop it: it names the first origin's host, not the next one's).
  const headers = new Headers(request.headers);
  if (target.origin !== request.url.origin) {
    for (const name of CROSS_ORIGIN_DROPPED) headers.delete(name);
  }
  const init: CacheRequestInit = {
    ...request.init,
    method: request.method,
    headers,
    cache: request.mode,
    redirect: "follow",
  };
  const signal = signalOf(request);
  if (signal !== undefined) init.signal = signal;
  if (request.expireAfter !== undefined) init.expireAfter = request.expireAfter;
  return [target.href, init];
}
