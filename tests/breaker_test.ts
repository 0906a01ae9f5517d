/**
 * The circuit breaker's states, on a clock of the test's own: three failed calls in a row start a
 * rest, a rest ends with one probe, a failed probe doubles the rest up to its longest, a probe
 * that never settles is given up, and any success ends the rest. (tests/fail_open_test.ts shows
 * the session's two breakers, for reads and for writes, against a real Redis.)
 */
import { equal } from "node:assert/strict";
import { Breaker, FAILURES_IN_A_ROW, FIRST_REST, LONGEST_REST } from "../src/breaker.ts";

function breaker() {
  const clock = { now: 0 };
  return { clock, breaker: new Breaker(() => clock.now) };
}

function failInARow(breaker: Breaker, times = FAILURES_IN_A_ROW): void {
  for (let i = 0; i < times; i++) breaker.failed(breaker.ask());
}

Deno.test("breaker: it rests only after three failures in a row; a success between them starts the count again", () => {
  const { breaker: b } = breaker();
  failInARow(b, FAILURES_IN_A_ROW - 1);
  b.passed();
  failInARow(b, FAILURES_IN_A_ROW - 1);
  equal(b.working, true);
  equal(b.ask(), "call");
  b.failed("call");
  equal(b.working, false, "the third failure in a row");
  equal(b.ask(), undefined, "no read while it rests");
});

Deno.test("breaker: once the rest is over, one read goes as the probe; a success ends the rest", () => {
  const { clock, breaker: b } = breaker();
  failInARow(b);
  clock.now = FIRST_REST - 1;
  equal(b.ask(), undefined);
  clock.now = FIRST_REST;
  equal(b.ask(), "probe");
  equal(b.ask(), undefined, "one probe at a time");
  equal(b.working, false);
  b.passed();
  equal(b.working, true);
  equal(b.ask(), "call");
});

Deno.test("breaker: each failed probe doubles the rest, up to the longest", () => {
  const { clock, breaker: b } = breaker();
  failInARow(b);
  clock.now = FIRST_REST;
  for (const rest of [2000, 4000, 8000, LONGEST_REST, LONGEST_REST]) {
    equal(b.ask(), "probe");
    b.failed("probe");
    const failedAt = clock.now;
    clock.now = failedAt + rest - 1;
    equal(b.ask(), undefined, `still resting ${rest - 1} ms after the failed probe`);
    clock.now = failedAt + rest;
  }
  equal(b.ask(), "probe");
});

Deno.test("breaker: a call made before the rest that fails during it changes nothing; one that succeeds ends it", () => {
  const { clock, breaker: b } = breaker();
  const late = b.ask();
  failInARow(b);
  b.failed(late);
  clock.now = FIRST_REST;
  equal(b.ask(), "probe", "the rest did not grow");
  b.failed("probe");
  equal(b.working, false);
  b.passed();
  equal(b.working, true, "any success ends the rest");
});

Deno.test("breaker: a probe that fails after a success ended the rest counts as one failure in a row", () => {
  const { clock, breaker: b } = breaker();
  failInARow(b);
  clock.now = FIRST_REST;
  equal(b.ask(), "probe");
  b.passed();
  b.failed("probe");
  equal(b.working, true);
  failInARow(b, FAILURES_IN_A_ROW - 1);
  equal(b.working, false);
});

Deno.test("breaker: a probe that never settles is given up after the longest rest, and another goes", () => {
  const { clock, breaker: b } = breaker();
  failInARow(b);
  clock.now = FIRST_REST;
  equal(b.ask(), "probe"); // ... a custom storage's promise that never settles
  clock.now = FIRST_REST + LONGEST_REST - 1;
  equal(b.ask(), undefined);
  clock.now = FIRST_REST + LONGEST_REST;
  equal(b.ask(), "probe");
  b.passed();
  equal(b.working, true);
});

Deno.test("breaker: a probe dropped before it made its call lets the next call go as the probe", () => {
  const { clock, breaker: b } = breaker();
  failInARow(b);
  clock.now = FIRST_REST;
  equal(b.ask(), "probe");
  b.dropped("probe");
  equal(b.ask(), "probe");
  b.dropped("call"); // (a call that was no probe changes nothing)
  equal(b.ask(), undefined);
});

Deno.test("breaker: the rests are 1, 2, 4, 8 and then 10 seconds, as documented", () => {
  const { clock, breaker: b } = breaker();
  failInARow(b);
  let restStart = 0;
  for (const rest of [1000, 2000, 4000, 8000, 10_000, 10_000]) {
    clock.now = restStart + rest - 1;
    equal(b.ask(), undefined, `still resting ${rest - 1} ms into a ${rest} ms rest`);
    clock.now = restStart + rest;
    equal(b.ask(), "probe", `the ${rest} ms rest is over`);
    b.failed("probe");
    restStart = clock.now;
  }
});

Deno.test("breaker: after a probe succeeded, the next rest ends with a probe on time, not one longest rest after the old probe", () => {
  const { clock, breaker: b } = breaker();
  failInARow(b);
  clock.now = FIRST_REST;
  equal(b.ask(), "probe");
  b.passed();
  failInARow(b); // a new outage, right away
  equal(b.working, false);
  clock.now = 2 * FIRST_REST;
  equal(b.ask(), "probe", "the new rest is over");
});

Deno.test("breaker: a call made before the rest that fails later in it does not restart the rest", () => {
  const { clock, breaker: b } = breaker();
  const late = b.ask();
  failInARow(b);
  clock.now = FIRST_REST / 2;
  b.failed(late);
  clock.now = FIRST_REST;
  equal(b.ask(), "probe", "the rest ends when it was to");
});
