/**
 * The order of invalidations and writes (`src/invalidations.ts`), on its own: which writes are
 * skipped, that an invalidation waits for the writes under way, what is done once it has
 * forgotten old invalidations, and how a clear and deleted keys invalidate. The session's side,
 * and the cache's own deletes, are in `tests/http_semantics_test.ts` (§4.4).
 */
import { deepEqual, equal } from "node:assert/strict";
import { Invalidations, invalidationsOf } from "../src/invalidations.ts";
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

// (4,096 are remembered, and up to 512 more before the oldest are dropped, in a batch.)
Deno.test("invalidations: past the 4,096 URLs remembered, a response asked for before the forgotten ones is not written", async () => {
  const invalidations = new Invalidations();
  const early = invalidations.mark();
  for (let i = 0; i <= 4096 + 512; i++) await invalidations.invalidating(`GET ${i}`);
  equal(await invalidations.write(() => [B], early, nothing), false, "it may have been invalidated: skipped");
  const late = invalidations.mark();
  await invalidations.invalidating(A);
  equal(await invalidations.write(() => [B], late, nothing), true, "asked for after them: written");
  equal(await invalidations.write(() => [A], late, nothing), false);
});

Deno.test("invalidations: clearing skips every write asked for before it, and none asked for after", async () => {
  const invalidations = new Invalidations();
  const before = invalidations.mark();
  await invalidations.invalidatingAll();
  equal(await invalidations.write(() => [A], before, nothing), false, "asked for before the clear");
  const after = invalidations.mark();
  equal(await invalidations.write(() => [A], after, nothing), true, "asked for after the clear");
  await invalidations.invalidating(B);
  equal(await invalidations.write(() => [A], after, nothing), true, "only B since");
});

Deno.test("invalidations: deleting keys invalidates their URLs, whatever the key's variant, body digest or alias", async () => {
  const url = "u0123456789abcdefghijk", other = "v0123456789abcdefghijk";
  for (
    const key of [url, `${url}+body`, `${url}.variant`, `${url}+body.variant`, `~${url}`, `~${url}+body`]
  ) {
    const invalidations = new Invalidations();
    const before = invalidations.mark();
    await invalidations.invalidatingKeys([key]);
    equal(await invalidations.write(() => [url], before, nothing), false, `${key} invalidates ${url}`);
    equal(await invalidations.write(() => [other], before, nothing), true, `${key} leaves ${other}`);
  }
});

Deno.test("invalidations: one storage's are shared by whoever asks for them", () => {
  const storage = {}, another = {};
  equal(invalidationsOf(storage), invalidationsOf(storage));
  equal(invalidationsOf(storage) === invalidationsOf(another), false);
});
