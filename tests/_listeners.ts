/**
 * Counts the `abort` listeners on a signal: what the cache leaves on a caller's signal that
 * outlives its requests.
 *
 * @module
 */

/** The abort listeners on `signal` that were added and not yet removed. */
export function listenersOf(signal: AbortSignal): Set<unknown> {
  const live = new Set<unknown>();
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = (type: string, listener: unknown, options?: unknown) => {
    if (type === "abort") live.add(listener);
    add(type, listener as EventListener, options as AddEventListenerOptions);
  };
  signal.removeEventListener = (type: string, listener: unknown, options?: unknown) => {
    if (type === "abort") live.delete(listener);
    remove(type, listener as EventListener, options as EventListenerOptions);
  };
  return live;
}
