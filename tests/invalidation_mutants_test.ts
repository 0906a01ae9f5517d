/**
 * The order of invalidations and writes (`src/invalidations.ts`) and the redirects a session
 * follows itself (`src/redirects.ts`), where mutation testing found that no other test would
 * fail: each test pins one observable behaviour, and its comment names the mutant it kills.
 * `Invalidations` on its own, as `invalidations_test.ts`; redirects against a scripted origin, as
 * `keys_mutants_test.ts`.
 */
import { assertEquals, assertRejects } from "./_assert.ts";
import { delay, within } from "./_fixtures.ts";
import { reply, settle } from "./_origin.ts";
import { scripted as setup, URL_A } from "./_scripted.ts";
import { Invalidations, type UndoneDelete } from "../src/invalidations.ts";
import { urlKeyPrefix } from "../src/cache_keys.ts";

const A = "GET a", B = "GET b";
const nothing = () => Promise.resolve();
const ORIGIN = "http://127.0.0.1";

/** Invalidates `count` URLs no test writes to, one after another. */
async function invalidateOthers(invalidations: Invalidations, count: number, name = "other"): Promise<void> {
  for (let i = 0; i < count; i++) await invalidations.invalidating(`GET ${name}-${i}`);
}

// The class's documentation: "While no invalidation comes between a request and its write, the
// write is only counted: its URLs are not even worked out."
// Kills src/invalidations.ts:119 `if (this.#count === mark) return false;` dropped.
Deno.test("invalidations: a write with no invalidation since its mark never works out its URLs", async () => {
  const invalidations = new Invalidations();
  let worked = 0;
  const urls = () => {
    worked++;
    return [A];
  };
  const undo = () => Promise.reject(new Error("nothing to undo"));
  assertEquals(await invalidations.write(urls, invalidations.mark(), nothing, undo), true);
  assertEquals([invalidations.since(urls, invalidations.mark()), worked], [false, 0]);
  // Once an invalidation comes between, they are worked out.
  const asked = invalidations.mark();
  await invalidations.invalidating(B);
  assertEquals([await invalidations.write(urls, asked, nothing), worked], [true, 1]);
});

// An invalidation waits for every write under way, a failed one among them: its failure does not
// end the wait for the others (which would then land after the delete, and stand).
// Kills src/invalidations.ts:35 `Promise.allSettled(writing)` → `Promise.all(writing)`.
Deno.test("invalidations: an invalidation waits for every write under way though one of them failed", async () => {
  const invalidations = new Invalidations();
  const order: string[] = [];
  const landed = Promise.withResolvers<void>();
  const slow = invalidations.write(() => [B], invalidations.mark(), async () => {
    await landed.promise;
    order.push("write");
  });
  const failing = invalidations.write(
    () => [A],
    invalidations.mark(),
    () => Promise.reject(new Error("down")),
  );
  const invalidating = invalidations.invalidating(A).then(() => order.push("invalidated"));
  await failing.catch(() => order.push("failed"));
  await settle();
  landed.resolve();
  await Promise.all([slow, invalidating]);
  assertEquals(order, ["failed", "write", "invalidated"]);
});

// A write overtaken by an invalidation of its URL is undone, and says it does not stand only once
// the undo is done: the caller then reports it, or its failure.
// Kills src/invalidations.ts:106 `await undo()` → `void undo()`, and :107 `return false` →
// `return true` after the undo.
Deno.test("invalidations: a write an invalidation of its URL came during is undone before it answers false", async () => {
  const invalidations = new Invalidations();
  const order: string[] = [];
  const landed = Promise.withResolvers<void>();
  const writing = invalidations.write(
    () => [A],
    invalidations.mark(),
    () => landed.promise,
    () => delay(1).then(() => order.push("undone")),
  ).then((stands) => order.push(`stands: ${stands}`));
  const invalidating = invalidations.invalidating(A);
  landed.resolve();
  await Promise.all([writing, invalidating]);
  assertEquals(order, ["undone", "stands: false"]);
});

// A write with no undo (a redirect's alias) stands, whatever comes while it is under way.
// Kills src/invalidations.ts:105 `undo === undefined ||` dropped (an undefined undo called: a
// TypeError, which the alias write reports as a failed write).
Deno.test("invalidations: a write without an undo stands though an invalidation came during it", async () => {
  const invalidations = new Invalidations();
  const landed = Promise.withResolvers<void>();
  const writing = invalidations.write(() => [A], invalidations.mark(), () => landed.promise);
  const invalidating = invalidations.invalidating(A);
  landed.resolve();
  await invalidating;
  assertEquals(await writing, true);
});

// What undoes a write is an invalidation that came while it was under way; invalidations forgotten
// meanwhile (past the 4,096 remembered) that came before it started do not undo it: it was checked
// against them when it started.
// Kills src/invalidations.ts:95 `const started = this.#count` → `= mark`, and :105
// `this.since(urls, started)` → `this.since(urls, mark)`.
Deno.test("invalidations: a write is not undone for invalidations before it started that are forgotten while it is under way", async () => {
  const invalidations = new Invalidations();
  const asked = invalidations.mark();
  await invalidateOthers(invalidations, 4096);
  let undone = false;
  const landed = Promise.withResolvers<void>();
  const writing = invalidations.write(() => [B], asked, () => landed.promise, () => {
    undone = true;
    return Promise.resolve();
  });
  // One more: the oldest (made after `asked`, before the write started) is forgotten.
  const invalidating = invalidations.invalidating(A);
  landed.resolve();
  await invalidating;
  assertEquals([await writing, undone], [true, false]);
});

// The class's documentation: the 4,096 latest invalidated URLs are remembered (and up to 512 more,
// dropped in a batch); a response asked for before one that is forgotten is not written, one asked
// for after it is.
// Kills src/invalidations.ts `map.size <= REMEMBERED + SLACK` → `<`, `REMEMBERED = 4096` → `64`,
// the batch's `map.size <= REMEMBERED` → `<`, and `map.delete(oldest)` dropped (the first
// invalidation forgotten again and again, the later ones never).
Deno.test("invalidations: the 4,096 latest URLs are remembered, and 513 past them forget the oldest down to 4,096", async () => {
  const invalidations = new Invalidations();
  const early = invalidations.mark();
  await invalidations.invalidating(A);
  const afterFirst = invalidations.mark();
  await invalidateOthers(invalidations, 4095);
  assertEquals(await invalidations.write(() => [B], early, nothing), true, "4,096 remembered: B was not one");
  await invalidateOthers(invalidations, 512, "more");
  assertEquals(
    await invalidations.write(() => ["GET c"], afterFirst, nothing),
    true,
    "4,608: none forgotten",
  );
  assertEquals(await invalidations.write(() => [A], early, nothing), false, "A still remembered");
  await invalidations.invalidating(B);
  // A and the 512 oldest others are forgotten: a response asked for between them may have been
  // invalidated.
  assertEquals(await invalidations.write(() => ["GET c"], afterFirst, nothing), false, "asked for after A");
  const afterB = invalidations.mark();
  await invalidateOthers(invalidations, 512, "last");
  assertEquals(await invalidations.write(() => ["GET c"], afterB, nothing), true, "down to 4,096 kept");
  assertEquals(await invalidations.write(() => [B], afterFirst, nothing), false, "B itself");
});

// Invalidating a URL again makes it the newest: what is forgotten next is the oldest of the others.
// Kills src/invalidations.ts `map.delete(key)` dropped before the set (a URL invalidated again
// kept its old place, and its new invalidation was the one forgotten).
Deno.test("invalidations: a URL invalidated again is the last of the remembered ones to be forgotten", async () => {
  const invalidations = new Invalidations();
  await invalidations.invalidating(A);
  await invalidateOthers(invalidations, 4095);
  const asked = invalidations.mark();
  await invalidations.invalidating(A);
  await invalidateOthers(invalidations, 513, "more");
  assertEquals(await invalidations.write(() => [B], asked, nothing), true, "only older ones forgotten");
  assertEquals(await invalidations.write(() => [A], asked, nothing), false);
});

// A clear invalidates every URL at once: what it invalidated is not remembered one by one, so the
// invalidations it made moot are not forgotten after it, as if the clear were older than them.
// Kills src/invalidations.ts:144 `this.#last.clear()` dropped.
Deno.test("invalidations: a response asked for before a clear is not written, however many URLs are invalidated after", async () => {
  const invalidations = new Invalidations();
  await invalidateOthers(invalidations, 4096);
  const asked = invalidations.mark();
  await invalidations.invalidatingAll();
  await invalidations.invalidating(A);
  assertEquals(await invalidations.write(() => [B], asked, nothing), false);
});

// A clear waits for the writes under way before the storage is cleared, as an invalidation of a
// URL does ("Once the writes already under way have ended").
// Kills src/invalidations.ts:146 `await writesSettled(this.#writing)` dropped from invalidatingAll.
Deno.test("invalidations: a clear ends after the writes under way", async () => {
  const invalidations = new Invalidations();
  const order: string[] = [];
  const landed = Promise.withResolvers<void>();
  const writing = invalidations.write(() => [B], invalidations.mark(), async () => {
    await landed.promise;
    order.push("write");
  });
  const clearing = invalidations.invalidatingAll().then(() => order.push("cleared"));
  await settle();
  assertEquals(order, []);
  landed.resolve();
  await Promise.all([writing, clearing]);
  assertEquals(order, ["write", "cleared"]);
});

const URL_U = new URL("http://127.0.0.1/u"), URL_V = new URL("http://127.0.0.1/v");

/** A failed delete as its URL and methods. */
function named(undone: UndoneDelete | undefined): string | undefined {
  return undone && `${undone.url.href} ${undone.methods.join(",")}`;
}

// A delete that failed names every entry of its URL it was to delete: each method's, with any body
// digest or Vary variant, and an alias's entry that a redirect to the URL led to; its record
// names every method, for the delete made again.
// Kills src/invalidations.ts:170 (the first method alone remembered; the record naming `GET`
// alone), :204 `this.#undone.get(urlPartOf(key))` → `.get(key)`, and :205 (an entry a redirect
// led to not found by where it led).
Deno.test("invalidations: a failed delete is found by every key of its URL, of every method it was to delete", () => {
  const invalidations = new Invalidations();
  invalidations.undone([URL_U], ["GET", "POST"]);
  const expected = "http://127.0.0.1/u GET,POST";
  const get = urlKeyPrefix("GET", URL_U), post = urlKeyPrefix("POST", URL_U);
  for (const key of [get, post, `${post}+body`, `${get}.variant`, `${get}+body.variant`]) {
    assertEquals(named(invalidations.undoneOf(key, undefined)), expected, key);
  }
  // The entry of another URL whose redirect led to this one.
  const other = urlKeyPrefix("GET", URL_V);
  assertEquals(invalidations.undoneOf(other, undefined), undefined);
  assertEquals(named(invalidations.undoneOf(other, URL_U.href)), expected);
  assertEquals(invalidations.undoneOf(urlKeyPrefix("HEAD", URL_U), undefined), undefined, "not to delete");
});

// A delete that succeeds, or a clear, ends what a failed one left undone: reads no longer delete.
// Kills src/invalidations.ts:182 (the `GET` entries alone counted as deleted), and :187
// `this.#undone.clear()` dropped from `cleared()`.
Deno.test("invalidations: a delete of every method a failed one was to delete, or a clear, ends it", () => {
  const invalidations = new Invalidations();
  invalidations.undone([URL_U], ["GET", "POST"]);
  invalidations.deleted([URL_U], ["GET"]);
  assertEquals(invalidations.undoing, true, "the POST entries are still to delete");
  invalidations.deleted([URL_U], ["GET", "POST"]);
  assertEquals(invalidations.undoing, false);
  invalidations.undone([URL_U, URL_V], ["GET"]);
  invalidations.cleared();
  assertEquals(
    [invalidations.undoing, invalidations.undoneOf(urlKeyPrefix("GET", URL_V), undefined)],
    [false, undefined],
  );
});

// `undone()`'s documentation: "The REMEMBERED latest pairs of URL and method are kept."
// Kills src/invalidations.ts `remember(this.#undone, …)` → `this.#undone.set(…)` (no bound).
Deno.test("invalidations: the 4,096 latest failed deletes of a URL and method are kept, and at most 512 more", () => {
  const invalidations = new Invalidations();
  const urls = Array.from({ length: 4609 }, (_, i) => new URL(`http://127.0.0.1/${i}`));
  invalidations.undone(urls, ["GET"]);
  const found = urls.map((url) => invalidations.undoneOf(urlKeyPrefix("GET", url), undefined));
  assertEquals(found.filter((undone) => undone !== undefined).length, 4096);
  assertEquals([found[512], found[513]?.url.href], [undefined, "http://127.0.0.1/513"]);
});

/** An origin where `/old` redirects to `location` with `status`, and any other path answers. */
function redirecting(location: string, status = 301, headers: Record<string, string> = {}) {
  return setup((clock) => (request) =>
    new URL(request.url).pathname === "/old"
      ? reply(null, { location, ...headers }, { status, clock })
      : reply(`at ${new URL(request.url).pathname}`, {}, { clock })
  );
}

// Fetch standard §2.2.6: the redirect statuses are 301, 302, 303, 307 and 308; a 304, 305 or 306
// with a Location is an answer, as a 300 is (`http_semantics_test.ts`).
// Kills src/redirects.ts:151 `!REDIRECT_STATUSES.has(status)` → `status < 300 || status > 399`,
// and :21 `304` added to REDIRECT_STATUSES.
Deno.test("redirects: a 304, 305 or 306 with a Location is an answer, not followed", async () => {
  for (const status of [304, 305, 306]) {
    const s = redirecting("/new", status);
    try {
      const { response } = await s.get(undefined, `${ORIGIN}/old`);
      assertEquals([response.status, response.redirected, s.origin.calls], [status, false, 1], `${status}`);
    } finally {
      await s.session.close();
    }
  }
});

// Fetch standard §4.4 (HTTP-redirect fetch): "If locationURL's scheme is not an HTTP(S)
// scheme, then return a network error", whichever scheme it is.
// Kills src/redirects.ts:162 the check narrowed to `ftp:`, or `data:` let through.
Deno.test("redirects: a redirect to a data:, about: or file: URL fails, and nothing more is fetched", async () => {
  for (const location of ["data:text/plain,hi", "about:blank", "file:///etc/hosts"]) {
    const s = redirecting(location, 302);
    try {
      await assertRejects(() => s.get(undefined, `${ORIGIN}/old`), TypeError, location.split(":")[0]);
      assertEquals(s.origin.calls, 1, location);
    } finally {
      await s.session.close();
    }
  }
});

// Fetch standard §4.4: each Location is parsed against the URL of the response that gave it: a
// relative one in the second redirect against where the first led.
// Kills src/redirects.ts:66 `followRedirects(next, …)` → `followRedirects(request, …)`.
Deno.test("redirects: a relative Location after a redirect is resolved against where that redirect led", async () => {
  const s = setup((clock) => (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/old") return reply(null, { location: "/dir/moved" }, { status: 301, clock });
    if (path === "/dir/moved") return reply(null, { location: "final" }, { status: 302, clock });
    return reply(`at ${path}`, {}, { clock });
  });
  try {
    const { response, body } = await s.get(undefined, `${ORIGIN}/old`);
    assertEquals([body, response.url], ["at /dir/final", `${ORIGIN}/dir/final`]);
  } finally {
    await s.session.close();
  }
});

// A request with integrity metadata leaves its redirects to fetch, which checks the metadata on the
// last response only: the origin is asked to follow them, not for the redirect itself.
// Kills src/redirects.ts:37 `&& request.integrity === ""` dropped.
Deno.test("redirects: a request with integrity metadata has fetch follow its redirects", async () => {
  const s = redirecting("/new", 302);
  try {
    const integrity = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    // (The scripted origin does not follow: what it answers comes back as it is.)
    const { response } = await s.get({ integrity }, `${ORIGIN}/old`);
    assertEquals([response.status, s.origin.requests.map((request) => request.redirect)], [302, ["follow"]]);
  } finally {
    await s.session.close();
  }
});

// A request with a body leaves its redirects to fetch: after a 307 or 308 it must be sent again,
// body and all, and after a 303 fetch turns it into a GET (docs/http-semantics.md, "Redirects").
// Kills src/redirects.ts:36 `request.method === "POST"` added to the methods followed here.
Deno.test("redirects: a POST has fetch follow its redirects, stored by the session or not", async () => {
  for (const options of [{}, { allowedMethods: ["GET", "POST"] }]) {
    const s = setup(
      (clock) => (request) =>
        request.method === "POST"
          ? reply(null, { location: "/new" }, { status: 303, clock })
          : reply("at /new", {}, { clock }),
      options,
    );
    try {
      // (The scripted origin does not follow: what it answers comes back as it is.)
      const { response } = await s.get({ method: "POST", body: "x" });
      const sent = s.origin.requests.map((request) => `${request.method} ${request.redirect}`);
      assertEquals([response.status, sent], [303, ["POST follow"]], JSON.stringify(options));
    } finally {
      await s.session.close();
    }
  }
});

// Fetch standard §4.4: a HEAD stays a HEAD through a redirect, whatever the status, also when
// it is a Request given to fetch (no init names the method).
// Kills src/redirects.ts:178 `method: request.method` dropped.
Deno.test("redirects: a HEAD Request is followed with HEADs", async () => {
  const s = redirecting("/new", 302);
  try {
    const response = await s.session.fetch(new Request(`${ORIGIN}/old`, { method: "HEAD" }));
    assertEquals([response.status, s.origin.requests.map((request) => request.method)], [200, [
      "HEAD",
      "HEAD",
    ]]);
  } finally {
    await s.session.close();
  }
});

// Fetch standard §4.4: the request a redirect leads to keeps the request's cache mode: a reload
// reloads every step (docs/http-semantics.md, "Redirects": each step goes through the cache).
// Kills src/redirects.ts:180 `cache: request.mode` dropped.
Deno.test("redirects: a reload asks the origin again for where a stored redirect leads", async () => {
  const s = setup((clock) => (request) => {
    const path = new URL(request.url).pathname;
    const fresh = { "cache-control": "max-age=600" };
    return path === "/old"
      ? reply(null, { location: "/new", ...fresh }, { status: 301, clock })
      : reply(`at ${path} #${s.origin.calls}`, fresh, { clock });
  });
  try {
    await s.get(undefined, `${ORIGIN}/old`);
    const reloaded = await s.get({ cache: "reload" }, `${ORIGIN}/old`);
    assertEquals([reloaded.body, reloaded.response.fromCache, s.origin.calls], ["at /new #4", false, 4]);
  } finally {
    await s.session.close();
  }
});

// docs/expiration.md: a request's own `expireAfter` sets the expiration of its response; that of a
// GET whose redirects the session follows is where they led.
// Kills src/redirects.ts:185 `init.expireAfter = request.expireAfter` dropped.
Deno.test("redirects: a request's expireAfter applies to the response its redirect led to", async () => {
  const s = redirecting("/new", 301, { "cache-control": "max-age=600" });
  try {
    await s.get({ expireAfter: 60 }, `${ORIGIN}/old`);
    const again = await s.get(undefined, `${ORIGIN}/old`);
    assertEquals([again.body, again.response.fromCache, s.origin.calls], ["at /new", true, 2]);
  } finally {
    await s.session.close();
  }
});

// Fetch standard §4.4: the request a redirect leads to is the same request, its abort signal
// included: that of a Request given to fetch (no init carries it).
// Kills src/redirects.ts:184 `init.signal = signal` dropped (the origin never hears of the abort,
// and the fetch hangs).
Deno.test("redirects: aborting a Request's signal aborts the request its redirect led to", async () => {
  const controller = new AbortController();
  const hanging: (() => void)[] = [];
  const s = setup((clock) => (request) => {
    if (new URL(request.url).pathname === "/old") {
      return reply(null, { location: "/new" }, { status: 302, clock });
    }
    // The caller gives up as the origin is asked where the redirect led, which answers only then.
    controller.abort();
    return new Promise<Response>((_, reject) => {
      const abort = () => reject(request.signal.reason);
      hanging.push(abort);
      if (request.signal.aborted) abort();
      request.signal.addEventListener("abort", abort);
    });
  });
  try {
    const fetched = s.session.fetch(new Request(`${ORIGIN}/old`, { signal: controller.signal }));
    const outcome = await within(5000, fetched).then(() => "answered", (error: Error) => error.name);
    assertEquals([outcome, s.origin.calls], ["AbortError", 2]);
  } finally {
    for (const abort of hanging) abort();
    await s.session.close();
  }
});

// A request with redirect: "manual" asked for the redirect itself: a browser's fetch answers it with
// an opaque redirect, which goes back to the caller as it came, not asked for again to be followed
// (that is done only for the requests whose redirects the session follows).
// Kills src/redirects.ts:96 `!manual ||` dropped.
Deno.test("redirects: an opaque redirect answers a request with redirect: manual, asked for once", async () => {
  const asked: string[] = [];
  const s = setup(() => () => reply("unused"), {
    fetch: (input, init) => {
      asked.push(new Request(input, init).redirect);
      return Promise.resolve(Object.defineProperties(new Response(null), {
        type: { value: "opaqueredirect" },
        status: { value: 0 },
        headers: { value: new Headers() },
      }));
    },
  });
  try {
    const response = await s.session.fetch(URL_A, { redirect: "manual" });
    assertEquals([response.status, asked], [0, ["manual"]]);
  } finally {
    await s.session.close();
  }
});

// Fetch standard §4.4 (HTTP-redirect fetch): a redirect's body is let go of, whether it is followed
// or refused: the cache reads on a while (FOLLOWED_READ_TIMEOUT), then cancels it at the origin,
// which a body that never ends would otherwise hold open until the session closes.
// Kills src/redirects.ts:64 `discard(response).then(` → `Promise.resolve().then(` (a followed
// redirect's body kept), :61 `discard(response).then(() => Promise.reject(error))` →
// `Promise.reject(error)` (a refused one's), and :119 `discard` doing nothing.
Deno.test("redirects: the body of a redirect, followed or refused, is let go of and cancelled at the origin", async () => {
  for (const location of ["/new", "ftp://127.0.0.1/file"]) {
    const cancelled = Promise.withResolvers<void>();
    const s = setup((clock) => (request) => {
      if (new URL(request.url).pathname !== "/old") return reply("new", {}, { clock });
      // A body that never ends.
      const body = new ReadableStream<Uint8Array>({ cancel: () => cancelled.resolve() });
      return new Response(body, { status: 302, headers: { location } });
    });
    try {
      await s.session.fetch(`${ORIGIN}/old`).then((response) => response.text(), () => "refused");
      await within(5000, cancelled.promise);
    } finally {
      await s.session.close();
    }
  }
});

// Fetch standard §4.4: the request a redirect leads to is the same request but for its URL: its
// other init members go with it, those the wrapped fetch reads and no standard names too (`cf`,
// `next`; fetch_arguments_test.ts).
// Kills src/redirects.ts:177 `...request.init` dropped.
Deno.test("redirects: the request a redirect leads to keeps the init members of the one asked for", async () => {
  const inits: Record<string, unknown>[] = [];
  const s = setup(() => () => reply("unused"), {
    fetch: (input, init) => {
      inits.push({ cf: (init as { cf?: unknown } | undefined)?.cf, referrerPolicy: init?.referrerPolicy });
      const path = new URL(input instanceof Request ? input.url : String(input)).pathname;
      return Promise.resolve(
        path === "/old" ? reply(null, { location: "/new" }, { status: 302 }) : reply("at /new"),
      );
    },
  });
  try {
    const init = { cf: { cacheTtl: 5 }, referrerPolicy: "no-referrer" as const };
    const { body } = await s.get(init, `${ORIGIN}/old`);
    assertEquals([body, inits], ["at /new", [init, init]]);
  } finally {
    await s.session.close();
  }
});

// Fetch standard §4.4: a Location is parsed against the response's URL; an empty one is that URL
// itself, and is followed, as Deno's and Node's fetch follow it (Bun's answers with the redirect).
// Kills src/redirects.ts:153 `location === null` → `location === null || location === ""`.
Deno.test("redirects: an empty Location leads back to the URL asked for, which is asked again", async () => {
  const s = setup((clock) => (_request, n) =>
    n === 1 ? reply(null, { location: "" }, { status: 302, clock }) : reply(`answer ${n}`, {}, { clock })
  );
  try {
    const { response, body } = await s.get();
    assertEquals([response.status, body, response.url, s.origin.calls], [200, "answer 2", URL_A, 2]);
  } finally {
    await s.session.close();
  }
});

// A redirect whose body fails (the connection reset) is followed all the same: fetch never reads
// it, and letting it go cannot fail.
// Kills src/redirects.ts:119 `.catch(() => {})` dropped from the body's cancel.
Deno.test("redirects: a redirect whose body fails is followed all the same", async () => {
  const s = setup((clock) => (request) => {
    if (new URL(request.url).pathname !== "/old") return reply("new", {}, { clock });
    const body = new ReadableStream<Uint8Array>({
      pull: (controller) => controller.error(new Error("reset")),
    });
    return new Response(body, { status: 302, headers: { location: "/new" } });
  });
  try {
    const { response, body } = await s.get(undefined, `${ORIGIN}/old`);
    assertEquals([response.status, body], [200, "new"]);
  } finally {
    await s.session.close();
  }
});
