/**
 * Which session's origin request is under way, in the async context of the code that makes it:
 * the session's `fetch` option and everything it calls. A `fetch` option that calls
 * `globalThis.fetch`, which is the cache once installed (`installCache`, or
 * `globalThis.fetch = cachedFetch()`), then reaches the fetch that was global before, not the
 * session that waits for it, however it builds its request.
 *
 * @module
 */

/** A store that code run with it reads, and what the code it started reads once it continues. */
interface ContextStore<T> {
  getStore(): T | undefined;
  run<R>(store: T, callback: () => R): R;
}

/**
 * Node's `AsyncLocalStorage` where the runtime has it (Deno, Node, Bun, Cloudflare Workers with
 * Node compatibility, the Vercel Edge runtime), found at run time: a static import of
 * `node:async_hooks` kept the whole library from loading where there is none (Cloudflare Workers
 * without Node compatibility, Shopify Oxygen, a browser).
 */
function asyncLocalStorage(): (new <T>() => ContextStore<T>) | undefined {
  type Module = { AsyncLocalStorage?: new <T>() => ContextStore<T> };
  const process = (globalThis as { process?: { getBuiltinModule?(id: string): Module | undefined } }).process;
  let hooks: Module | undefined;
  try {
    hooks = process?.getBuiltinModule?.("node:async_hooks");
  } catch {
    // A bundler's stand-in for `process` may have the method only to throw: as if it had none.
  }
  return hooks?.AsyncLocalStorage ?? (globalThis as Module).AsyncLocalStorage;
}

/**
 * Without `AsyncLocalStorage`, a store that only the code run synchronously with it reads: a
 * `fetch` option that calls `globalThis.fetch` at once still reaches the fetch that was global,
 * one that calls it after an `await` reaches the cache.
 */
class SynchronousStore<T> implements ContextStore<T> {
  #store: T | undefined;

  getStore(): T | undefined {
    return this.#store;
  }

  run<R>(store: T, callback: () => R): R {
    const outer = this.#store;
    this.#store = store;
    try {
      return callback();
    } finally {
      this.#store = outer;
    }
  }
}

/**
 * The sessions whose origin requests the code running now was set off by, the outermost first:
 * the code of a request under way, or code it set off that runs later.
 */
const CALLING: ContextStore<readonly object[]> = new (asyncLocalStorage() ?? SynchronousStore)();

/** How many origin requests of each followed session are under way. */
const ASKING = new WeakMap<object, number>();

/**
 * The sessions {@linkcode askedByOrigin} is asked about: those behind a cached fetch
 * (`cachedFetch`, `installCache`), which may be the global. Only their origin requests are
 * followed: any other session's frame would never be read, and following one costs a miss 2–5 µs
 * on Deno 2.9.6, 1–3 µs on Node and Bun (an `AsyncLocalStorage` run around `fetch`, and its
 * context carried through every continuation of it).
 */
const FOLLOWED = new WeakSet<object>();

/**
 * Follows the origin requests of a session, so that {@linkcode askedByOrigin} tells of them.
 *
 * @param session The session, before it makes any request.
 */
export function followOrigin(session: object): void {
  FOLLOWED.add(session);
}

/**
 * Makes an origin request for a session: followed, when the session is
 * ({@linkcode followOrigin}), else simply made.
 *
 * @param session The session.
 * @param call Calls its `fetch` option.
 * @returns What `call` returns.
 */
export function askOrigin<T>(session: object, call: () => T): T {
  if (!FOLLOWED.has(session)) return call();
  // Within another session's origin request (a session whose fetch is, through the global, another
  // cached fetch), both are asking: either asked again would wait on itself.
  ASKING.set(session, (ASKING.get(session) ?? 0) + 1);
  let asking = true;
  const done = () => {
    if (asking) ASKING.set(session, ASKING.get(session)! - 1);
    asking = false;
  };
  try {
    // A promise of another realm (a `node:vm` context's, Jest's) or another thenable is not an
    // `instanceof Promise`: it is followed until it settles too (taken up within the call, so that
    // what its `then` runs is part of it), not taken as settled at once.
    const result = CALLING.run([...(CALLING.getStore() ?? []), session], () => {
      const made = call();
      return isThenable(made) && !(made instanceof Promise) ? Promise.resolve(made) as T : made;
    });
    if (result instanceof Promise) result.then(done, done);
    else done();
    return result;
  } catch (error) {
    done();
    throw error;
  }
}

/** Whether `value` has a `then` method, as `await` takes it. */
function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === "object" || typeof value === "function") && value !== null &&
    typeof (value as { then?: unknown }).then === "function";
}

/**
 * Whether the code running now may be part of the session's own origin request, however deep
 * (through other sessions' origin requests): it was set off by one of them, and one is under way.
 *
 * Set off by a request that has settled is not enough to tell: a queue that the `fetch` option
 * puts its calls in (a concurrency limiter) runs each one when the one before ends, in the context
 * of that one, whose request has settled while its own waits. Taken to the session, it would wait
 * on itself. Code set off by the session's requests that runs while none is under way (a queue it
 * shares with the application, a timer) reaches the session again.
 *
 * @param session The session, followed ({@linkcode followOrigin}): else `false`.
 * @returns Whether it may be.
 *
 * @example
 * ```ts
 * import { askedByOrigin, askOrigin, followOrigin } from "./origin_call.ts";
 *
 * const session = {};
 * followOrigin(session);
 * console.log(askedByOrigin(session), askOrigin(session, () => askedByOrigin(session))); // false true
 * ```
 */
export function askedByOrigin(session: object): boolean {
  return (ASKING.get(session) ?? 0) > 0 && (CALLING.getStore()?.includes(session) ?? false);
}
