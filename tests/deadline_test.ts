import { equal, ok, rejects } from "node:assert/strict";
import { Deadlines } from "../src/deadline.ts";

Deno.test("deadlines: answers pass through, errors too, and only the late are given up on", async () => {
  const deadlines = new Deadlines(40);
  const timers: ReturnType<typeof setTimeout>[] = [];
  const after = <T>(ms: number, value: T) =>
    new Promise<T>((resolve) => timers.push(setTimeout(() => resolve(value), ms)));
  const late = () => new Error("late");
  const started = Date.now();
  const [fast, failed, slow] = await Promise.allSettled([
    deadlines.race(after(5, "fast"), late),
    deadlines.race(Promise.reject(new TypeError("refused")), late),
    deadlines.race(after(1_000, "slow"), late),
  ]);
  const elapsed = Date.now() - started;
  timers.forEach(clearTimeout);
  equal(fast.status === "fulfilled" && fast.value, "fast");
  ok(failed.status === "rejected" && failed.reason instanceof TypeError);
  ok(slow.status === "rejected" && (slow.reason as Error).message === "late");
  ok(elapsed >= 40 && elapsed < 500, `given up after ${elapsed} ms`);
  // Once nothing is pending the timer stops: a new operation still gets its deadline.
  await rejects(deadlines.race(new Promise(() => timers.push(setTimeout(() => {}, 1_000))), late), /late/);
  timers.forEach(clearTimeout);
});

Deno.test("deadlines: an answer is mapped before it settles, and a map that throws rejects", async () => {
  const deadlines = new Deadlines(1_000);
  const late = () => new Error("late");
  equal(await deadlines.race(Promise.resolve(20), late, (value) => value + 1), 21);
  await rejects(
    deadlines.race(Promise.resolve(20), late, () => {
      throw new RangeError("unreadable");
    }),
    RangeError,
  );
  // A refusal is passed on as it is, never mapped; recovered from, where a recover is given.
  await rejects(deadlines.race(Promise.reject(new TypeError("refused")), late, () => 0), TypeError);
  const recover = (reason: unknown) => {
    if (reason instanceof TypeError) return -1;
    throw reason;
  };
  equal(await deadlines.race(Promise.reject(new TypeError("refused")), late, () => 0, recover), -1);
  await rejects(deadlines.race(Promise.reject(new RangeError("other")), late, () => 0, recover), RangeError);
});

/** Runs `body` while the wall clock (Date.now) reads an hour earlier than it did: a step back. */
async function withWallClockStepBack<T>(body: (step: () => void) => Promise<T>): Promise<T> {
  const realNow = Date.now;
  try {
    return await body(() => Date.now = () => realNow() - 3_600_000);
  } finally {
    Date.now = realNow;
  }
}

Deno.test("deadlines count on the monotonic clock: the wall clock stepping back postpones none", async () => {
  const deadlines = new Deadlines(40);
  const outcome = await withWallClockStepBack(async (step) => {
    const raced = deadlines.race(new Promise(() => {}), () => new Error("late"));
    step();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waited = new Promise((resolve) => timer = setTimeout(() => resolve("still waiting"), 1000));
    const result = await Promise.race([raced.catch((error: Error) => error.message), waited]);
    clearTimeout(timer);
    return result;
  });
  equal(outcome, "late");
});
