/**
 * Revalidation, conditional requests and ranges (RFC 9111 §4.3, RFC 9110 §13, §14) that mutation
 * testing of `src/validation.ts`, `src/vary.ts` and `src/range.ts` found no test for: each test
 * pins one observable behaviour, where a small change to the rule would show. Against a scripted
 * origin and an injected clock, as `http_semantics_test.ts`.
 */
import { assertEquals } from "./_assert.ts";
import { reply } from "./_origin.ts";
import { scripted as setup, URL_A } from "./_scripted.ts";

const LAST_MODIFIED = "Mon, 01 Jan 2024 00:00:00 GMT";

// RFC 9111 §4.3.4: "If the new response contains a strong validator ..., then that strong validator
// identifies the selected representation for update": a stored response without an entity tag is
// not it, and a 304 that selects no stored response cannot be used (the cache asks again).
Deno.test("304: an ETag in a 304 does not select a stored response that has none", async () => {
  const s = setup((clock) => (request, n) =>
    request.headers.has("if-modified-since")
      ? reply(null, { "cache-control": "max-age=600", etag: '"b"' }, { status: 304, clock })
      : reply(`v${n}`, { "cache-control": "max-age=10", "last-modified": LAST_MODIFIED }, { clock })
  );
  await s.get();
  s.clock.tick(20);
  const next = await s.get();
  assertEquals([next.body, next.response.revalidated, s.origin.calls], ["v3", false, 3]);
  assertEquals(s.origin.requests[2]!.headers.has("if-modified-since"), false);
  await s.session.close();
});

// RFC 9111 §4.3.4: the 304's strong validator identifies the representation; an equal
// Last-Modified does not make a stored response with another entity tag the selected one.
Deno.test("304: another entity tag is a mismatch even when Last-Modified is equal", async () => {
  const s = setup((clock) => (request, n) =>
    request.headers.has("if-none-match")
      ? reply(null, { etag: '"b"', "last-modified": LAST_MODIFIED, "cache-control": "max-age=600" }, {
        status: 304,
        clock,
      })
      : reply(`v${n}`, { "cache-control": "max-age=10", etag: '"a"', "last-modified": LAST_MODIFIED }, {
        clock,
      })
  );
  await s.get();
  s.clock.tick(20);
  const next = await s.get();
  assertEquals([next.body, next.response.revalidated, s.origin.calls], ["v3", false, 3]);
  await s.session.close();
});

// RFC 9111 §4.3.5: a HEAD response freshens a stored response only "if the stored response and
// HEAD response have matching values for any received validator fields (ETag and
// Last-Modified)"; otherwise "the cache SHOULD consider the stored response to be stale".
Deno.test("HEAD: an ETag that differs from the stored one, or that the stored response lacks, does not freshen it", async (t) => {
  const cases: Record<string, { stored: Record<string, string>; head: Record<string, string> }> = {
    "another ETag": { stored: { etag: '"x"' }, head: { etag: '"y"' } },
    "an ETag where none is stored": {
      stored: { "last-modified": LAST_MODIFIED },
      head: { etag: '"x"', "last-modified": LAST_MODIFIED },
    },
  };
  for (const [name, { stored, head }] of Object.entries(cases)) {
    await t.step(name, async () => {
      const s = setup((clock) => (request, n) =>
        request.method === "HEAD"
          ? reply(null, { "cache-control": "max-age=600", ...head }, { clock })
          : reply(`old${n}`, { "cache-control": "max-age=10", ...stored }, { clock })
      );
      await s.get();
      s.clock.tick(20);
      await s.session.fetch(URL_A, { method: "HEAD" });
      const next = await s.get();
      assertEquals([next.body, next.response.fromCache, s.origin.calls], ["old3", false, 3]);
      await s.session.close();
    });
  }
});

// RFC 9111 §3.2 and §5.2.2.4: the updated response's Cache-Control is the 304's, so a field that
// the 304's own qualified no-cache names is not stored from it.
Deno.test("304: a field that the 304's own qualified no-cache names is not stored", async () => {
  const s = setup((clock) => (request) =>
    request.headers.has("if-none-match")
      ? reply(null, { etag: '"a"', "cache-control": 'max-age=60, no-cache="x-token"', "x-token": "secret" }, {
        status: 304,
        clock,
      })
      : reply("v1", { "cache-control": "max-age=60", etag: '"a"' }, { clock })
  );
  await s.get();
  s.clock.tick(100);
  assertEquals((await s.get()).response.revalidated, true);
  const hit = await s.get();
  assertEquals([hit.response.fromCache, hit.response.headers.get("x-token"), s.origin.calls], [
    true,
    null,
    2,
  ]);
  await s.session.close();
});

// RFC 9110 §13.2.1: a recipient ignores preconditions when the response without them "would have
// been a status code other than a 2xx": a stored 300 is not answered 304 by the cache, but served
// as it is, as the origin would send it.
Deno.test("client If-None-Match: a stored non-2xx response is not answered 304", async () => {
  const s = setup((clock) => (_r, n) =>
    reply(`choices${n}`, { "cache-control": "max-age=60", etag: '"a"' }, { status: 300, clock })
  );
  assertEquals((await s.get()).response.status, 300);
  const conditional = await s.get({ headers: { "if-none-match": '"a"' } });
  assertEquals([conditional.response.status, conditional.body, conditional.response.fromCache], [
    300,
    "choices1",
    true,
  ]);
  assertEquals(s.origin.calls, 1);
  await s.session.close();
});

// RFC 9110 §13.1.2: If-None-Match uses the weak comparison function (§8.8.3.2), in which W/"a"
// and "a" match.
Deno.test("client If-None-Match: a weak tag matches the stored strong one, and the other way round", async () => {
  for (const [stored, asked] of [['"a"', 'W/"a"'], ['W/"a"', '"a"']] as const) {
    const s = setup((clock) => () => reply("v1", { "cache-control": "max-age=60", etag: stored }, { clock }));
    await s.get();
    const conditional = await s.get({ headers: { "if-none-match": asked } });
    assertEquals([conditional.response.status, conditional.response.fromCache, s.origin.calls], [
      304,
      true,
      1,
    ]);
    await s.session.close();
  }
});

// RFC 9110 §8.8.3: an entity tag is a quoted string, which may hold a comma; If-None-Match is a
// list of them (§13.1.2), split between tags, not inside one.
Deno.test("client If-None-Match: an entity tag with a comma inside matches whole", async () => {
  const s = setup((clock) => () => reply("v1", { "cache-control": "max-age=60", etag: '"a,b"' }, { clock }));
  await s.get();
  const conditional = await s.get({ headers: { "if-none-match": '"x", "a,b"' } });
  assertEquals([conditional.response.status, s.origin.calls], [304, 1]);
  await s.session.close();
});

// RFC 9111 §4.3.2: without Last-Modified, If-Modified-Since is evaluated against the stored
// response's Date, not the time the cache received it.
Deno.test("client If-Modified-Since: without Last-Modified the stored Date is the modification date", async () => {
  const s = setup((clock) => () =>
    reply("v1", { "cache-control": "max-age=7200", date: new Date(clock.now - 3_600_000).toUTCString() })
  );
  await s.get();
  const since = new Date(s.clock.now - 1_800_000).toUTCString();
  const conditional = await s.get({ headers: { "if-modified-since": since } });
  assertEquals([conditional.response.status, conditional.response.fromCache, s.origin.calls], [304, true, 1]);
  await s.session.close();
});

// RFC 9111 §4.3.2: with neither Last-Modified nor a valid Date, the time the stored response was
// received is the modification date.
Deno.test("client If-Modified-Since: without Last-Modified or a valid Date the receipt time is the modification date", async () => {
  const s = setup(() => () => reply("v1", { "cache-control": "max-age=60", date: "not a date" }));
  await s.get();
  s.clock.tick(5);
  const since = new Date(s.clock.now - 2000).toUTCString();
  const conditional = await s.get({ headers: { "if-modified-since": since } });
  assertEquals([conditional.response.status, conditional.response.fromCache, s.origin.calls], [304, true, 1]);
  await s.session.close();
});

// RFC 9110 §13.1.3: a recipient ignores an If-Modified-Since that is not a valid HTTP-date: no 304
// comes of it, and the fresh stored response answers the request as if it had none. (Before: the
// request went on to the origin.)
Deno.test("client If-Modified-Since: an invalid date is ignored, and the stored response served", async () => {
  const s = setup((clock) => (_r, n) =>
    reply(`v${n}`, { "cache-control": "max-age=60", "last-modified": LAST_MODIFIED }, { clock })
  );
  await s.get();
  const conditional = await s.get({ headers: { "if-modified-since": "not a date" } });
  assertEquals([conditional.response.status, conditional.body, s.origin.calls], [200, "v1", 1]);
  await s.session.close();
});

// RFC 9110 §15.4.5: a 304 leaves out representation metadata; the cache's own 304 keeps the
// validators and drops Content-Type, -Length, -Encoding and -Language.
Deno.test("client If-None-Match: the cache's 304 carries no representation metadata", async () => {
  const s = setup((clock) => () =>
    reply("v1", {
      "cache-control": "max-age=60",
      etag: '"a"',
      "content-type": "text/plain",
      "content-length": "2",
      "content-encoding": "identity",
      "content-language": "en",
    }, { clock })
  );
  await s.get();
  const { response } = await s.get({ headers: { "if-none-match": '"a"' } });
  const names = ["content-type", "content-length", "content-encoding", "content-language"];
  assertEquals(
    [response.status, response.headers.get("etag"), ...names.map((name) => response.headers.get(name))],
    [304, '"a"', null, null, null, null],
  );
  await s.session.close();
});

// RFC 9110 §14.4: a 206's Content-Length is that of the part sent, not of the whole
// representation.
Deno.test("Range: the 206 carries the Content-Length of the part", async () => {
  const s = setup((clock) => () =>
    reply("0123456789", { "cache-control": "max-age=60", "content-length": "10" }, { clock })
  );
  await s.get();
  const r = await s.session.fetch(URL_A, { headers: { range: "bytes=2-4" } });
  assertEquals([r.status, r.headers.get("content-length"), await r.text()], [206, "3", "234"]);
  await s.session.close();
});

// RFC 9110 §14.1: range unit names are case-insensitive.
Deno.test("Range: the bytes unit is matched in any case", async () => {
  const s = setup((clock) => () => reply("0123456789", { "cache-control": "max-age=60" }, { clock }));
  await s.get();
  const r = await s.session.fetch(URL_A, { headers: { range: "Bytes=2-4" } });
  assertEquals([r.status, r.headers.get("content-range"), await r.text()], [206, "bytes 2-4/10", "234"]);
  await s.session.close();
});

// RFC 9111 §4.3.4: a 304 with a weak validator selects the stored response whose tag
// "corresponds" to it by weak comparison (RFC 9110 §8.8.3.2): W/"a" updates a stored "a" (an
// origin that compresses on the fly weakens its tags).
Deno.test("304: a weak entity tag freshens the stored response with the same strong one", async () => {
  const s = setup((clock) => (request, n) =>
    request.headers.get("if-none-match") === '"a"'
      ? reply(null, { etag: 'W/"a"', "cache-control": "max-age=600" }, { status: 304, clock })
      : reply(`v${n}`, { "cache-control": "max-age=10", etag: '"a"' }, { clock })
  );
  await s.get();
  s.clock.tick(20);
  const next = await s.get();
  assertEquals([next.body, next.response.revalidated, s.origin.calls], ["v1", true, 2]);
  await s.session.close();
});

// RFC 9111 §4.1: a stored response is selected by its own Vary. A response to a request that the
// stored one does not match, whose Vary names more or other headers, is found by the next such
// request.
Deno.test("Vary: a new response whose Vary names more or other headers than the stored one's is found again", async (t) => {
  const cases = [["Accept", "Accept, Accept-Language"], ["Accept, X-A", "Accept, X-B"]];
  for (const [before, after] of cases) {
    await t.step(`${before} -> ${after}`, async () => {
      let vary = before!;
      const s = setup((clock) => (request, n) =>
        reply(`#${n} ${request.headers.get("accept")}`, { "cache-control": "max-age=60", vary }, { clock })
      );
      await s.get({ headers: { accept: "a" } });
      vary = after!;
      const first = await s.get({ headers: { accept: "b" } });
      const again = await s.get({ headers: { accept: "b" } });
      assertEquals([first.body, again.body, again.response.fromCache, s.origin.calls], [
        "#2 b",
        "#2 b",
        true,
        2,
      ]);
      await s.session.close();
    });
  }
});

/** A session whose origin sends `0123456789` with these headers, and a ranged request to it. */
function ranged(headers: (now: number) => Record<string, string>) {
  const s = setup((clock) => () =>
    reply("0123456789", { "cache-control": "max-age=60", ...headers(clock.now) }, { clock })
  );
  const ask = async (ifRange: string) => {
    const r = await s.session.fetch(URL_A, {
      headers: { range: "bytes=5-", "if-range": ifRange },
      cache: "force-cache",
    });
    return [r.status, await r.text()];
  };
  return { s, ask };
}

// RFC 9110 §8.8.2.2: a Last-Modified is strong when the stored Date is at least one second after
// it; §13.1.5: an If-Range date equal to a strong Last-Modified gets the range.
Deno.test("If-Range: a Last-Modified exactly one second before the stored Date is strong", async () => {
  const { s, ask } = ranged((now) => ({ "last-modified": new Date(now - 1000).toUTCString() }));
  const { response } = await s.get();
  assertEquals(await ask(response.headers.get("last-modified")!), [206, "56789"]);
  await s.session.close();
});

// RFC 9110 §13.1.5: an If-Range date holds only if it "exactly matches the Last-Modified field
// value": a later date names another representation, and the whole response is sent.
Deno.test("If-Range: a date later than the stored Last-Modified gets the whole response", async () => {
  const { s, ask } = ranged((now) => ({ "last-modified": new Date(now - 3_600_000).toUTCString() }));
  await s.get();
  assertEquals(await ask(new Date(s.clock.now - 1_800_000).toUTCString()), [200, "0123456789"]);
  await s.session.close();
});

// RFC 9110 §13.1.5: an entity tag in If-Range holds only if it matches the stored tag by strong
// comparison: a stored response without one never matches.
Deno.test("If-Range: an entity tag gets the whole of a stored response that has none", async () => {
  const { s, ask } = ranged(() => ({}));
  await s.get();
  assertEquals(await ask('"a"'), [200, "0123456789"]);
  await s.session.close();
});

// RFC 9111 §4.1: a stored response is selected only by a request whose nominated header values
// match; a header stored as a digest (one named in ignoredParameters) is told apart byte for byte,
// so values that differ only in case select different responses.
Deno.test("Vary: an ignored header stored as a digest tells apart values that differ only in case", async () => {
  const s = setup(
    (clock) => (request) =>
      reply(`for ${request.headers.get("x-api-key")}`, { "cache-control": "max-age=60", vary: "x-api-key" }, {
        clock,
      }),
    { ignoredParameters: ["x-api-key"] },
  );
  const get = async (key: string) => {
    const { response, body } = await s.get({ headers: { "x-api-key": key } });
    return `${response.fromCache} ${body}`;
  };
  assertEquals([await get("alice"), await get("ALICE"), await get("ALICE")], [
    "false for alice",
    "false for ALICE",
    "true for ALICE",
  ]);
  await s.session.close();
});
