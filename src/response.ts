/**
 * {@linkcode CachedResponse}: a real `Response` that also tells where it came from.
 *
 * @module
 */

import type { CacheEntry } from "./record.ts";
import {
  appendAll,
  builtBare,
  CLONE_SHARES_BYTES,
  FETCHED_TYPE,
  storedBody,
  takeUnread,
} from "./served_body.ts";

/** What every Response constructor accepts as a status text (Fetch: reason-phrase, as a ByteString). */
const REASON_PHRASE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Cache metadata of a response. */
export interface CacheInfo {
  /** Whether the response was served from the cache (also when it was revalidated with a 304). */
  fromCache: boolean;
  /** Whether a stored response was confirmed by the origin (304) before it was served. */
  revalidated: boolean;
  /**
   * The key the response is stored under (a Vary variant's own key), else the request's cache key;
   * `undefined` when the cache was bypassed.
   */
  cacheKey: string | undefined;
  /** When the stored entry was created, if there is one. */
  createdAt: Date | undefined;
  /** When the stored entry stops being fresh, if there is one and it ever does. */
  expiresAt: Date | undefined;
  /** The clock that decides `isExpired` (epoch ms). */
  now: () => number;
}

const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);

/** Decodes bodies as `Response.text()` does (UTF-8, a byte order mark dropped). */
const DECODER = new TextDecoder();

/** UTF-8 text of `bytes`, as `Response.text()` reads it. */
function decode(bytes: Uint8Array): string {
  return DECODER.decode(bytes);
}

/** The buffer of bytes that fill it. */
function bufferOf(bytes: Uint8Array<ArrayBuffer>): ArrayBuffer {
  return bytes.buffer;
}

const STATUS_TEXT: Record<number, string> = {
  206: "Partial Content",
  304: "Not Modified",
  416: "Range Not Satisfiable",
};

/**
 * Stored header fields as a session serves them, as pairs (a `Response` built from pairs copies
 * them once, from a `Headers` twice): with `Age` set to the current age (RFC 9111 §5.1), and
 * without `Set-Cookie` unless the session keeps it. (A session that keeps `Set-Cookie` may have
 * stored it on the same backend: another session must not hand it out.)
 *
 * @param fields The stored fields.
 * @param age The current age in seconds.
 * @param setCookie Whether the session keeps `Set-Cookie` (`storeSetCookie`).
 * @returns A new list.
 */
export function servedFields(
  fields: [string, string][],
  age: number,
  setCookie: boolean,
): [string, string][] {
  const out: [string, string][] = [];
  for (const field of fields) {
    const name = field[0];
    if (name !== "age" && (setCookie || (name !== "set-cookie" && name !== "set-cookie2"))) out.push(field);
  }
  out.push(["age", String(age)]);
  return out;
}

/**
 * Where a response came from: the `url`, `redirected` and `type` it is served with. `type` is
 * that of the network response it wraps; one served from the cache (which kept no type) has the
 * type `fetch` gives on the runtime ({@linkcode FETCHED_TYPE}).
 */
type Source = {
  readonly url: string;
  readonly redirected: boolean;
  readonly type?: ResponseType | undefined;
};

/** The network response that the next `CachedResponse` built takes over ({@linkcode AdoptingResponse}). */
let adopting: Response | undefined;

/**
 * `Response`, or the response in {@linkcode adopting} taken over whole: a status outside 200–599
 * (999, say, or an opaque redirect's 0) lives only in the response fetch made, which the
 * `Response` constructor cannot build, and which `Deno.serve` and `Bun.serve` read from the
 * response itself, not from its `status` getter.
 */
class AdoptingResponse extends Response {
  constructor(body?: BodyInit | null, init?: ResponseInit) {
    const adopted = adopting;
    if (adopted !== undefined) {
      adopting = undefined;
      return Object.setPrototypeOf(adopted, new.target.prototype);
    }
    super(body, init);
  }
}

/**
 * A `Response` with cache metadata. It is a genuine `Response` (`instanceof Response`, a body that
 * can be read once, `clone()`), and its `url` and `redirected` are those of the original response.
 *
 * @example Tell a hit from a miss
 * ```ts
 * import { CachedSession } from "../mod.ts";
 * const session = new CachedSession({
 *   fetch: () => Promise.resolve(new Response("hi", { headers: { "cache-control": "max-age=60" } })),
 * });
 * const first = await session.fetch("http://127.0.0.1/hello");
 * await first.text();
 * const second = await session.fetch("http://127.0.0.1/hello");
 * console.log(first.fromCache, second.fromCache); // false true
 * ```
 */
export class CachedResponse extends Response {
  #source: Source;
  #info: CacheInfo;
  /**
   * The status text, when the response was built without it: bare ({@linkcode builtBare}), or
   * one that the `Response` constructor refuses.
   */
  #statusText: string | undefined;
  /** The body's stream as built, when it was built with one: its whole may be taken unread. */
  #stream: ReadableStream<Uint8Array> | undefined;
  /** The bytes it was built from, where its clone would share its buffer ({@linkcode CLONE_SHARES_BYTES}). */
  #bytes: Uint8Array<ArrayBuffer> | undefined;

  /**
   * Creates a response. Most code gets one from `CachedSession.fetch` instead.
   *
   * @param body The body.
   * @param init Status, status text and headers.
   * @param source `url`, `redirected` and `type` of the original response, read when asked for
   *   (Deno parses a fetch response's `url` anew on every read).
   * @param info Cache metadata.
   */
  constructor(
    body: BodyInit | null,
    init: ResponseInit,
    source: Source,
    info: CacheInfo,
  ) {
    const bare = builtBare(body, init);
    // Node's fetch gives a reason phrase as UTF-8 ("OK ✓", or U+FFFD for a Latin-1 byte), which
    // its own Response constructor refuses (not a ByteString): that one is kept aside too.
    const aside = bare || (init.statusText !== undefined && !REASON_PHRASE.test(init.statusText));
    super(
      NULL_BODY_STATUS.has(init.status ?? 200) ? null : body,
      bare ? undefined : aside ? { ...init, statusText: "" } : init,
    );
    if (bare) appendAll(this.headers, init.headers);
    if (aside) this.#statusText = init.statusText ?? "";
    if (body instanceof ReadableStream) this.#stream = body;
    else if (CLONE_SHARES_BYTES && body instanceof Uint8Array) this.#bytes = body as Uint8Array<ArrayBuffer>;
    this.#source = source;
    this.#info = info;
  }

  /**
   * Builds the response for a stored entry.
   *
   * @param entry The stored entry.
   * @param options The cache key, the clock for `isExpired` (`Date.now` when not given),
   *   overrides for the served form, whether the body's buffer is `owned` by this response
   *   alone, and whether the body is not a plain hit's (`byteStream`: a byte stream where the
   *   runtime gives one, {@linkcode storedBody}).
   * @returns The response.
   */
  static fromEntry(
    entry: CacheEntry,
    options: {
      cacheKey: string;
      clock?: () => number;
      headers?: HeadersInit;
      body?: BodyInit | null;
      status?: number | undefined;
      url?: string;
      redirected?: boolean;
      revalidated?: boolean;
      owned?: boolean;
      byteStream?: boolean;
    },
  ): CachedResponse {
    const { status } = options;
    const info = new EntryInfo(entry, options);
    // A stored HEAD response has no body, as it had none when it came (its length is the GET's).
    const body = options.body !== undefined ? options.body : entry.method === "HEAD" ? null : entry.body;
    return new CachedResponse(
      storedBody(body, options.owned, options.byteStream),
      {
        status: status ?? entry.status,
        statusText: status === undefined ? entry.statusText : STATUS_TEXT[status] ?? "",
        headers: options.headers ?? entry.headers,
      },
      info,
      info,
    );
  }

  /**
   * Wraps a network response.
   *
   * @param response The response from the network.
   * @param body The body to give the caller (the network body, or a branch of it).
   * @param info Cache metadata.
   * @returns The response.
   */
  static fromNetwork(response: Response, body: BodyInit | null, info: CacheInfo): CachedResponse {
    const { status, statusText, headers, type } = response;
    return CachedResponse.#withStatus(body, { status, statusText, headers, type }, response, info, response);
  }

  /**
   * Builds a response with any status fetch may hand over, also one the Response constructor
   * refuses (outside 200–599, such as an opaque redirect's 0): such a status is passed on as it
   * is, with its `type` (`"opaqueredirect"`), rather than fail a request that plain fetch answered.
   */
  static #withStatus(
    body: BodyInit | null,
    init: { status: number; statusText: string; headers: HeadersInit; type: ResponseType },
    source: Source,
    info: CacheInfo,
    native?: Response,
  ): CachedResponse {
    const { status, statusText, headers, type } = init;
    if (status >= 200 && status <= 599) return new CachedResponse(body, init, source, info);
    // The response fetch made, served with its own body, is taken over: its status is its own.
    // (Not one with fields of its own, which would hide the cache's: a hand-made stand-in; nor
    // another session's CachedResponse, which is built once.)
    if (
      native !== undefined && body === native.body && native.status === status &&
      Object.getPrototypeOf(native) === Response.prototype && Object.getOwnPropertyNames(native).length === 0
    ) {
      // (Its source is itself when it is fetch's own (`fromNetwork`): read now, as a plain
      // `Response`, not through this class's getters, which would ask themselves.)
      const own = source === native ? { url: native.url, redirected: native.redirected, type } : source;
      adopting = native;
      return new CachedResponse(body, {}, own, info);
    }
    const unusual = new CachedResponse(body, { statusText, headers }, source, info);
    return Object.defineProperties(unusual, {
      status: { value: status },
      ok: { value: false },
      type: { value: type },
    });
  }

  /**
   * Marks a response as reached through redirects that the session followed: its `url` stays
   * its own, `redirected` becomes `true`, as `fetch` gives them.
   *
   * @param response A response the session has not handed out yet.
   * @returns The same response.
   */
  static reachedByRedirect(response: CachedResponse): CachedResponse {
    response.#source = { url: response.#source.url, redirected: true, type: response.#source.type };
    return response;
  }

  /** The URL of the original response (after redirects), without a fragment, as fetch gives it. */
  override get url(): string {
    const url = this.#source.url;
    // (Bun's fetch keeps the request's fragment in its response's url.)
    const hash = url.indexOf("#");
    return hash === -1 ? url : url.slice(0, hash);
  }

  /**
   * The type of the original response, as fetch gave it (`"basic"` on Deno and Node, `"default"`
   * on Bun); a response served from the cache has the type fetch gives on the runtime.
   */
  override get type(): ResponseType {
    return this.#source.type ?? FETCHED_TYPE;
  }

  /** Whether the original response was reached through redirects. */
  override get redirected(): boolean {
    return this.#source.redirected;
  }

  /** The status text of the original response. */
  override get statusText(): string {
    return this.#statusText ?? super.statusText;
  }

  /** Whether the response came from the cache. */
  get fromCache(): boolean {
    return this.#info.fromCache;
  }

  /** Whether a stored response was revalidated with the origin before it was served. */
  get revalidated(): boolean {
    return this.#info.revalidated;
  }

  /**
   * The key the response is stored under, as `cache.get()` and `cache.delete()` take it: a `Vary`
   * variant's own key, a `HEAD` response's own; else the request's cache key (a response not
   * stored). `undefined` when the cache was bypassed.
   */
  get cacheKey(): string | undefined {
    return this.#info.cacheKey;
  }

  /** When the stored entry was created, or `undefined` when nothing was stored. */
  get createdAt(): Date | undefined {
    return this.#info.createdAt;
  }

  /** When the entry stops being fresh; `undefined` when it never does or nothing was stored. */
  get expiresAt(): Date | undefined {
    return this.#info.expiresAt;
  }

  /** Whether the entry is no longer fresh, now. */
  get isExpired(): boolean {
    const expiresAt = this.#info.expiresAt;
    return expiresAt !== undefined && expiresAt.getTime() <= this.#info.now();
  }

  /**
   * Reads the body whole. A body nobody has started to read is taken whole, not through its
   * stream: on Node a hit's straight from the bytes it was built around (a 100 KB body five times
   * as fast, 1 KB twice), and on every runtime a streamed miss's chunks as the cache reads them
   * (measured side by side, a 1 KB miss on Node costs 27–30% over plain fetch instead of 35–39%,
   * a chunked 100 KB one on Deno 21–23% instead of 33–41%). The response ends up as if the stream
   * had been read: `bodyUsed`, its body locked. `bytes()`, `text()` and `json()` do the same;
   * `blob()` and `formData()` read the stream.
   *
   * @returns The body's bytes.
   * @throws {TypeError} When the body has already been read.
   */
  override arrayBuffer(): Promise<ArrayBuffer> {
    const unread = this.#takeUnread();
    if (unread === undefined) return super.arrayBuffer();
    return unread instanceof Uint8Array ? Promise.resolve(unread.slice().buffer) : unread.then(bufferOf);
  }

  /**
   * Reads the body whole, as {@linkcode arrayBuffer} does.
   *
   * @returns The body's bytes.
   * @throws {TypeError} When the body has already been read.
   */
  override bytes(): Promise<Uint8Array<ArrayBuffer>> {
    const unread = this.#takeUnread();
    if (unread === undefined) return super.bytes();
    return unread instanceof Uint8Array ? Promise.resolve(unread.slice()) : unread;
  }

  /**
   * Reads the body whole as UTF-8 text, as {@linkcode arrayBuffer} does (a hit's on Node without
   * a copy).
   *
   * @returns The text.
   * @throws {TypeError} When the body has already been read.
   */
  override text(): Promise<string> {
    const unread = this.#takeUnread();
    if (unread === undefined) return super.text();
    return unread instanceof Uint8Array ? Promise.resolve(decode(unread)) : unread.then(decode);
  }

  /**
   * Reads the body whole as JSON, as {@linkcode text} does.
   *
   * @returns The parsed value.
   * @throws {TypeError} When the body has already been read.
   * @throws {SyntaxError} When the body is not JSON.
   */
  // The platform's own signature: `unknown` here would break callers that read the result.
  // deno-lint-ignore no-explicit-any
  override json(): Promise<any> {
    const unread = this.#takeUnread();
    if (unread === undefined) return super.json();
    return Promise.resolve(unread).then((bytes) => JSON.parse(decode(bytes)));
  }

  /**
   * Reads the body whole as a `Blob` of the response's MIME type. Bun leaves the type of a
   * streamed body's `Blob` empty, whatever `Content-Type` says: such a `Blob` is typed by a
   * `Response` of it, so each runtime types it its own way.
   *
   * @returns The body.
   * @throws {TypeError} When the body has already been read.
   */
  // (Bun types `Response.blob()` with its own `Blob`: the platform's signature keeps this a Response.)
  override async blob(): ReturnType<Response["blob"]> {
    this.#bytes = undefined; // (read whole: no clone is made any more)
    const blob = await super.blob();
    const type = this.headers.get("content-type");
    if (blob.type !== "" || type === null) return blob;
    return await new Response(blob, { headers: { "content-type": type } }).blob();
  }

  /**
   * The whole body, when nobody has started to read it and it can be taken unread. Called as the
   * body is read whole: no clone is made from then on, and a response kept after its body was read
   * no longer keeps the bytes it was built from (a view into a whole stored record).
   */
  #takeUnread(): ReturnType<typeof takeUnread> {
    this.#bytes = undefined;
    const stream = this.#stream;
    if (stream === undefined || stream.locked || this.bodyUsed) return undefined;
    return takeUnread(stream);
  }

  /**
   * Clones the response, metadata included.
   *
   * @returns The copy.
   * @throws {TypeError} When the body has already been read.
   */
  override clone(): CachedResponse {
    const copy = super.clone();
    // This response's own status: the copy's is 200 when this one's was refused (#withStatus).
    // Built from bytes where a clone shares them: the constructor copies them, its own to read.
    return CachedResponse.#withStatus(
      this.#bytes ?? copy.body,
      { status: this.status, statusText: this.statusText, headers: copy.headers, type: this.type },
      this.#source,
      this.#info,
      copy,
    );
  }
}

// `super()` in CachedResponse calls AdoptingResponse (which builds a `Response`, or takes one
// over); its types and docs say `Response`, as the outside sees it.
Object.setPrototypeOf(CachedResponse, AdoptingResponse);

/**
 * What a response served from a stored entry tells of its source and of the cache, in one
 * object, its dates made when first asked for (most hits never read them). It holds the entry's
 * numbers, not the entry, so a response kept around does not keep the record's bytes alive.
 */
class EntryInfo implements CacheInfo {
  readonly fromCache = true;
  readonly url: string;
  readonly redirected: boolean;
  readonly revalidated: boolean;
  readonly cacheKey: string;
  readonly now: () => number;
  #created: number;
  #expires: number;
  #createdAt: Date | undefined;
  #expiresAt: Date | undefined;

  constructor(
    entry: CacheEntry,
    options: {
      cacheKey: string;
      clock?: () => number;
      url?: string;
      redirected?: boolean;
      revalidated?: boolean;
    },
  ) {
    this.url = options.url ?? entry.url;
    this.redirected = options.redirected ?? entry.redirected;
    this.revalidated = options.revalidated ?? false;
    this.cacheKey = options.cacheKey;
    this.now = options.clock ?? Date.now;
    this.#created = entry.createdAt;
    this.#expires = entry.expiresAt;
  }

  get createdAt(): Date {
    return this.#createdAt ??= new Date(this.#created);
  }

  get expiresAt(): Date | undefined {
    return Number.isFinite(this.#expires) ? this.#expiresAt ??= new Date(this.#expires) : undefined;
  }
}
