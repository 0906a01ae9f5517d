/**
 * Test doubles that are not mocks of anything we ship: a scripted origin (a fetch-shaped
 * function that records every request) and a clock that tests move by hand.
 *
 * @module
 */

/** A response script: what the origin answers to the n-th request (1-based). */
export type Script = (request: Request, n: number) => Response | Promise<Response>;

/** A fetch-shaped origin that records its requests. */
export interface Origin {
  fetch: typeof fetch;
  /** Every request the origin received, in order. */
  requests: Request[];
  /** How many requests it received. */
  readonly calls: number;
}

/**
 * Creates a scripted origin.
 *
 * @param script Answers each request.
 * @returns The origin.
 */
export function origin(script: Script): Origin {
  const requests: Request[] = [];
  return {
    requests,
    get calls() {
      return requests.length;
    },
    fetch: async (input: RequestInfo | URL, init?: RequestInit) => {
      const request = new Request(input, init);
      requests.push(request);
      const response = await script(request, requests.length);
      if (response.url === "") Object.defineProperty(response, "url", { value: request.url });
      return response;
    },
  };
}

/**
 * A response as a real origin would send it, with `Date` set from the clock.
 *
 * @param body Body text.
 * @param headers Response headers.
 * @param init Status and the clock.
 * @returns The response.
 */
export function reply(
  body: string | Uint8Array | null,
  headers: Record<string, string> = {},
  init: { status?: number; clock?: Clock } = {},
): Response {
  const all = new Headers(headers);
  if (init.clock && !all.has("date")) all.set("date", httpDate(init.clock.now));
  return new Response(body as BodyInit | null, { status: init.status ?? 200, headers: all });
}

/**
 * An HTTP date (IMF-fixdate).
 *
 * @param ms Epoch milliseconds.
 * @param offsetSeconds Seconds to add.
 * @returns The date as a header field value.
 */
export function httpDate(ms: number, offsetSeconds = 0): string {
  return new Date(ms + offsetSeconds * 1000).toUTCString();
}

/**
 * A response as `fetch` gives it after following redirects to `url`.
 *
 * @param response The response of the last step.
 * @param url Where the redirects led: a URL, or a path on http://127.0.0.1.
 * @returns The same response, with that `url` and `redirected` set.
 */
export function reached(response: Response, url: string): Response {
  return Object.defineProperties(response, {
    url: { value: new URL(url, "http://127.0.0.1").href },
    redirected: { value: true },
  });
}

/**
 * A fetch-shaped origin of an unstored feed (`no-store`): its body gives `[1, 2, 3]`, then waits,
 * and fails with the reason of the request's signal once that signal aborts.
 *
 * @returns The fetch, and the signal the cache gave its last request (once it has asked).
 */
export function abortableFeed(): { fetch: typeof fetch; signal: () => AbortSignal | undefined } {
  let signal: AbortSignal | undefined;
  const fetch = (_input: RequestInfo | URL, init?: RequestInit) => {
    const given = signal = init!.signal!;
    const body = new ReadableStream<Uint8Array>({
      start(stream) {
        stream.enqueue(new Uint8Array([1, 2, 3]));
        given.addEventListener("abort", () => stream.error(given.reason));
      },
    });
    return Promise.resolve(new Response(body, { headers: { "cache-control": "no-store" } }));
  };
  return { fetch: fetch as typeof globalThis.fetch, signal: () => signal };
}

/** A clock that moves only when told. */
export class Clock {
  /**
   * Current time, epoch ms: the real present rounded to a whole second (so HTTP dates round-trip).
   * It starts at the real time because storages expire records natively on the real clock.
   */
  now: number = Math.floor(Date.now() / 1000) * 1000;
  /** The clock as a `now()` function. */
  readonly fn = (): number => this.now;

  /**
   * Moves the clock forward.
   *
   * @param seconds How far.
   */
  tick(seconds: number): void {
    this.now += seconds * 1000;
  }
}

/** Resolves once all queued microtasks and pending background writes had a chance to run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
