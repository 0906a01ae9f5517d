/**
 * The few assertions the tests use, on `node:assert/strict` (which every runtime has; jsr's
 * `@std/assert` cannot be installed here).
 *
 * @module
 */

import assertNode from "node:assert/strict";

/** Fails unless `value` is truthy. */
export function assert(value: unknown, message?: string): asserts value {
  assertNode.ok(value, message);
}

/** Fails unless the two values are deeply equal. */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  assertNode.deepStrictEqual(actual, expected, message);
}

/** Fails unless `value` is an instance of `type`. */
export function assertInstanceOf<T>(
  value: unknown,
  type: abstract new (...args: never[]) => T,
): asserts value is T {
  assertNode.ok(value instanceof type, `expected an instance of ${type.name}, got ${String(value)}`);
}

/** Fails unless `run` throws an error of `type` whose message includes `includes`. */
export function assertThrows(run: () => unknown, type: ErrorConstructor, includes = ""): void {
  assertNode.throws(run, (error: unknown) => {
    assertNode.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`);
    assertNode.ok(
      (error as Error).message.includes(includes),
      `"${(error as Error).message}" lacks "${includes}"`,
    );
    return true;
  });
}

/** Fails unless `run` rejects with an error of `type` whose message includes `includes`. */
export async function assertRejects(
  run: () => Promise<unknown>,
  type: ErrorConstructor,
  includes = "",
): Promise<void> {
  await assertNode.rejects(run, (error: unknown) => {
    assertNode.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`);
    assertNode.ok(
      (error as Error).message.includes(includes),
      `"${(error as Error).message}" lacks "${includes}"`,
    );
    return true;
  });
}
