/**
 * Fourth hunt for bugs in privacy: the cache never serves one user's response to another, and no
 * credential reaches the backend, an error or a report in clear.
 */
import { equal } from "node:assert/strict";
import { CachedSession } from "../mod.ts";
import { reply } from "./_origin.ts";
import { scripted } from "./_scripted.ts";

const FRESH = { "cache-control": "max-age=600" };

/**
 * A session over a `fetch` that answers each URL with the user its userinfo names (as an origin
 * that reads `Authorization: Basic` would). It reads the URL itself: Node's `Request` refuses one
 * with userinfo.
 */
function userinfoSession(): { session: CachedSession; calls: () => number } {
  let calls = 0;
  const fetch = ((input: RequestInfo | URL) => {
    calls++;
    const url = new URL(input instanceof Request ? input.url : String(input));
    return Promise.resolve(reply(`for ${url.username}`, FRESH));
  }) as typeof globalThis.fetch;
  return { session: new CachedSession({ fetch }), calls: () => calls };
}

// Was wrong: the check of a GET or HEAD with a body threw a TypeError that named the URL with its
// password, which a caller's log then holds (Deno's and Bun's own name no URL).
Deno.test("privacy4 hunt: a GET with a body is refused by an error that names its URL without the password", async () => {
  const { session, calls } = userinfoSession();
  try {
    for (const method of ["GET", "HEAD"]) {
      const message = await session.fetch("http://alice:secret@127.0.0.1/a", { method, body: "x" }).then(
        () => "resolved",
        (error: Error) => `${error.name}: ${error.message}`,
      );
      equal(message, `TypeError: Cannot fetch http://127.0.0.1/a: a ${method} request cannot have a body`);
    }
    equal(calls(), 0);
  } finally {
    await session.close();
  }
});

// Was wrong on Node: the members of an init that the cache checks by building a `Request`
// (`credentials`, `mode`, `referrer`, a method of its own…) were checked with the URL's userinfo,
// which Node's `Request` refuses: the session threw Node's TypeError, naming the password, for a
// request its `fetch` option answers (it does without those members).
Deno.test("privacy4 hunt: an init's credentials or mode do not make a URL with userinfo fail where the fetch option takes it", async () => {
  const { session, calls } = userinfoSession();
  try {
    const inits = [{}, { credentials: "omit" }, { credentials: "include" }, { mode: "cors" }, {
      referrer: "",
    }];
    const served: string[] = [];
    for (const init of inits as RequestInit[]) {
      served.push(
        await session.fetch("http://alice:secret@127.0.0.1/a", init).then(
          async (response) => `${response.fromCache} ${await response.text()}`,
          (error: Error) => `${error.name}: ${error.message}`,
        ),
      );
    }
    equal(served.join("\n"), ["false for alice", ...Array(4).fill("true for alice")].join("\n"));
    equal(calls(), 1);
  } finally {
    await session.close();
  }
});

// Was wrong: a 304 (or a HEAD response) that sent a Cache-Control of its own, which did not repeat
// the stored response's `private="x-user"`, had its X-User stored in a shared cache, and served to
// every user after (the stored directive was read only when the 304 sent no Cache-Control).
for (const freshener of ["304", "HEAD"]) {
  Deno.test(`privacy4 hunt: in a shared cache, a field the stored response keeps private stays out when a ${freshener} with its own Cache-Control sends it`, async () => {
    for (
      const [cc, options] of [['private="x-user"', { shared: true }], ['no-cache="x-user"', {}]] as const
    ) {
      const s = scripted(
        (clock) => (request, n) =>
          n === 1
            ? reply("v1", { "cache-control": `max-age=0, ${cc}`, etag: '"a"', "x-user": "alice" }, { clock })
            : reply(null, {
              "cache-control": "max-age=600",
              etag: '"a"',
              "x-user": "bob",
              "content-length": "2",
            }, {
              status: request.method === "HEAD" ? 200 : 304,
              clock,
            }),
        options,
      );
      try {
        equal((await s.get()).response.headers.get("x-user"), "alice"); // the network's own
        s.clock.tick(5);
        const freshened = await s.get(freshener === "HEAD" ? { method: "HEAD" } : undefined);
        equal(freshened.response.fromCache, freshener === "304", cc);
        const hit = await s.get();
        equal(hit.response.fromCache, true, cc);
        equal(hit.body, "v1", cc);
        equal(hit.response.headers.get("cache-control"), "max-age=600", cc); // freshened
        equal(hit.response.headers.get("x-user"), null, cc);
        equal(s.origin.calls, 2, cc);
      } finally {
        await s.session.close();
      }
    }
  });
}

// Was wrong: a Location that is no URL was quoted whole in the error, the password it names too,
// which onError (of a background refresh) and the console hear.
Deno.test("privacy4 hunt: the error of a Location that is no URL does not quote the password it names", async () => {
  const fetch = () =>
    Promise.resolve(reply("moved", { location: "http://bob:hunter2@[::1/next" }, { status: 302 }));
  const session = new CachedSession({ fetch });
  try {
    const message = await session.fetch("http://127.0.0.1/a").then(
      () => "resolved",
      (error: Error) => `${error.name}: ${error.message}`,
    );
    equal(
      message,
      "TypeError: Cannot follow the redirect of http://127.0.0.1/a: Location http://bob:***@[::1/next is not a URL",
    );
  } finally {
    await session.close();
  }
});
