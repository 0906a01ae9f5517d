/**
 * Hunt for bugs in sessions that store `POST` (and other unsafe methods' responses): what is
 * stored for them and when a stored one answers.
 */
import { deepEqual, equal } from "node:assert/strict";
import { CachedSession } from "../mod.ts";
import { Clock, httpDate, origin, reply } from "./_origin.ts";

/** A session storing these methods over a scripted origin, and a way to send one request. */
function posting(
  headers: (clock: Clock) => Record<string, string>,
  options: { staleIfError?: number; expireAfter?: number } = {},
) {
  const clock = new Clock();
  let failing = false;
  const o = origin((request, n) =>
    failing
      ? reply("down", {}, { status: 503, clock })
      : reply(`${request.method} ${n}`, headers(clock), { clock })
  );
  const session = new CachedSession({
    fetch: o.fetch,
    now: clock.fn,
    allowedMethods: ["GET", "POST", "PUT", "PATCH", "DELETE"],
    ...options,
  });
  const send = async (method: string) => {
    const response = await session.fetch("http://127.0.0.1/search", { method, body: "q=1" });
    return `${await response.text()}:${response.fromCache}`;
  };
  return { clock, origin: o, session, send, fail: () => void (failing = true) };
}

Deno.test("post2 hunt: a POST answer with no explicit freshness is not reused by heuristic freshness", async () => {
  // RFC 9110 §9.3.3: "Responses to POST requests are only cacheable when they include explicit
  // freshness information" (PATCH likewise, RFC 5789; PUT and DELETE not at all). A 200 with only
  // Last-Modified got 10 % of its age as heuristic freshness: the next identical POST (or PATCH,
  // PUT, DELETE) was answered from the cache and never reached the origin.
  const s = posting((clock) => ({ "last-modified": httpDate(clock.now, -10 * 86400) }));
  try {
    const got = [];
    for (const method of ["POST", "PATCH", "PUT", "DELETE"]) {
      got.push(await s.send(method), await s.send(method));
    }
    deepEqual(got, [
      "POST 1:false",
      "POST 2:false",
      "PATCH 3:false",
      "PATCH 4:false",
      "PUT 5:false",
      "PUT 6:false",
      "DELETE 7:false",
      "DELETE 8:false",
    ]);
    // (A GET's response is heuristically fresh, as before.)
    const get = async () => (await s.session.fetch("http://127.0.0.1/search")).fromCache;
    deepEqual([await get(), await get()], [false, true]);
  } finally {
    await s.session.close();
  }
});

Deno.test("post2 hunt: a POST answer with no explicit freshness is not stored to serve stale on an error", async () => {
  // The same rule: a POST answer without freshness (a validator alone, or nothing with the
  // session's staleIfError) was stored stale from the start, and served in place of the origin's
  // 503 to the next identical POST: an answer that the origin never let be reused.
  for (const headers of [{ etag: '"v1"' }, {}]) {
    const s = posting(() => headers, { staleIfError: 600 });
    try {
      equal(await s.send("POST"), "POST 1:false");
      s.fail();
      equal(await s.send("POST"), "down:false");
      equal(s.origin.calls, 2);
    } finally {
      await s.session.close();
    }
  }
});

Deno.test("post2 hunt: a POST answer with explicit or configured freshness is still stored and reused", async () => {
  // (What the fix keeps: max-age, Expires, and a session's expireAfter still let a POST answer be reused.)
  const cases: [(clock: Clock) => Record<string, string>, { expireAfter?: number }][] = [
    [() => ({ "cache-control": "max-age=60" }), {}],
    [(clock) => ({ expires: httpDate(clock.now, 60) }), {}],
    [(clock) => ({ "last-modified": httpDate(clock.now, -10 * 86400) }), { expireAfter: 60 }],
  ];
  for (const [headers, options] of cases) {
    const s = posting(headers, options);
    try {
      deepEqual([await s.send("POST"), await s.send("POST")], ["POST 1:false", "POST 1:true"]);
    } finally {
      await s.session.close();
    }
  }
});

Deno.test("post2 hunt: a PUT, PATCH or DELETE drops the stored answers to the earlier ones of its URL", async () => {
  // docs/http-semantics.md: a session treats its POSTs as queries and keeps the answers to other
  // POSTs, but "a PUT, DELETE or PATCH drops them all". A session storing PUT kept the answers to
  // other PUTs too: after PUT A then PUT B, a PUT A was answered from the cache with what PUT A got
  // and never reached the origin, whose state stayed B.
  for (const method of ["PUT", "PATCH", "DELETE"]) {
    let state = "";
    const o = origin(async (request, n) => {
      state = await request.text();
      return reply(`${n}:${state}`, { "cache-control": "max-age=600" });
    });
    const session = new CachedSession({ fetch: o.fetch, allowedMethods: ["GET", method] });
    const send = async (body: string) => {
      const response = await session.fetch("http://127.0.0.1/doc", { method, body });
      return `${await response.text()}:${response.fromCache}`;
    };
    try {
      const got = [await send("A"), await send("B"), await send("B"), await send("A")];
      deepEqual(got, ["1:A:false", "2:B:false", "2:B:true", "3:A:false"], method);
      equal(state, "A");
    } finally {
      await session.close();
    }
  }
});

Deno.test("post2 hunt: a POST still keeps the stored answers to the other POSTs of its URL", async () => {
  // (What the fix keeps: POSTs are queries, each answer kept beside the others.)
  const o = origin(async (request, n) =>
    reply(`${n}:${await request.text()}`, { "cache-control": "max-age=600" })
  );
  const session = new CachedSession({ fetch: o.fetch, allowedMethods: ["GET", "POST"] });
  const send = async (body: string) => {
    const response = await session.fetch("http://127.0.0.1/doc", { method: "POST", body });
    return `${await response.text()}:${response.fromCache}`;
  };
  try {
    deepEqual([await send("A"), await send("B"), await send("A")], ["1:A:false", "2:B:false", "1:A:true"]);
  } finally {
    await session.close();
  }
});
