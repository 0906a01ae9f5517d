/**
 * Hunt for bugs in cache keys and in who may be served what: credentials, shared sessions,
 * ignoredParameters (in keys and in what is stored), POST bodies, matchHeaders and URL forms.
 */
import { equal, ok } from "node:assert/strict";
import { MemoryBackend } from "../backends/memory.ts";
import { CachedSession, createCacheKey } from "../mod.ts";
import { origin, reply } from "./_origin.ts";

/** Every record a memory backend holds, as text (to look for a secret at rest). */
async function storedText(session: CachedSession): Promise<string> {
  const texts: string[] = [];
  for await (const entry of session.cache.entries()) {
    texts.push(JSON.stringify({ ...entry.entry, body: undefined }));
  }
  return texts.join("\n");
}

Deno.test("keys hunt: a 304 whose Content-Location names an ignored parameter does not store it", async () => {
  // RFC 9110 §15.4.5: a 304 sends the Content-Location a 200 would. An origin echoing the request
  // URL in it gives the secret of whoever revalidated; docs/cache-keys.md: such a response "is not
  // stored", and ignoredParameters are "removed from everything stored".
  const o = origin((request) => {
    const { pathname, search } = new URL(request.url);
    if (request.headers.get("if-none-match") === '"v1"') {
      return reply(null, {
        etag: '"v1"',
        "cache-control": "max-age=600",
        "content-location": pathname + search,
      }, {
        status: 304,
      });
    }
    return reply("report", { etag: '"v1"', "cache-control": "max-age=0" });
  });
  const session = new CachedSession({
    backend: new MemoryBackend(),
    fetch: o.fetch,
    ignoredParameters: ["api_key"],
  });
  try {
    const get = async (key: string) => {
      const response = await session.fetch(`http://127.0.0.1/report?api_key=${key}&page=1`);
      await response.text();
      return response;
    };
    await get("SECRET-KEY-A"); // stored, no Content-Location
    await get("SECRET-KEY-A"); // revalidated: the 304 echoes A's key
    const b = await get("SECRET-KEY-B");
    // User B is never handed user A's key.
    ok(
      !(b.headers.get("content-location") ?? "").includes("SECRET-KEY-A"),
      b.headers.get("content-location") ?? "",
    );
    ok(!(await storedText(session)).includes("SECRET-KEY"), "a secret is at rest");
  } finally {
    await session.close();
  }
});

Deno.test("keys hunt: an ignored JSON field whose value is an object or array is left out of the key", async () => {
  // docs/cache-keys.md: ignoredParameters are removed from JSON bodies (top-level fields); only a
  // number written otherwise or a key given twice keeps a body raw. An object or array under an
  // ignored field is neither, yet its members went uncounted and the body was keyed raw.
  const o = origin(() => reply("answer", { "cache-control": "max-age=600" }));
  const session = new CachedSession({
    fetch: o.fetch,
    allowedMethods: ["GET", "POST"],
    ignoredParameters: ["auth"],
  });
  const post = async (auth: unknown) => {
    const response = await session.fetch("http://127.0.0.1/query", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ auth, q: "books" }),
    });
    await response.text();
    return response.fromCache;
  };
  try {
    equal(await post({ token: "SECRET-A" }), false);
    equal(await post({ token: "SECRET-B" }), true);
    equal(await post([{ token: "SECRET-C" }]), true);
    equal(o.calls, 1);
  } finally {
    await session.close();
  }
});

Deno.test("keys hunt: a POST body given as a stream is keyed whole and still reaches the origin whole", async () => {
  const received: string[] = [];
  const o = origin(async (request) => {
    const text = await request.text();
    received.push(text);
    return reply(`got ${text}`, { "cache-control": "max-age=600" });
  });
  const session = new CachedSession({ fetch: o.fetch, allowedMethods: ["GET", "POST"] });
  const encoder = new TextEncoder();
  // In two chunks: a key taken from the first chunk alone would merge the two bodies.
  const stream = (text: string) =>
    new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode(text.slice(0, 6)));
        controller.enqueue(encoder.encode(text.slice(6)));
        controller.close();
      },
    });
  const post = async (text: string, asRequest: boolean) => {
    const init = { method: "POST", body: stream(text), duplex: "half" } as RequestInit;
    const response = asRequest
      ? await session.fetch(new Request("http://127.0.0.1/search", init))
      : await session.fetch("http://127.0.0.1/search", init);
    return `${response.fromCache} ${await response.text()}`;
  };
  try {
    equal(await post("hello world", false), "false got hello world");
    equal(await post("hello world", true), "true got hello world");
    equal(await post("hello there", true), "false got hello there");
    equal(await post("hello there", false), "true got hello there");
    equal(received.join("|"), "hello world|hello there");
  } finally {
    await session.close();
  }
});

Deno.test("keys hunt: a raw body never shares a key with a multipart form whose keyed framing it spells", async () => {
  // docs/cache-keys.md: "A key never merges two requests that an origin could tell apart by their
  // bytes". A multipart form is keyed as its parts, each as its length and its bytes: a text body
  // of exactly those bytes is no form, and not the form's bytes, yet it got the form's key.
  const part = '\r\nContent-Disposition: form-data; name="q"\r\n\r\nbooks';
  const form = `--XYZ${part}\r\n--XYZ--\r\n`;
  const framing = `0:${part.length}:${part}4:--\r\n`;
  const options = { ignoredParameters: new Set<string>(), matchHeaders: [] };
  const key = (body: string, type: string) =>
    createCacheKey({
      method: "POST",
      url: new URL("http://127.0.0.1/search"),
      headers: new Headers({ "content-type": type }),
      body: new TextEncoder().encode(body),
    }, options);
  const formKey = await key(form, "multipart/form-data; boundary=XYZ");
  // (The framing is what the key holds: another boundary gives the same key.)
  equal(await key(form.replaceAll("XYZ", "ABC"), "multipart/form-data; boundary=ABC"), formKey);
  ok(formKey !== await key(framing, "text/plain"));
  ok(formKey !== await key(framing, "application/octet-stream"));
});

Deno.test("keys hunt: a HEAD response whose Content-Location names an ignored parameter does not freshen the GET's entry with it", async () => {
  // RFC 9111 §4.3.5: a HEAD response freshens the stored GET response; its fields are stored.
  const o = origin((request) => {
    const { pathname, search } = new URL(request.url);
    if (request.method === "HEAD") {
      return reply(null, {
        etag: '"v1"',
        "cache-control": "max-age=600",
        "content-location": pathname + search,
      });
    }
    return reply("report", { etag: '"v1"', "cache-control": "max-age=0" });
  });
  const session = new CachedSession({ fetch: o.fetch, ignoredParameters: ["api_key"] });
  try {
    await (await session.fetch("http://127.0.0.1/report?api_key=SECRET-KEY-A")).text();
    await (await session.fetch("http://127.0.0.1/report?api_key=SECRET-KEY-A", { method: "HEAD" })).text();
    const b = await session.fetch("http://127.0.0.1/report?api_key=SECRET-KEY-B");
    await b.text();
    equal(b.headers.get("content-location"), null);
  } finally {
    await session.close();
  }
});
