/**
 * Requests that carry their own validators (RFC 9111 §4.3.2, RFC 9110 §13), third pass: what a
 * usable stored response answers when the caller's condition sent the request to the origin, and
 * an `If-None-Match` that lists nothing.
 */
import { assertEquals } from "./_assert.ts";
import { reply } from "./_origin.ts";
import { scripted } from "./_scripted.ts";

const LAST_MODIFIED = "Mon, 01 Jan 2024 00:00:00 GMT";

/** A session whose origin sends `v<n>` with an ETag and a Last-Modified, and fails while `down`. */
function flaky(cacheControl: string) {
  const state = { down: undefined as "error" | "503" | undefined };
  const s = scripted((clock) => (_request, n) => {
    if (state.down === "error") throw new TypeError("connection refused");
    if (state.down === "503") return reply("down", {}, { status: 503, clock });
    const headers = { "cache-control": cacheControl, etag: `"v${n}"`, "last-modified": LAST_MODIFIED };
    return reply(`v${n}`, headers, { clock });
  });
  return { ...s, state };
}

/** What a request gets: status, body and whether from the cache, or the error it rejects with. */
async function outcome(s: ReturnType<typeof flaky>, headers: Record<string, string>): Promise<unknown> {
  try {
    const { response, body } = await s.get({ headers });
    return [response.status, body, response.fromCache];
  } catch (error) {
    return String(error);
  }
}

/** Stored responses that a plain request takes as they are, and how old they are then. */
const USABLE = [["max-age=600", 0], ["max-age=10, stale-while-revalidate=600", 20]] as const;

const OTHER_COPY: Record<string, string>[] = [
  { "if-none-match": '"v0"' },
  { "if-modified-since": "Sun, 01 Jan 2023 00:00:00 GMT" },
];

// RFC 9111 §4: a fresh stored response may answer the request; RFC 9110 §13.1.1: a condition that
// names another copy is false for it, and the request is performed as if it had none. The cache
// asks the origin about the caller's copy (it may be newer than the stored one), but while the
// origin was down (or sent a 503) the caller got the failure, though a plain request got the
// stored response and the stored response was a right answer to this one too. Only a
// stale-if-error window served it.
Deno.test("a request whose own condition names another copy than the usable stored response gets that response when the origin fails", async (t) => {
  for (const down of ["error", "503"] as const) {
    for (const headers of OTHER_COPY) {
      await t.step(`${down} ${JSON.stringify(headers)}`, async () => {
        // Fresh, and stale within a stale-while-revalidate window: a plain request takes either.
        for (const [cacheControl, age] of USABLE) {
          const s = flaky(cacheControl);
          await s.get();
          s.clock.tick(age);
          s.state.down = down;
          assertEquals(await outcome(s, headers), [200, "v1", true], cacheControl);
          await s.session.close();
        }
        // A stale one, with no window to serve it on an error, is not (nor one the request's own
        // max-age=0 would not take).
        const stale = flaky("max-age=10");
        await stale.get();
        stale.clock.tick(20);
        stale.state.down = down;
        const failed = down === "error" ? "TypeError: connection refused" : [503, "down", false];
        assertEquals(await outcome(stale, headers), failed);
        assertEquals(await outcome(stale, { ...headers, "cache-control": "max-age=0" }), failed);
        await stale.session.close();
        const young = flaky("max-age=600");
        await young.get();
        young.clock.tick(5);
        young.state.down = down;
        assertEquals(await outcome(young, { ...headers, "cache-control": "max-age=0" }), failed);
        await young.session.close();
      });
    }
  }
});

// (Also kills src/request.ts's `/[^\s,]/` made `/[^,]/`, and an `&& ifNoneMatch !== ""` added:
// helper-222's mutants, whose own test this was.)
// RFC 9110 §13.1.2 with §5.6.1: an If-None-Match that lists no entity tag (code that sends
// `etag ?? ""`) names no copy: it holds, and the request is performed as if it had none (an
// If-Modified-Since beside it is ignored, §13.1.3). Every such request went to the origin, which
// sent the whole response again, though a fresh stored response answered it.
Deno.test("a request with an empty If-None-Match is answered from the fresh stored response, whole", async () => {
  const s = flaky("max-age=600");
  await s.get();
  // (Blanks and commas alone list nothing either; an empty one leaves no say to the If-Modified-Since
  // beside it, which would else answer 304.)
  const empty: Record<string, string>[] = [
    { "if-none-match": "" },
    { "if-none-match": " , ", "if-modified-since": LAST_MODIFIED },
    { "if-none-match": ", \t," },
    { "if-none-match": "", "if-modified-since": LAST_MODIFIED },
  ];
  for (const headers of empty) {
    const { response, body } = await s.get({ headers });
    assertEquals(
      [response.status, body, response.fromCache, s.origin.calls],
      [200, "v1", true, 1],
      JSON.stringify(headers),
    );
  }
  // (One that names the stored copy gets a 304.)
  assertEquals((await s.get({ headers: { "if-none-match": '"v1"' } })).response.status, 304);
  await s.session.close();
});
