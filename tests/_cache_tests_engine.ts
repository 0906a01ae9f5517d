/**
 * A small engine for table-driven HTTP cache conformance cases, in the spirit of the external
 * http-tests/cache-tests suite (its cases are re-expressed here, not copied): each case is a list
 * of steps; a step is one request through a {@linkcode CachedSession} and, when it reaches the
 * origin, the response the scripted origin gives. Time is an injected clock; nothing sleeps.
 *
 * @module
 */

import { assert, assertEquals } from "./_assert.ts";
import { CachedSession, type CachedSessionOptions } from "../mod.ts";
import { Clock, origin, settle } from "./_origin.ts";

/** A header for the origin to send; a number in a date field is seconds from the origin's now. */
export type OriginHeader = readonly [string, string | number];

/** What a step expects of the cache. */
export type Expectation =
  | "cached" // the response was produced by the origin for an earlier step
  | "not_cached" // the origin saw it and its new response was used
  | "etag_validated" // the origin saw If-None-Match
  | "lm_validated" // the origin saw If-Modified-Since
  | "error"; // the fetch rejects

/** One request of a case. */
export interface Step {
  /** Request URL path, overriding the case's. */
  path?: string;
  method?: string;
  requestHeaders?: readonly (readonly [string, string])[];
  /** The origin's status for this request (default 200). */
  status?: number;
  /** The origin's header fields (a `Date` of now is added when absent, as servers do). */
  headers?: readonly OriginHeader[];
  /** The origin's body (default `"body <step>"`; none for 204 and 304). */
  body?: string;
  /** The origin fails with a network error. */
  networkError?: boolean;
  /** Seconds the clock moves after this step. */
  wait?: number;
  expect?: Expectation;
  /** Expected status of the response the caller gets (default: the origin's status). */
  expectStatus?: number;
  expectBody?: string;
  /** `[name, value]`, `[name, ">", n]` (numeric greater than), or `[name, "=", step]` (as sent then). */
  expectHeaders?:
    readonly (readonly [string, string] | readonly [string, ">", number] | readonly [string, "=", number])[];
  expectMissing?: readonly string[];
  /** Header fields the origin must have received for this request. */
  expectRequestHeaders?: readonly (readonly [string, string])[];
}

/** A conformance case. */
export interface PortCase {
  /** The suite's test id this case re-expresses. */
  id: string;
  /** `required`/`optimal` as the suite says; `deviation` asserts where this cache deliberately differs. */
  kind: "required" | "optimal" | "deviation";
  /** Run for one cache type only (default: both). */
  only?: "private" | "shared";
  options?: CachedSessionOptions;
  /** Request URL path (default `/resource`). */
  path?: string;
  steps: readonly Step[];
}

const BASE = "http://127.0.0.1:9";
const DATE_FIELDS = new Set(["date", "expires", "last-modified", "if-modified-since"]);
const NO_BODY = new Set([204, 304]);

/**
 * Registers one `Deno.test` per case and cache type.
 *
 * @param group The suite area, used in test names.
 * @param cases The cases.
 */
export function registerCases(group: string, cases: readonly PortCase[]): void {
  for (const c of cases) {
    for (const type of ["private", "shared"] as const) {
      if (c.only !== undefined && c.only !== type) continue;
      Deno.test(`cache-tests ${group}: ${c.id} (${c.kind}, ${type})`, () => runCase(c, type === "shared"));
    }
  }
}

/**
 * Runs one case against a fresh session.
 *
 * @param c The case.
 * @param shared Whether the session is a shared cache.
 */
export async function runCase(c: PortCase, shared: boolean): Promise<void> {
  const clock = new Clock();
  const sent: Headers[] = [];
  const seen: { step: number; request: Request }[] = [];
  const o = origin((request) => {
    const index = Number(request.headers.get("x-step"));
    const step = c.steps[index]!;
    seen.push({ step: index, request });
    if (step.networkError) throw new TypeError("connection closed");
    const headers = render(step.headers ?? [], clock);
    headers.set("x-origin-step", String(index));
    sent[index] = headers;
    let status = step.status ?? 200;
    const previous = sent[index - 1];
    if (step.expect?.endsWith("validated") && previous !== undefined && isConditionalFor(request, previous)) {
      status = 304;
    }
    const body = NO_BODY.has(status) || request.method === "HEAD" ? null : step.body ?? `body ${index}`;
    return new Response(body, { status, headers });
  });
  const session = new CachedSession({ fetch: o.fetch, now: clock.fn, shared, ...c.options });
  try {
    for (const [index, step] of c.steps.entries()) {
      await runStep(session, c, index, step, { seen, sent });
      clock.tick(step.wait ?? 0);
    }
  } finally {
    await session.close();
  }
}

async function runStep(
  session: CachedSession,
  c: PortCase,
  index: number,
  step: Step,
  origin: { seen: { step: number; request: Request }[]; sent: Headers[] },
): Promise<void> {
  const label = `${c.id} step ${index}`;
  const headers = new Headers();
  for (const [name, value] of step.requestHeaders ?? []) headers.append(name, value);
  headers.set("x-step", String(index));
  const path = step.path ?? c.path ?? "/resource";
  const call = session.fetch(`${BASE}${path}`, { method: step.method ?? "GET", headers });
  if (step.expect === "error") {
    const failed = await call.then(() => false, () => true);
    assert(failed, `${label}: the fetch should reject`);
    return;
  }
  const response = await call;
  const text = await response.text();
  await settle();
  const reached = origin.seen.filter((s) => s.step === index);
  const request = reached.at(-1)?.request;
  const producedFor = Number(response.headers.get("x-origin-step"));
  if (step.expect === "cached") assert(producedFor < index, `${label}: should come from the cache`);
  if (step.expect === "not_cached") {
    assert(request !== undefined, `${label}: should reach the origin`);
    assertEquals(producedFor, index, `${label}: should use the new response`);
  }
  if (step.expect === "etag_validated" || step.expect === "lm_validated") {
    const field = step.expect === "etag_validated" ? "if-none-match" : "if-modified-since";
    assert(request?.headers.has(field), `${label}: the origin should get ${field}`);
  }
  assertEquals(
    response.status,
    step.expectStatus ?? (step.expect === "cached" ? response.status : step.status ?? 200),
  );
  if (step.expectBody !== undefined) assertEquals(text, step.expectBody, `${label}: body`);
  for (const [name, value, operand] of step.expectHeaders ?? []) {
    const actual = response.headers.get(name);
    if (value === ">") {
      assert(Number(actual) > (operand as number), `${label}: ${name} ${actual} > ${operand}`);
    } else if (value === "=") {
      assertEquals(actual, origin.sent[operand as number]?.get(name), `${label}: ${name}`);
    } else assertEquals(actual, value, `${label}: ${name}`);
  }
  for (const name of step.expectMissing ?? []) {
    assertEquals(response.headers.get(name), null, `${label}: ${name} should be missing`);
  }
  for (const [name, value] of step.expectRequestHeaders ?? []) {
    assertEquals(request?.headers.get(name), value, `${label}: request ${name}`);
  }
}

/** Builds the origin's header fields, turning relative seconds in date fields into HTTP dates. */
function render(fields: readonly OriginHeader[], clock: Clock): Headers {
  const headers = new Headers();
  for (const [name, value] of fields) {
    const text = typeof value === "number" && DATE_FIELDS.has(name.toLowerCase())
      ? new Date(clock.now + value * 1000).toUTCString()
      : String(value);
    headers.append(name, text);
  }
  if (!headers.has("date")) headers.set("date", new Date(clock.now).toUTCString());
  return headers;
}

/** Whether a request carries exactly the validators of an earlier response (the origin's 304 test). */
function isConditionalFor(request: Request, previous: Headers): boolean {
  const etag = previous.get("etag");
  const lastModified = previous.get("last-modified");
  return (etag !== null && request.headers.get("if-none-match") === etag) ||
    (lastModified !== null && request.headers.get("if-modified-since") === lastModified);
}
