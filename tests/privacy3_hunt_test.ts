/**
 * Third hunt for bugs in privacy: the cache never serves one user's response to another.
 */
import { equal } from "node:assert/strict";
import { CachedSession } from "../mod.ts";
import { reached, reply } from "./_origin.ts";

const FRESH = { "cache-control": "max-age=600" };

/**
 * A session over a `fetch` that follows redirects itself (as a custom one may, whatever it is
 * asked): `/a` redirects to where `location(url)` says, with the userinfo `fetch` sends there, and
 * every URL answers with the userinfo it was asked with, as an origin that reads
 * `Authorization: Basic` would. It reads the URL itself: Node's and Bun's `Request` refuse userinfo.
 */
function followingSession(location: (url: URL) => string) {
  let calls = 0;
  const fetch = ((input: RequestInfo | URL) => {
    calls++;
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.pathname !== "/a") return Promise.resolve(reply(`b for ${url.username}:${url.password}`, FRESH));
    const to = new URL(location(url));
    return Promise.resolve(reached(reply(`b for ${to.username}:${to.password}`, FRESH), to.href));
  }) as typeof globalThis.fetch;
  const session = new CachedSession({ fetch });
  const get = async (url: string) => {
    const response = await session.fetch(url);
    return `${response.fromCache} ${await response.text()}`;
  };
  return { session, get, calls: () => calls };
}

// Was wrong: the alias from where fetch's redirects led was keyed without the request's userinfo,
// which fetch sends on to a relative Location (Deno, Bun): what alice got there was served to
// anyone who asked for that URL without credentials.
Deno.test("privacy3 hunt: what a fetch followed from a URL with userinfo is never served through its alias to a request without it", async () => {
  const { session, get, calls } = followingSession((url) => new URL("/b", url).href);
  try {
    equal(await get("http://alice:secret@127.0.0.1/a"), "false b for alice:secret");
    // Its alias leads alice there, and nobody else.
    equal(await get("http://alice:secret@127.0.0.1/b"), "true b for alice:secret");
    equal(await get("http://alice:secret@127.0.0.1/a"), "true b for alice:secret");
    equal(await get("http://127.0.0.1/b"), "false b for :");
    equal(await get("http://bob:other@127.0.0.1/b"), "false b for bob:other");
    equal(calls(), 3);
  } finally {
    await session.close();
  }
});

// Was wrong: a Location that names credentials of its own (Deno's fetch sends them on) led to bob's
// response, stored at a URL without userinfo, and its alias served it to requests without them.
Deno.test("privacy3 hunt: what a fetch reached at a URL with another's userinfo is never served through its alias", async () => {
  const { session, get, calls } = followingSession(() => "http://bob:pw@127.0.0.1/b");
  try {
    equal(await get("http://127.0.0.1/a"), "false b for bob:pw");
    equal(await get("http://127.0.0.1/b"), "false b for :");
    equal(await get("http://127.0.0.1/a"), "false b for bob:pw"); // not stored
    equal(calls(), 3);
  } finally {
    await session.close();
  }
});
