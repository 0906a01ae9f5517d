/**
 * The order of invalidations and writes (`src/invalidations.ts`), on its own: which writes are
 * skipped, that an invalidation waits for the writes under way, and what is done once it has
 * forgotten old invalidations. The session's side is in `tests/http_semantics_test.ts` (§4.4).
 */
import { deepEqual, equal } from "node:assert/strict";
import { Invalidations } from "../src/invalidations.ts";
import { delay } from "./_fixtures.ts";

const A = "GET a", B = "GET b";
const nothing = () => Promise.resolve();

Deno.test("invalidations: a write is skipped only when one of its URLs was invalidated since its mark", async () => {
  const invalidations = new Invalidations();
  const before = invalidations.mark();
  equal(await invalidations.write(() => [A], before, nothing), true, "nothing invalidated yet");
  await invalidations.invalidating(A);
  equal(await invalidations.write(() => [A], before, nothing), false, "A, asked for before");
  equal(await invalidations.write(() => [B], before, nothing), true, "B was not invalidated");
  equal(await invalidations.write(() => [B, A], before, nothing), false, "a redirect from B led to A");
  equal(await invalidations.write(() => [A], invalidations.mark(), nothing), true, "A, asked for after");
});

Deno.test("invalidations: an invalidation ends after the writes under way", async () => {
  const invalidations = new Invalidations();
  const order: string[] = [];
  let land!: () => void;
  const landed = new Promise<void>((resolve) => land = resolve);
  const writing = invalidations.write(() => [B], invalidations.mark(), async () => {
    await landed;
    order.push("write");
  });
  const invalidating = invalidations.invalidating(A).then(() => order.push("invalidated"));
  await delay(5);
  deepEqual(order, [], "the invalidation waits");
  land();
  await Promise.all([writing, invalidating]);
  deepEqual(order, ["write", "invalidated"]);
});

Deno.test("invalidations: a failed write is the writer's to report, and never holds up an invalidation", async () => {
  const invalidations = new Invalidations();
  const failing = invalidations.write(
    () => [A],
    invalidations.mark(),
    () => Promise.reject(new Error("down")),
  );
  await invalidations.invalidating(A);
  equal(await failing.catch((error: Error) => error.message), "down");
});

Deno.test("invalidations: past the 4,096 URLs remembered, a response asked for before the forgotten ones is not written", async () => {
  const invalidations = new Invalidations();
  const early = invalidations.mark();
  for (let i = 0; i <= 4096; i++) await invalidations.invalidating(`GET ${i}`);
  equal(await invalidations.write(() => [B], early, nothing), false, "it may have been invalidated: skipped");
  const late = invalidations.mark();
  await invalidations.invalidating(A);
  equal(await invalidations.write(() => [B], late, nothing), true, "asked for after them: written");
  equal(await invalidations.write(() => [A], late, nothing), false);
});
