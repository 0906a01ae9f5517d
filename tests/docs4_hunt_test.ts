/**
 * Promises of README.md, docs/*.md and the public JSDoc, checked against the code where no other
 * test pinned them: each test names the page and the sentence it holds the code to.
 */
import { rejects } from "node:assert/strict";
import { CachedSession } from "../mod.ts";

// docs/inspection.md: "`expired: false` and `valid: false` select nothing of their own", so a
// delete with nothing more is refused as `delete({})` is. Its message named what the filter must
// give (`expired`, `valid`) and then said it had received just that (`["expired"]`): it now asks
// for `expired: true` and shows the filter as it was given.
Deno.test("docs4: a delete refused for expired: false says what would select entries", async () => {
  const session = new CachedSession();
  try {
    for (const filter of [{ expired: false }, { valid: false, expired: false }]) {
      await rejects(session.cache.delete(filter), {
        name: "TypeError",
        message: "Cannot delete: the filter must give urls, urlPattern, olderThan, expired: true or " +
          `valid: true: received ${JSON.stringify(filter)} (clear() deletes everything)`,
      });
    }
  } finally {
    await session.close();
  }
});
