/**
 * Fourth hunt for bugs in cache keys: what a request's key is computed from, and how long its
 * caller may be kept waiting for it.
 */
import { equal } from "node:assert/strict";
import { CachedSession } from "../mod.ts";
import { origin, reply } from "./_origin.ts";

Deno.test("keys4 hunt: a caller that aborts while keyFn computes its key is not kept waiting for it", async () => {
  // A keyFn that looks a tenant up (in a database that stalls) gave a key that never came, and the
  // caller's abort was not followed while it was awaited: its fetch hung, a POST's as a GET's.
  const o = origin(() => reply("answer", { "cache-control": "max-age=600" }));
  let release!: () => void;
  const stalled = new Promise<void>((resolve) => release = resolve);
  const errors: unknown[] = [];
  const session = new CachedSession({
    fetch: o.fetch,
    allowedMethods: ["GET", "POST"],
    onError: (error) => errors.push(error),
    keyFn: async (_request, defaultKey) => {
      await stalled;
      return defaultKey();
    },
  });
  const abandoned = async (init: RequestInit) => {
    const controller = new AbortController();
    const pending = session.fetch("http://127.0.0.1/a", { ...init, signal: controller.signal });
    setTimeout(() => controller.abort(new Error("gave up")), 10);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const hung = new Promise<string>((resolve) => timer = setTimeout(() => resolve("hung"), 1000));
    try {
      return await Promise.race([
        pending.then(() => "resolved", (error) => `rejected: ${error.message}`),
        hung,
      ]);
    } finally {
      clearTimeout(timer);
    }
  };
  try {
    equal(await abandoned({}), "rejected: gave up");
    equal(await abandoned({ method: "POST", body: "q=books" }), "rejected: gave up");
    // The caller gave up: no failure of the cache, and nothing was sent.
    equal(errors.length, 0);
    equal(o.calls, 0);
  } finally {
    release();
    await session.close();
  }
});

Deno.test("keys4 hunt: a form body that starts with a byte order mark is keyed as it is, not sorted", async () => {
  // docs/cache-keys.md: a body that "starts with a byte order mark" is keyed raw. A form's was
  // sorted all the same, its mark kept in its first name: `<BOM>a=1&b=2` and `b=2&<BOM>a=1` shared
  // a key, though an origin that reads the body as text (which drops the mark) finds `a` in the
  // first alone.
  const o = origin(async (request) => {
    // (Decoded as UTF-8 text is, which drops a leading mark: Deno's `text()` of a body given as a
    // string gives that string back.)
    const form = new URLSearchParams(new TextDecoder().decode(await request.arrayBuffer()));
    return reply(`a=${form.get("a")}`, { "cache-control": "max-age=600" });
  });
  const session = new CachedSession({ fetch: o.fetch, allowedMethods: ["GET", "POST"] });
  const post = async (body: string) => {
    const response = await session.fetch("http://127.0.0.1/search", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body,
    });
    return `${response.fromCache} ${await response.text()}`;
  };
  try {
    equal(await post("\ufeffa=1&b=2"), "false a=1");
    equal(await post("b=2&\ufeffa=1"), "false a=null");
    equal(await post("\ufeffa=1&b=2"), "true a=1"); // (still stored, under its own key)
  } finally {
    await session.close();
  }
});
