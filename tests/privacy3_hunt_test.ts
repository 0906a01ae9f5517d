/**
 * Third hunt for bugs in privacy: the cache never serves one user's response to another.
 */
import { equal } from "node:assert/strict";
import { followingSession } from "./_scripted.ts";

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
