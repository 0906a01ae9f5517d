/**
 * The session against a model of its origin, on every backend: random runs of requests (GET, of a
 * range or whole, and HEAD; each `cache` mode; request `Cache-Control` directives; one at a time
 * and in concurrent bursts, identical ones among them; read whole, cancelled after the first chunk
 * or aborted by the caller; anonymous or by one of two users, signed in by `Authorization` or by
 * `Cookie`; for one of two teams (`X-Team`) or none, which the sessions key by (`matchHeaders`) in
 * half the runs; some naming in `If-None-Match` a version their caller holds; some with an
 * `expireAfter` of their own), origin changes, POSTs, deletes through the cache's API, outages of
 * the origin (bodies that break off midway among them) and of the store, and clock moves, over URLs
 * whose responses follow different caching rules (one whose `Vary` comes and goes from one version
 * to the next), and two that redirect (one to a URL whose responses vary), with bodies streamed
 * with or without a declared length; in a private or a shared cache, with or without
 * `staleIfError`, `expireAfter`, `urlsExpireAfter` and `staleWhileRevalidate`, following the
 * responses' caching rules or not (`cacheControl`), storing the cookies each answer sets or not
 * (`storeSetCookie`), coalescing identical requests or not, through one session or through two that
 * share the cache (two handles on one store, as two processes would have; one may be shared and the
 * other private), on a backend with or without tight bounds (bodies too large to store, constant
 * eviction). Most runs keep to a few of the URLs, so that what a run stores is asked for again as
 * the clock moves. After every response it checks what a user of any cache must be able to rely on:
 *
 * - it is the response of the URL asked for, of the `Vary` variant the request selects, and of the
 *   user (and, when the sessions match it, the team) who asked (the origin answers each with a
 *   body of its own, without `Vary`);
 * - a shared cache that follows the rules never answers a request with `Authorization` from what
 *   it stored, unless the response allowed it (`public`, `s-maxage`, `must-revalidate`);
 * - no secret reaches the store: neither the credentials nor an ignored query parameter (an API
 *   key some URLs carry) is in any key or record;
 * - a response from the network, or one the origin has just confirmed with a 304, carries the
 *   cookie the origin set with it, and one from the cache none, unless its session stores cookies
 *   (then the one set with the answer it serves);
 * - its body (or the range asked for) is byte for byte what the origin sent for the version its
 *   headers name;
 * - its age is true (the origin sent or confirmed that version exactly `Age` seconds ago, less
 *   what an upstream cache had added; a response from the network was sent just now) and within
 *   what its rules, the request's directives, its mode, the request's and the session's
 *   expiration options, the session's `staleWhileRevalidate` and, while the origin is down,
 *   `staleIfError` allow;
 * - a `304` answers only a caller that named a version, and names that version;
 * - a request whose expiration is `DO_NOT_CACHE` (its own, or its URL's) is not answered from the
 *   cache;
 * - nothing sent before a successful POST to its URL (or to where its redirect leads, or to a URL
 *   whose response's `Location` names either), or before a delete of it through the cache's API,
 *   is served after it, even when the store was down then (in the process that made the delete);
 * - a request fails only as plain fetch would, with the origin's own failure or its own caller's
 *   abort (never the store's), and a body breaks off only on its way from the origin, never from
 *   the cache;
 * - with the rules, a response that may not be stored reaches the origin every time, and is never
 *   stored.
 *
 * @module
 */

import { equal, ok } from "node:assert/strict";
import process from "node:process";
import fc from "fast-check";
import { CacheBackend, type Storage } from "../backends/base.ts";
import { type CachedResponse, CachedSession, DO_NOT_CACHE, EXPIRE_IMMEDIATELY } from "../mod.ts";
import { BACKENDS, dispose, type Limits, storeDown, Switched } from "./_fixtures.ts";
import { Clock, origin } from "./_origin.ts";

/** How a URL's responses may be reused. */
interface Rules {
  headers: (clock: Clock) => Record<string, string>;
  /** Freshness lifetime in seconds, in a private and in a shared cache (0: not stored there, or revalidated). */
  fresh: [number, number];
  /** Seconds past it that a stale response may be served while it is refreshed. */
  staleWhileRevalidate?: number;
  /** The response forbids serving it stale (`must-revalidate`, `no-cache`; `s-maxage` in a shared cache). */
  revalidate?: "always" | "shared";
  /** Its responses vary by `Accept-Language`: all of them, or those of odd versions only. */
  vary?: "always" | "odd versions";
  /** May not be stored at all: every request must reach the origin. */
  noStore?: boolean;
  /** Seconds an upstream cache held it before the origin sent it on (its `Age`, RFC 9111 §5.1). */
  upstreamAge?: number;
  /** Its freshness is a guess (heuristic): the session's `expireAfter` comes first. */
  guessed?: boolean;
  /**
   * A shared cache may store it for a request with `Authorization` (RFC 9111 §3.5: `public`,
   * `s-maxage` or `must-revalidate`).
   */
  authorized?: boolean;
}

const RULES: Record<string, Rules> = {
  fresh: { headers: () => ({ "cache-control": "max-age=60" }), fresh: [60, 60] },
  varied: { headers: () => ({ "cache-control": "max-age=60" }), fresh: [60, 60], vary: "always" },
  // A resource whose Vary comes and goes as it changes: variants stored for one version meet a
  // version that has none, and the other way round.
  "shifting-vary": {
    headers: () => ({ "cache-control": "max-age=60" }),
    fresh: [60, 60],
    vary: "odd versions",
  },
  "no-store": { headers: () => ({ "cache-control": "no-store" }), fresh: [0, 0], noStore: true },
  "no-cache": { headers: () => ({ "cache-control": "no-cache" }), fresh: [0, 0], revalidate: "always" },
  "must-revalidate": {
    headers: () => ({ "cache-control": "max-age=5, must-revalidate" }),
    fresh: [5, 5],
    revalidate: "always",
    authorized: true,
  },
  public: { headers: () => ({ "cache-control": "public, max-age=60" }), fresh: [60, 60], authorized: true },
  private: { headers: () => ({ "cache-control": "private, max-age=60" }), fresh: [60, 0] },
  // Arrives already 20 s old: fresh for 40 s more, and its age counts on from 20.
  aged: { headers: () => ({ "cache-control": "max-age=60", age: "20" }), fresh: [60, 60], upstreamAge: 20 },
  "s-maxage": {
    headers: () => ({ "cache-control": "max-age=5, s-maxage=60" }),
    fresh: [5, 60],
    revalidate: "shared",
    authorized: true,
  },
  expires: { headers: (clock) => ({ expires: new Date(clock.now + 30_000).toUTCString() }), fresh: [30, 30] },
  swr: {
    headers: () => ({ "cache-control": "max-age=10, stale-while-revalidate=30" }),
    fresh: [10, 10],
    staleWhileRevalidate: 30,
  },
  // Heuristic freshness: a tenth of the 100 s since Last-Modified.
  heuristic: {
    headers: (clock) => ({ "last-modified": new Date(clock.now - 100_000).toUTCString() }),
    fresh: [10, 10],
    guessed: true,
  },
};
/**
 * URLs the origin redirects (fetch follows, and hands over the response of where it led); two lead
 * to one place, so that one alias points to both.
 */
const REDIRECTS: Record<string, string> = { moved: "fresh", transferred: "fresh", relocated: "varied" };
const URLS = [...Object.keys(RULES), ...Object.keys(REDIRECTS)];

/** The URL whose response a request for `url` gets. */
function resourceOf(url: string): string {
  return REDIRECTS[url] ?? url;
}

/**
 * Body lengths: empty, small, and, for one URL in four or so, past 64 KiB (a record kept decoded
 * while stored, two chunks in Deno KV); more large bodies would only swell the test's memory.
 */
const PADDING = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(0, 700) },
  { weight: 1, arbitrary: fc.constant(100_000) },
);
const LANGUAGES = ["en", "fr", undefined];
/**
 * Who asks: nobody in particular, or a user signed in by `Authorization` (alice) or by `Cookie`
 * (bob). The origin tells them apart by those fields alone.
 */
const USERS = [undefined, "alice", "bob"] as const;
type User = typeof USERS[number];
const TEAMS = [undefined, "red", "blue"] as const;
type Team = typeof TEAMS[number];

/** A query parameter some URLs carry, which the sessions ignore (`ignoredParameters`): a secret. */
const API_KEY = "api_key";
/** What no key or record may hold: the API keys' values and the users' credentials. */
const SECRETS = ["s3cret", "Bearer alice", "session=bob"];

/** The request fields that sign `user` in. */
function credentials(user: User): Record<string, string> {
  if (user === "alice") return { authorization: "Bearer alice" };
  return user === "bob" ? { cookie: "session=bob" } : {};
}

/** The user a request signs in as, as the origin reads it. */
function userOf(headers: Headers): string {
  const bearer = headers.get("authorization")?.match(/^Bearer (\w+)$/)?.[1];
  return bearer ?? headers.get("cookie")?.match(/^session=(\w+)$/)?.[1] ?? "-";
}

/** A request: GET (perhaps of a range) or HEAD, with a `cache` mode or the default one. */
interface Asked {
  /** Which session sends it: the first, or the second when the run has two. */
  via: number;
  url: string;
  lang: string | undefined;
  user: User;
  /**
   * The team the request says it works for (`X-Team`). With `matchHeaders: ["x-team"]` the origin
   * answers each team with a body of its own (without `Vary`); without it, it ignores the field.
   */
  team: Team;
  /** Whether the URL carries an API key (`?api_key=…`), which must not change what it gets. */
  keyed: boolean;
  head: boolean;
  /** Whether it asks for a redirect itself (`redirect: "manual"`) rather than where it leads. */
  manual: boolean;
  mode: RequestCache;
  /** The request's own `Cache-Control`. */
  directive: string | undefined;
  /** The first byte asked for and how many. */
  range: [number, number] | undefined;
  /**
   * The version the caller holds already and names in `If-None-Match`, if it does: the URL's
   * current one or the one before it (the cache may answer `304` only for the one it would serve).
   */
  holds: "current" | "previous" | undefined;
  /**
   * How the caller stops early, if it does: it cancels the body after its first chunk, or aborts
   * the request a moment after sending it (while the origin sends the body, or after).
   */
  stops: "cancel" | "abort" | undefined;
  /**
   * The request's own `expireAfter`, in seconds, or `DO_NOT_CACHE`: how long what the origin sends
   * it stays fresh once stored, whatever the response's own rules say.
   */
  expireAfter: number | undefined;
}
/** Requests are sent one at a time or several at once (identical ones may share one origin request). */
type Command =
  | { kind: "requests"; requests: Asked[] }
  | { kind: "change"; url: string }
  /** A POST to `url`, whose response may point (`Location`) at another URL: both are invalidated. */
  | { kind: "post"; via: number; url: string; user: User; location: string | undefined }
  /**
   * A delete through the cache's API: what is stored for a URL (`deleteUrls`, given the URL with
   * or without the API key the sessions ignore), or all of it (`clear`).
   */
  | { kind: "delete"; via: number; url: string | undefined; keyed: boolean }
  | { kind: "outage"; how: Outage | undefined }
  /** The store is down (every call to it fails) for the next `steps` commands, then back with what it held. */
  | { kind: "store"; steps: number }
  | { kind: "tick"; seconds: number };
/**
 * How the origin fails while it is down: every request rejects, it answers 503, or it sends the
 * head of its response and part of the body, and then the connection breaks.
 */
type Outage = "error" | "503" | "cut";

const url = fc.constantFrom(...URLS);
const via = fc.nat(1);
/**
 * A value of `arbitrary` one time in `odds`, `undefined` the others. (Not `fc.option`, whose `freq`
 * is the odds of `undefined`: with it, most requests had a directive and a range, and a run seldom
 * served from the cache what it had stored.)
 */
function oneIn<T>(odds: number, arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> {
  return fc.oneof({ weight: odds - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary });
}
const stops = oneIn(5, fc.constantFrom<Asked["stops"]>("cancel", "abort"));
/** Whether the caller holds a version already: one in `odds`. */
const holds = (odds: number) => oneIn(odds, fc.constantFrom<Asked["holds"]>("current", "previous"));
/** A joiner's team: the first request's (`"same"`), or one time in four a team of its own. */
const teamOfJoiner = fc.oneof(
  { weight: 3, arbitrary: fc.constant("same" as const) },
  { weight: 1, arbitrary: fc.constantFrom(...TEAMS) },
);
/** A request's own `expireAfter`, for one request in three. */
const expireAfterOfRequest = oneIn(3, fc.constantFrom(EXPIRE_IMMEDIATELY, 5, 100, DO_NOT_CACHE));
const asked: fc.Arbitrary<Asked> = fc.record({
  via,
  url,
  lang: fc.constantFrom(...LANGUAGES),
  user: fc.constantFrom(...USERS),
  team: fc.constantFrom(...TEAMS),
  keyed: fc.boolean(),
  head: oneIn(3, fc.constant(true)).map(Boolean),
  manual: oneIn(6, fc.constant(true)).map(Boolean),
  mode: fc.oneof(
    { weight: 6, arbitrary: fc.constant<RequestCache>("default") },
    {
      weight: 1,
      arbitrary: fc.constantFrom<RequestCache>(
        "no-cache",
        "reload",
        "force-cache",
        "only-if-cached",
        "no-store",
      ),
    },
  ),
  directive: oneIn(
    4,
    fc.constantFrom(
      "no-cache",
      "max-age=0",
      "max-age=8",
      "max-age=30",
      "min-fresh=4",
      "min-fresh=30",
      "max-stale=20",
      "max-stale",
      "only-if-cached",
    ),
  ),
  range: oneIn(4, fc.tuple(fc.constantFrom(0, 5, 60, 1_000, 99_000), fc.constantFrom(1, 10, 100_000))),
  holds: holds(6),
  stops,
  expireAfter: expireAfterOfRequest,
})
  // A mode other than the default decides alone: with `only-if-cached` beside it the request contradicts itself.
  .map((asked) => asked.directive === "only-if-cached" ? { ...asked, mode: "default" } : asked);
const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant("requests"),
      requests: fc.oneof(
        fc.array(asked, { minLength: 1, maxLength: 5 }),
        // The same request several times at once, through either session, some callers stopping
        // early, some holding a version already, some with an `expireAfter` of their own.
        fc.tuple(
          asked,
          fc.array(
            fc.record({ via, stops, holds: holds(3), expireAfter: expireAfterOfRequest, team: teamOfJoiner }),
            {
              minLength: 1,
              maxLength: 4,
            },
          ),
        )
          .map(([first, others]) => [
            first,
            ...others.map(({ team, ...other }) => ({
              ...first,
              ...other,
              team: team === "same" ? first.team : team,
            })),
          ]),
      ),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("change"), url }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("post"),
      via,
      url,
      user: fc.constantFrom(...USERS),
      location: oneIn(2, url),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("delete"),
      via,
      url: fc.option(url, { freq: 4, nil: undefined }),
      keyed: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("outage"),
      how: fc.constantFrom<Outage | undefined>("error", "503", "cut", undefined),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("store"), steps: fc.integer({ min: 1, max: 3 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant("tick"), seconds: fc.constantFrom(1, 4, 6, 11, 31, 45, 61) }),
  },
);
/** The options of a run's sessions that the model must know (each session is shared or not on its own). */
const sessionOptions = fc.record({
  /** `staleIfError`, in seconds. */
  staleIfError: fc.constantFrom(0, 20),
  /** `expireAfter`, in seconds, for a response whose freshness is not explicit. */
  expireAfter: fc.constantFrom(undefined, 15),
  /**
   * `urlsExpireAfter` for the URL whose freshness is a guess: it comes first (and with
   * `DO_NOT_CACHE`, requests for it bypass the cache).
   */
  heuristicExpireAfter: fc.constantFrom(undefined, 25, DO_NOT_CACHE),
  /** `staleWhileRevalidate`, in seconds, for a response that sets none of its own. */
  staleWhileRevalidate: fc.constantFrom(0, 10),
  /** Whether they key requests by `X-Team` too (`matchHeaders`), for which the origin answers. */
  matchTeams: fc.boolean(),
  /**
   * Whether they follow the responses' caching rules (`cacheControl`, one run in four not):
   * without them every response is stored, `no-store`, `private` and a signed-in user's included,
   * for the expiration the options give it, and only the keys keep users apart.
   */
  cacheControl: oneIn(4, fc.constant(false)).map((off) => off === undefined),
  /**
   * What their `fetch` does with a redirect asked for with `redirect: "manual"`: gives it (two runs
   * in three), and the session follows it step by step, each step cached by its own headers; or
   * follows it whatever it is asked (one run in six), as a custom one may, or hides it behind an
   * opaque redirect (one in six), as a browser's does, and the session lets it follow. The session
   * then never sees a redirect, only where it led, and keeps that under the URL asked for.
   */
  redirects: fc.constantFrom<Redirects>("given", "given", "given", "given", "followed", "hidden"),
});
type SessionOptions = typeof sessionOptions extends fc.Arbitrary<infer T> ? T : never;
type Redirects = "given" | "followed" | "hidden";

/** A session's options as {@linkcode CachedSession} takes them. */
function optionsOf(
  { expireAfter, heuristicExpireAfter, matchTeams, redirects: _, ...options }: SessionOptions,
) {
  return {
    ...options,
    matchHeaders: matchTeams ? ["x-team"] : [],
    ...(expireAfter === undefined ? {} : { expireAfter }),
    ...(heuristicExpireAfter === undefined
      ? {}
      : { urlsExpireAfter: { "origin.test/heuristic*": heuristicExpireAfter } }),
  };
}

const run = fc.record({
  /**
   * Whether each session is a shared cache: the second one (when there are two) may be shared
   * while the first is private, or the other way round, over one store.
   */
  shared: fc.tuple(fc.boolean(), fc.boolean()),
  /** Whether each session stores `Set-Cookie` (`storeSetCookie`, one session in four). */
  storeSetCookie: fc.tuple(oneIn(4, fc.constant(true)), oneIn(4, fc.constant(true))).map((on) =>
    on.map(Boolean)
  ),
  options: sessionOptions,
  /** Whether identical requests at once share one origin request (`coalesceRequests`, on by default). */
  coalesce: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, {
    weight: 1,
    arbitrary: fc.constant(false),
  }),
  sessions: fc.constantFrom(1, 2),
  /**
   * The backend's own bounds: none, or tight ones (a 100 KB body is too large to store and streams
   * through; memory and SQLite keep four records and evict the rest).
   */
  limits: fc.constantFrom<Limits>({}, { maxEntrySize: 50_000, maxEntries: 4 }),
  padding: fc.record(Object.fromEntries(URLS.map((name) => [name, PADDING]))),
  /** Whether the origin declares each URL's body length (`Content-Length`) or just streams it. */
  declared: fc.record(Object.fromEntries(URLS.map((name) => [name, fc.boolean()]))),
  commands: fc.array(command, { minLength: 5, maxLength: 30 }),
  /**
   * The URLs the run's commands name. Most runs keep to one to three of them, so that a URL is
   * asked for again and again as the clock moves (among all sixteen, a run asks for each about once,
   * and what it stored is seldom served again).
   */
  focus: fc.oneof(
    { weight: 3, arbitrary: fc.shuffledSubarray(URLS, { minLength: 1, maxLength: 3 }) },
    { weight: 1, arbitrary: fc.constant(URLS) },
  ),
})
  .map(({ focus, commands, ...run }) => ({ ...run, commands: commands.map((step) => within(focus, step)) }));

/** A command whose URLs are taken among `focus`, each URL always for the same one. */
function within(focus: string[], step: Command): Command {
  const pick = (url: string) => focus[URLS.indexOf(url) % focus.length]!;
  switch (step.kind) {
    case "requests":
      return { ...step, requests: step.requests.map((asked) => ({ ...asked, url: pick(asked.url) })) };
    case "change":
      return { ...step, url: pick(step.url) };
    case "post":
      return { ...step, url: pick(step.url), location: step.location && pick(step.location) };
    case "delete":
      return { ...step, url: step.url && pick(step.url) };
    default:
      return step;
  }
}

/**
 * The field by which the origin learns a request's own `expireAfter`, which decides how long what
 * it answers stays fresh. Identical requests share one origin request and the response stored is
 * that one's, so the origin sees the `expireAfter` that applies.
 */
const EXPIRE_AFTER = "x-expire-after";

/**
 * One answer of the origin: when, to a request with what `expireAfter` of its own, and the cookie
 * it set (each answer sets one of its own, as a site that tracks visits does).
 */
interface Sent {
  at: number;
  expireAfter: number | undefined;
  cookie: string;
}

/** The origin: a version per URL, and when it sent (or confirmed with a 304) each version of each variant. */
class Model {
  readonly clock = new Clock();
  readonly versions = new Map<string, number>(URLS.map((url) => [url, 1]));
  /**
   * `url|variant|user|version` → when the origin sent it, in ms, each time with the `expireAfter`
   * of the request it answered, if that request had one of its own.
   */
  readonly sent = new Map<string, Sent[]>();
  /** Requests the origin received, by URL. */
  readonly calls = new Map<string, number>();
  /**
   * URL → when a POST to it last succeeded, or it was deleted, as each handle on the store knows
   * it: nothing the origin sent before may be served after. An invalidation that could not reach
   * the store (it was down) is known to its own handle alone, as to a process of its own.
   */
  readonly invalidated = [new Map<string, number>(), new Map<string, number>()];

  /** Invalidates URLs now, as the handles given know. */
  invalidate(urls: string[], handles: number[]): void {
    for (const handle of handles) for (const url of urls) this.invalidated[handle]!.set(url, this.clock.now);
  }
  down: Outage | undefined;
  /** Bodies that broke off on their way to the caller, as the origin cut them short. */
  brokeOff = 0;
  /** Requests and bodies that failed as their callers aborted them. */
  aborted = 0;
  /** Bodies the origin cut that are still on their way (not yet broken off, nor cancelled). */
  breaking = 0;
  /**
   * Whether the origin was failing when the requests being checked were sent: down, or with a
   * cut body still on its way, which a request may wait for (coalesced) and share its failure.
   */
  failing = false;

  readonly padding: Record<string, number>;
  readonly declared: Record<string, boolean>;
  /** Whether the origin answers each team with a body of its own (the sessions match `X-Team`). */
  readonly teams: boolean;
  /** What the fetch does with a redirect asked for ({@linkcode sessionOptions}). */
  readonly redirects: Redirects;
  #bodies = new Map<string, string>();
  #visits = 0;

  constructor(
    padding: Record<string, number>,
    declared: Record<string, boolean>,
    options: Pick<SessionOptions, "matchTeams" | "redirects">,
  ) {
    this.padding = padding;
    this.declared = declared;
    this.teams = options.matchTeams;
    this.redirects = options.redirects;
  }

  /** Whom the origin answers: the user, and their team when teams get bodies of their own. */
  whom(user: string, team: string | null | undefined): string {
    return this.teams && team ? `${user}@${team}` : user;
  }

  /** The variant a request in `lang` gets of a version of a URL's response. */
  variant(url: string, lang: string | null | undefined, version: number): string {
    const { vary } = RULES[resourceOf(url)]!;
    return vary === "always" || (vary === "odd versions" && version % 2 === 1) ? lang ?? "none" : "-";
  }

  /** The entity tag of a version of a URL's response, in a variant, for a user. */
  etag(url: string, variant: string, user: string, version: number): string {
    return `"${resourceOf(url)}-${variant}-${user}-${version}"`;
  }

  /** The `If-None-Match` a request sends: the tag of the version its caller holds, if it holds one. */
  heldTag({ url, lang, user, team, holds }: Asked): string | undefined {
    if (holds === undefined) return undefined;
    const version = this.versions.get(resourceOf(url))! - (holds === "previous" ? 1 : 0);
    return this.etag(url, this.variant(url, lang, version), this.whom(user ?? "-", team), version);
  }

  /**
   * The body of a version for a user: its name, then letters that follow from it, so a moved,
   * repeated or lost chunk shows.
   */
  body(url: string, variant: string, user: string, version: number): string {
    const name = `${url}|${variant}|${user}|${version}|`;
    let body = this.#bodies.get(name);
    if (body === undefined) this.#bodies.set(name, body = `${name}${letters(name, this.padding[url]!)}|end`);
    return body;
  }

  answer(request: Request): Response {
    const path = new URL(request.url).pathname.slice(1);
    this.calls.set(path, (this.calls.get(path) ?? 0) + 1);
    if (this.down === "error") throw new TypeError("the origin is down");
    if (this.down === "503") return new Response("down", { status: 503 });
    const url = resourceOf(path);
    if (request.method === "POST") {
      this.versions.set(url, this.versions.get(url)! + 1);
      const headers = new Headers({ "cache-control": "no-store" });
      const location = request.headers.get("x-then-see");
      if (location !== null) headers.set("location", `/${location}`);
      return new Response("changed", { status: location === null ? 200 : 201, headers });
    }
    if (request.redirect === "manual" && url !== path && this.redirects === "hidden") {
      // As a browser's fetch: an opaque redirect, which says neither its status nor where it leads.
      const hidden = new Response(null);
      return Object.defineProperties(hidden, { type: { value: "opaqueredirect" }, status: { value: 0 } });
    }
    if (request.redirect === "manual" && url !== path && this.redirects === "given") {
      // The redirect itself, to a caller that follows it on its own (or does not).
      const date = new Date(this.clock.now).toUTCString();
      const headers = { location: `/${url}`, "cache-control": "max-age=30", date };
      return new Response(null, { status: 301, headers });
    }
    const rules = RULES[url]!;
    const version = this.versions.get(url)!;
    const variant = this.variant(url, request.headers.get("accept-language"), version);
    // Each user (and team) gets a body of their own, and the response does not say so (no
    // `Vary`): only the cache's keys keep them apart.
    const user = this.whom(userOf(request.headers), request.headers.get("x-team"));
    const etag = this.etag(url, variant, user, version);
    const headers = new Headers({
      ...rules.headers(this.clock),
      ...(variant === "-" ? {} : { vary: "accept-language" }),
      date: new Date(this.clock.now).toUTCString(),
      etag,
      "x-for": `${url}|${variant}`,
      "x-user": user,
      "x-version": String(version),
    });
    const sent = `${url}|${variant}|${user}|${version}`;
    const expireAfter = request.headers.get(EXPIRE_AFTER);
    const cookie = `visit=${++this.#visits}`;
    headers.set("set-cookie", cookie);
    this.sent.set(sent, [
      ...this.sent.get(sent) ?? [],
      { at: this.clock.now, expireAfter: expireAfter === null ? undefined : Number(expireAfter), cookie },
    ]);
    // A HEAD is told the length of the body it does not get, as a GET is.
    const body = this.body(url, variant, user, version);
    if (this.declared[url]) headers.set("content-length", String(body.length));
    const response = request.headers.get("if-none-match") === etag
      ? new Response(null, { status: 304, headers })
      : new Response(request.method === "HEAD" ? null : this.stream(body, request.signal), { headers });
    // As fetch hands over the response of where a redirect led.
    const where = { url: { value: `http://origin.test/${url}` }, redirected: { value: url !== path } };
    return Object.defineProperties(response, where);
  }

  /** A body on its way, cut short while the origin cuts bodies ({@linkcode streamOf}). */
  stream(text: string, signal: AbortSignal): ReadableStream<Uint8Array> {
    if (this.down !== "cut") return streamOf(text, signal);
    this.breaking++;
    let ended = false;
    return streamOf(text, signal, () => {
      if (!ended) this.breaking--;
      ended = true;
    });
  }
}

/**
 * A body as the network delivers it: a byte stream, in chunks of 16 KiB, the rest a moment after
 * the first (a caller may read that one and cancel). With `cut`, it breaks off after half of it,
 * and `cut` is called once it has ended (broken off, cancelled or aborted). When the request is
 * aborted first, it fails with the abort's reason, as fetch's body does.
 */
function streamOf(text: string, signal: AbortSignal, cut?: () => void): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  const end = cut ? bytes.length >> 1 : bytes.length;
  let at = 0;
  return new ReadableStream({
    type: "bytes",
    start(controller) {
      signal.addEventListener("abort", () => {
        cut?.();
        controller.error(signal.reason);
      }, { once: true });
    },
    async pull(controller) {
      if (at === CHUNK) await new Promise((resolve) => setTimeout(resolve, 0));
      if (at >= end) {
        if (cut) {
          cut();
          return controller.error(new TypeError("the origin is down"));
        }
        controller.close();
        return controller.byobRequest?.respond(0); // a read into a buffer of its own learns of the end
      }
      controller.enqueue(bytes.slice(at, at = Math.min(at + CHUNK, end)));
    },
    cancel: () => cut?.(),
  });
}

const CHUNK = 16 * 1024;

/** `length` pseudo-random letters seeded by `seed`. */
function letters(seed: string, length: number): string {
  let x = 0x811c9dc5;
  for (let i = 0; i < seed.length; i++) x = Math.imul(x ^ seed.charCodeAt(i), 0x01000193);
  const codes = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) | 0;
    codes[i] = 97 + (x >>> 16) % 26;
  }
  return new TextDecoder().decode(codes);
}

/** Reads every key and record of a store, as the storage holds them, for a secret. */
async function noSecretsIn(storage: Storage): Promise<void> {
  const text = new TextDecoder();
  for await (const key of storage.keys()) {
    const record = await storage.get(key);
    const held = `${key}\n${record === undefined ? "" : text.decode(record)}`;
    for (const secret of SECRETS) ok(!held.includes(secret), `"${secret}" reached the store, under ${key}`);
  }
}

/** A request that wants a stored response or a 504, never the origin's. */
function cachedOnly({ mode, directive }: Asked): boolean {
  return mode === "only-if-cached" || directive === "only-if-cached";
}

/**
 * How long an answer of the origin stays fresh once stored, as an age in seconds, by the precedence
 * of docs/expiration.md: the `expireAfter` of the request it answered (counted from when it arrived,
 * so an upstream cache's `Age` comes on top; `DO_NOT_CACHE` stores nothing), then the response's
 * own rules, then the session's `urlsExpireAfter` (for the URL whose freshness is a guess) and
 * `expireAfter` (for a guess, or for any response when the rules are not followed: without them
 * and without an `expireAfter`, for ever).
 */
function freshness(url: string, { expireAfter }: Sent, settings: Settings): number {
  const rules = RULES[resourceOf(url)]!;
  const upstreamAge = rules.upstreamAge ?? 0;
  const configured = expireAfter ?? configuredFor(url, settings);
  if (configured === DO_NOT_CACHE) return 0;
  if (expireAfter !== undefined) return expireAfter + upstreamAge;
  if (!settings.cacheControl) return (configured ?? Infinity) + upstreamAge;
  return rules.guessed && configured !== undefined ? configured : rules.fresh[settings.shared ? 1 : 0];
}

/** The session's expiration for a URL: its `urlsExpireAfter` pattern's, else its `expireAfter`. */
function configuredFor(url: string, settings: Settings): number | undefined {
  return (url === "heuristic" ? settings.heuristicExpireAfter : undefined) ?? settings.expireAfter;
}

/**
 * The oldest response a request may get, in seconds, given how long it stays fresh: by the
 * response's rules (RFC 9111 §4.2, §5.2; RFC 5861 §3), the request's `Cache-Control` (§5.2.1) and
 * its `cache` mode. A bound: the cache may always ask the origin sooner.
 */
function allowedAge(asked: Asked, settings: Settings, fresh: number, onError: number | undefined): number {
  const { url, mode } = asked;
  if (mode === "force-cache" || mode === "only-if-cached") return Infinity;
  const rules = RULES[resourceOf(url)]!;
  // (Without the rules, the session's `staleIfError` alone decides.)
  const mayBeStale = !settings.cacheControl || rules.revalidate === undefined ||
    (rules.revalidate === "shared" && !settings.shared);
  // RFC 5861 §4: when the origin fails, a stored response may answer up to `staleIfError` past its freshness.
  const ifError = onError !== undefined && mayBeStale && mode !== "reload" && mode !== "no-store"
    ? fresh + onError
    : 0;
  // Without the rules, neither the response's `stale-while-revalidate` nor the request's
  // directives count: the session's `staleWhileRevalidate` alone, as its `staleIfError`.
  if (!settings.cacheControl) {
    return Math.max(ifError, mode === "default" ? fresh + settings.staleWhileRevalidate : 0);
  }
  const whileRevalidating = mayBeStale ? rules.staleWhileRevalidate ?? settings.staleWhileRevalidate : 0;
  return Math.max(ifError, usualAge(asked, fresh, whileRevalidating, mayBeStale));
}

/** {@linkcode allowedAge} while the origin answers. */
function usualAge(
  { mode, directive }: Asked,
  fresh: number,
  whileRevalidating: number,
  mayBeStale: boolean,
): number {
  if (mode !== "default" || directive === "no-cache") return 0;
  const [name, value] = (directive ?? "").split("=") as [string, string | undefined];
  const seconds = value === undefined ? Infinity : Number(value);
  if (name === "max-age") return Math.min(seconds, fresh + whileRevalidating);
  if (name === "min-fresh") return Math.max(0, fresh - seconds);
  if (name === "max-stale") return fresh + (mayBeStale ? Math.max(seconds, whileRevalidating) : 0);
  return fresh + whileRevalidating;
}

/** What a run's session was built with. */
interface Settings extends SessionOptions {
  /** Which handle on the store the session has (the memory backend's two are one). */
  handle: number;
  shared: boolean;
  storeSetCookie: boolean;
}

/**
 * Checks one response (or a failed fetch) against the model: whose it is, how old (a response from the cache says
 * by its `Age` when the origin sent it; one from the network was sent just now), and its body.
 */
async function check(model: Model, settings: Settings, asked: Asked, response: CachedResponse | Error) {
  const { url, lang, mode, range } = asked;
  const user = model.whom(asked.user ?? "-", asked.team);
  const stops = asked.stops === undefined ? [] : `${asked.stops}s`;
  const asking = [
    lang ?? "no language",
    asked.user ?? "anonymous",
    asked.team === undefined ? [] : `of the ${asked.team} team`,
    `${mode} mode`,
    asked.manual ? "not following redirects" : [],
    asked.directive ?? [],
    asked.holds === undefined ? [] : `holding the ${asked.holds} version`,
    stops,
  ]
    .flat().join(", ");
  if (response instanceof Error) {
    failedAsFetch(model, asked, response, `${url} (${asking})`);
    return;
  }
  const what = `${response.status} for ${url} (${asking})`;
  if (response.status === 504) return ok(cachedOnly(asked), `${what}: a 504 unasked`);
  if (response.status === 503) return ok(model.down === "503", `${what}: a 503 from an origin that is up`);
  if (asked.manual && REDIRECTS[url] !== undefined && settings.redirects === "hidden") {
    return equal(response.status, 0, `${what}: where a redirect leads, to a caller that does not follow it`);
  }
  if (asked.manual && REDIRECTS[url] !== undefined && settings.redirects === "given") {
    // A caller that does not follow redirects gets the redirect itself, never where it leads.
    equal(response.status, 301, `${what}: where a redirect leads, to a caller that does not follow it`);
    return equal(response.headers.get("location"), `/${REDIRECTS[url]}`, `${what}: another redirect`);
  }
  if (response.status === 304) {
    // RFC 9110 §15.4.5: a 304 tells the caller that the version it holds is the one it would get.
    const held = model.heldTag(asked);
    ok(held !== undefined, `${what}: a 304 unasked`);
    equal(response.headers.get("etag"), held, `${what}: a 304 to a caller that holds another version`);
  } else {
    ok([200, 206, 416].includes(response.status), what);
    ok(response.status === 200 || range !== undefined, `${what}: a part unasked`);
  }
  const resource = resourceOf(url);
  const version = Number(response.headers.get("x-version"));
  const variant = model.variant(url, lang, version);
  equal(
    response.headers.get("x-for"),
    `${resource}|${variant}`,
    `${what}: another URL's or variant's response`,
  );
  equal(response.headers.get("x-user"), user, `${what}: another user's response`);
  // RFC 9111 §3.5: a shared cache stores nothing for a request with Authorization unless allowed.
  if (settings.cacheControl && settings.shared && asked.user === "alice" && !RULES[resource]!.authorized) {
    ok(!response.fromCache, `${what}: a shared cache answered a request with Authorization from storage`);
  }
  const now = model.clock.now;
  // Its age: what the origin said (an upstream cache's) plus the time since the origin sent it.
  const upstreamAge = (RULES[resource]!.upstreamAge ?? 0) * 1000;
  const age = Number(response.headers.get("age")) * 1000;
  const sentAt = now - age + upstreamAge;
  const sent = (model.sent.get(`${resource}|${variant}|${user}|${version}`) ?? [])
    .filter(({ at }) => at === sentAt);
  ok(sent.length > 0, `${what}: version ${version} with an age of ${age / 1000} s was never sent then`);
  // A response from the network carries the cookie the origin set with it, and so does one the
  // origin has just confirmed (its 304's). One from the cache carries none, unless the session
  // stores cookies: then the one set with the answer it serves, never another answer's (the other
  // session on the store may store them while this one does not).
  const cookie = response.headers.get("set-cookie");
  if (!response.fromCache || response.revalidated) {
    ok(cookie !== null, `${what}: the origin's cookie was dropped`);
  } else if (!settings.storeSetCookie) equal(cookie, null, `${what}: a cookie replayed from the cache`);
  ok(cookie === null || sent.some((answer) => answer.cookie === cookie), `${what}: another answer's cookie`);
  // `DO_NOT_CACHE` (the request's own, else its URL's) bypasses the cache.
  if ((asked.expireAfter ?? configuredFor(url, settings)) === DO_NOT_CACHE) {
    ok(!response.fromCache, `${what}: answered from the cache despite DO_NOT_CACHE`);
  }
  // (Sent more than once at that moment, to requests with different `expireAfter`s: either may be stored.)
  const fresh = Math.max(...sent.map((answer) => freshness(url, answer, settings)));
  const onError = model.down === undefined ? undefined : settings.staleIfError;
  // (What the origin sends just now is as young as a response can be, whatever its `Age`.)
  const allowed = Math.max(allowedAge(asked, settings, fresh, onError) * 1000, upstreamAge);
  ok(age <= allowed, `${what}: version ${version} served ${age / 1000} s old (allowed ${allowed / 1000} s)`);
  // A POST to where a redirect leads invalidates what came before, and so does one to the URL
  // asked for when the fetch followed the redirect out of the session's sight (what it led to is
  // then stored under that URL); a session that follows it step by step stores that under where
  // it led, and a POST to the redirecting URL drops only the redirect.
  const known = model.invalidated[settings.handle]!;
  const invalidated = Math.max(
    url === resource || settings.redirects !== "given" ? known.get(url) ?? -Infinity : -Infinity,
    known.get(resource) ?? -Infinity,
  );
  ok(
    sentAt > invalidated,
    `${what}: version ${version}, stored before a POST or a delete invalidated it, was served`,
  );
  if (response.body === null && response.status !== 416) return;
  const whole = model.body(resource, variant, user, version);
  if (asked.stops === "cancel" && response.status === 200) {
    // The caller stops reading: what it got is the start of the body, and the cache reads on.
    const reader = response.body!.getReader();
    const first = await reader.read().catch((error) => brokeOff(model, asked, response, what, error));
    await reader.cancel().catch((error) => brokeOff(model, asked, response, what, error));
    const start = first?.value === undefined ? "" : new TextDecoder().decode(first.value);
    return ok(whole.startsWith(start), `${what}: a body that does not start as the origin's did`);
  }
  const text = await response.text().catch((error) => brokeOff(model, asked, response, what, error));
  if (text === undefined) return;
  if (response.status === 200) {
    equal(text.length, whole.length, `${what}: a body cut short or run on`);
    return equal(text, whole, `${what}: a body that is not the one the origin sent`);
  }
  const [start, length] = range!;
  if (response.status === 416) {
    ok(start >= whole.length, `${what}: bytes ${start}- were there to send`);
    return equal(response.headers.get("content-range"), `bytes */${whole.length}`, what);
  }
  const end = Math.min(start + length, whole.length) - 1;
  equal(response.headers.get("content-range"), `bytes ${start}-${end}/${whole.length}`, what);
  equal(text, whole.slice(start, end + 1), `${what}: not the range asked for`);
}

/**
 * Checks a failure a request met, as plain fetch could meet it: its own abort, or the origin's
 * failure while the origin was failing (a request that waited for an identical one whose body
 * broke off fails with that error).
 *
 * @returns Whether it was the request's own abort.
 */
function failedAsFetch(model: Model, asked: Asked, error: unknown, what: string): boolean {
  if (asked.stops === "abort" && (error as Error).name === "AbortError") {
    model.aborted++;
    return true;
  }
  ok(model.failing && (error as Error).message === "the origin is down", `${what}: ${error}`);
  return false;
}

/**
 * Checks a body that broke off: by its own abort, or on its way from the origin, as the origin
 * cut it (never one from the cache).
 */
function brokeOff(
  model: Model,
  asked: Asked,
  response: CachedResponse,
  what: string,
  error: unknown,
): undefined {
  if (failedAsFetch(model, asked, error, what)) return;
  ok(!response.fromCache, `${what}: a body from the cache broke off: ${error}`);
  model.brokeOff++;
}

/**
 * The failing run a report names, to run again alone: its `seed` and `path`, as fast-check prints
 * them (`MODEL_SEED=… MODEL_PATH=… deno test -A tests/model_test.ts --filter <backend>`).
 */
const REPLAY = process.env.MODEL_SEED === undefined
  ? undefined
  : { seed: Number(process.env.MODEL_SEED), path: process.env.MODEL_PATH ?? "0", endOnFailure: true };

for (const backend of BACKENDS) {
  const inProcess = backend.name === "memory" || backend.name === "sqlite";
  Deno.test({
    name:
      `model: ${backend.name}: random requests, changes, outages and clock moves never serve a wrong, partial or stale response`,
    ignore: backend.skip !== undefined,
    async fn() {
      // The runs must have exercised the cache (answers from it, some after a revalidation; some
      // 304s to callers that named a version, from the cache or the origin) and its failure paths
      // (bodies cut off by the origin, requests aborted by their callers). Over 120 runs the least
      // of these counts was 19 in 6 runs of the test on each backend.
      const served = { fromCache: 0, revalidated: 0, notModified: 0, brokeOff: 0, aborted: 0 };
      await fc.assert(
        fc.asyncProperty(
          run,
          async (
            { shared, storeSetCookie, options, coalesce, sessions, limits, padding, declared, commands },
          ) => {
            const model = new Model(padding, declared, options);
            const o = origin((request) => model.answer(request));
            const opened = sessions === 1 ? [await backend.open(limits)] : await backend.openTwice(limits);
            // Each store behind a switch that takes it down (the memory backend's two handles are one).
            const switches = new Map(
              [...new Set(opened)].map((cache) => [cache, new Switched(cache.storage)]),
            );
            const backends = new Map([...switches].map(([cache, store]) => [cache, new CacheBackend(store)]));
            const caches = opened.map((cache) => backends.get(cache)!);
            /** Takes the store down, or brings it back (both handles: one server). */
            let storeIsDown = false;
            const switchStore = (down: boolean) => {
              storeIsDown = down;
              for (const store of switches.values()) store.down = down;
            };
            const settings = caches.map((cache, i): Settings => ({
              ...options,
              handle: caches.indexOf(cache),
              shared: shared[i]!,
              storeSetCookie: storeSetCookie[i]!,
            }));
            // Each session's background work (refreshes, writes), which ends before the cache is
            // emptied: nothing is left behind.
            const background = caches.map((): Promise<unknown>[] => []);
            const reported: unknown[] = [];
            const clients = caches.map((cache, i) =>
              new CachedSession({
                backend: cache,
                fetch: o.fetch,
                now: model.clock.fn,
                shared: shared[i]!,
                storeSetCookie: storeSetCookie[i]!,
                ...optionsOf(options),
                ignoredParameters: [API_KEY],
                coalesceRequests: coalesce,
                waitUntil: (work) => background[i]!.push(work),
                onError: (error) => reported.push(error),
              })
            );
            const sessionOf = (via: number) => clients[via % clients.length]!;
            const handleOf = (via: number) => settings[via % clients.length]!.handle;
            const settled = () => Promise.all(background.flat());
            const ask = (asked: Asked) => {
              const {
                via,
                url,
                lang,
                user,
                team,
                keyed,
                head,
                manual,
                mode,
                directive,
                range,
                stops,
                expireAfter,
              } = asked;
              const headers = new Headers(credentials(user));
              if (team !== undefined) headers.set("x-team", team);
              if (expireAfter !== undefined) headers.set(EXPIRE_AFTER, String(expireAfter));
              const held = model.heldTag(asked);
              if (held !== undefined) headers.set("if-none-match", held);
              if (lang !== undefined) headers.set("accept-language", lang);
              if (directive !== undefined) headers.set("cache-control", directive);
              if (range !== undefined && !head) {
                headers.set("range", `bytes=${range[0]}-${range[0] + range[1] - 1}`);
              }
              const query = keyed ? `?${API_KEY}=s3cret-${user ?? "anyone"}` : "";
              const abort = new AbortController();
              if (stops === "abort") setTimeout(() => abort.abort(), 0);
              return sessionOf(via).fetch(`http://origin.test/${url}${query}`, {
                method: head ? "HEAD" : "GET",
                headers,
                redirect: manual ? "manual" : "follow",
                cache: mode,
                signal: abort.signal,
                ...(expireAfter === undefined ? {} : { expireAfter }),
              })
                .catch((error: Error) => error);
            };
            try {
              /** Commands left before the store is back. */
              let storeBack = 0;
              for (const step of commands) {
                if (step.kind === "store") {
                  storeBack = step.steps;
                  switchStore(true);
                  continue;
                }
                if (step.kind === "tick") model.clock.tick(step.seconds);
                else if (step.kind === "change") {
                  const resource = resourceOf(step.url);
                  model.versions.set(resource, model.versions.get(resource)! + 1);
                } else if (step.kind === "outage") model.down = step.how;
                else if (step.kind === "delete") {
                  // As for a POST below, the other session's writes under way are let finish.
                  await Promise.all(background.filter((_, i) => i !== step.via % clients.length).flat());
                  const { cache } = sessionOf(step.via);
                  let done = true;
                  const query = step.keyed ? `?${API_KEY}=s3cret-anyone` : "";
                  await (step.url === undefined
                    ? cache.clear()
                    : cache.deleteUrls(`http://origin.test/${step.url}${query}`))
                    .catch((error) => {
                      ok(storeDown(error), String(error));
                      done = false;
                    });
                  // Nothing stored before is served after: for the URL, and for those that redirect
                  // there. A delete of a URL that failed, while the store was down, holds in its
                  // own process; a `clear()` that failed holds nowhere.
                  if (done) model.invalidate(step.url === undefined ? URLS : [step.url], [0, 1]);
                  else if (step.url !== undefined) model.invalidate([step.url], [handleOf(step.via)]);
                  model.clock.tick(1);
                } else if (step.kind === "post") {
                  const url = `http://origin.test/${step.url}`;
                  // An invalidation waits for its own session's writes under way, not for another
                  // process's (docs/http-semantics.md, §4.4): the other session's are let finish.
                  await Promise.all(background.filter((_, i) => i !== step.via % clients.length).flat());
                  const headers = new Headers(credentials(step.user));
                  if (step.location !== undefined) headers.set("x-then-see", step.location);
                  const response = await sessionOf(step.via).fetch(url, {
                    method: "POST",
                    body: "new",
                    headers,
                  })
                    .catch(() => undefined);
                  await response?.body?.cancel();
                  // RFC 9111 §4.4: a POST that succeeded invalidates what is stored for its URL and
                  // for the URL its Location names.
                  // While the store is down, that holds only in the session's own process.
                  if (response?.ok) {
                    model.invalidate(
                      [step.url, step.location ?? []].flat(),
                      storeIsDown ? [handleOf(step.via)] : [0, 1],
                    );
                  }
                  model.clock.tick(1);
                } else {
                  const before = model.calls.get("no-store") ?? 0;
                  model.failing = model.down === "error" || model.down === "cut" || model.breaking > 0;
                  const responses = await Promise.all(step.requests.map(ask));
                  for (const [i, request] of step.requests.entries()) {
                    const response = responses[i]!;
                    await check(model, settings[request.via % clients.length]!, request, response);
                    if (response instanceof Error) continue;
                    if (response.fromCache) served.fromCache++;
                    if (response.revalidated) served.revalidated++;
                    if (response.status === 304) served.notModified++;
                  }
                  const noStore = step.requests.filter((request) =>
                    RULES[resourceOf(request.url)]!.noStore && !cachedOnly(request)
                  );
                  // (A network error is shared: identical requests waiting for one that failed fail
                  // alike. A request aborted early may not have reached the origin.)
                  if (options.cacheControl && model.down !== "error") {
                    const calls = (model.calls.get("no-store") ?? 0) - before;
                    const unaborted = noStore.filter((request) => request.stops !== "abort").length;
                    ok(
                      calls >= unaborted && calls <= noStore.length,
                      `no-store: ${calls} calls for ${noStore.length}`,
                    );
                  }
                }
                if (storeBack > 0 && --storeBack === 0) switchStore(false);
              }
              // Once the store is back and the background work is done, it holds all it ever will.
              switchStore(false);
              await settled();
              await noSecretsIn(caches[0]!.storage);
              const stored = await clients[0]!.cache.urls();
              ok(
                !options.cacheControl || !stored.includes("http://origin.test/no-store"),
                "no-store: the response was stored",
              );
              if (options.cacheControl && settings.every((session) => session.shared)) {
                ok(!stored.includes("http://origin.test/private"), "private: stored by a shared cache");
              }
              // The only failures are the origin's own (a refresh in the background while it is
              // down) and the store's while it was down.
              for (const error of reported) {
                ok((error as Error).message === "the origin is down" || storeDown(error), String(error));
              }
            } finally {
              served.brokeOff += model.brokeOff;
              served.aborted += model.aborted;
              switchStore(false);
              await settled();
              for (const cache of new Set(caches)) {
                await dispose(cache);
              }
            }
          },
        ),
        // Fewer runs on a backend over a socket, each slower; enough for every count above.
        REPLAY ?? { numRuns: inProcess ? 150 : 120 },
      );
      // (One run replayed alone need not reach them all.)
      ok(
        REPLAY !== undefined || Object.values(served).every((count) => count > 0),
        `the runs barely used the cache or its failure paths: ${JSON.stringify(served)}`,
      );
    },
  });
}
