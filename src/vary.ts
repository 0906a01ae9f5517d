/**
 * Vary (RFC 9111 §4.1): which stored response a request's headers select, the values a variant
 * keeps of them (secrets as digests), and whether a new response takes the primary slot or goes
 * beside it.
 *
 * @module
 */

import { CREDENTIAL_HEADERS, ignoredHeaderNames, variantKey } from "./cache_keys.ts";
import type { ResolvedOptions } from "./options.ts";
import { normalizeVaryValue } from "./policy.ts";
import type { CacheEntry } from "./record.ts";
import { digestText } from "./sha256.ts";

/**
 * Starts the stored value of a Vary-nominated header that is a credential or an ignored parameter:
 * the value itself is kept only as a digest, which still tells values apart.
 */
const CONCEALED = "\u0000";

/** What places a response beside a stored one, or over it: its `Vary` names and values, and generation. */
export type Varied = Pick<CacheEntry, "vary" | "varyGeneration">;

/**
 * Where a response goes: the primary slot ({@linkcode isPrimary}) or its variant key beside it.
 *
 * @param key The request's primary key.
 * @param entry The response's entry.
 * @param primary What the request's primary slot holds.
 * @param headers The request headers.
 * @returns The storage key.
 */
export function slotKey(
  key: string,
  entry: Pick<CacheEntry, "vary">,
  primary: Varied | undefined,
  headers: Headers,
): string {
  return isPrimary(entry, primary, headers) ? key : variantKey(key, entry.vary);
}

/**
 * Whether a new response goes to the primary slot rather than beside it as a Vary variant. A
 * lookup reads the primary slot, then the variant that the primary's `Vary` names select: so the
 * primary must hold the `Vary` names of the newest response, or a response whose names differ
 * would be stored where no lookup finds it (RFC 9111 §4.1 selects a stored response by its own
 * `Vary`, and the most recent one of those that match). A response goes to the primary slot when
 * the slot is empty, when its names differ from the primary's (variants stored under the old
 * names are of an earlier generation, {@linkcode varyGenerationOf}, never served and left to
 * expire: finding them would take a listing of keys on every such write), or
 * when it replaces the primary itself (the request matched it); else beside it.
 *
 * @param entry The new response's entry.
 * @param primary What the request's primary slot holds.
 * @param headers The request headers.
 * @returns `true` for the primary slot.
 */
function isPrimary(
  entry: Pick<CacheEntry, "vary">,
  primary: Varied | undefined,
  headers: Headers,
): boolean {
  return primary === undefined || !sameNames(primary.vary, entry.vary) || varyMatches(primary, headers);
}

/**
 * What a primary slot that held `primary` holds once another request's response is stored: that
 * response where it takes the slot ({@linkcode isPrimary}: the slot held nothing, or other names,
 * or the variant that request selects), else what the slot held. A request that waited for that
 * response and sends other values of its `Vary` headers places its own by it: beside it, of its
 * generation, not over it (else the last of the two writes would take the slot from the other).
 *
 * @param primary What the slot held when the requests read it.
 * @param stored The other request's response.
 * @returns What the slot holds once that response is stored.
 */
export function primaryAfter(primary: Varied | undefined, stored: Varied): Varied {
  return primary === undefined || !sameNames(primary.vary, stored.vary) ||
      sameValues(primary.vary, stored.vary)
    ? stored
    : primary;
}

/**
 * The Vary generation of a new response ({@linkcode CacheEntry.varyGeneration}): the primary
 * slot's when the response names the same headers (it replaces that entry or goes beside it),
 * else a new one (the slot is empty, or the origin now varies on other headers). Variants of an
 * earlier generation are then never served: they were stored for an earlier state of the URL,
 * which the newest response with these names would otherwise lose to (RFC 9111 §4.1: the most
 * recent of the matching responses is used).
 *
 * @param vary The new response's Vary names and the request's values of them.
 * @param primary What the request's primary slot holds.
 * @returns The generation.
 */
export function varyGenerationOf(
  vary: readonly [string, string | null][],
  primary: Varied | undefined,
): number {
  return primary !== undefined && sameNames(primary.vary, vary) ? primary.varyGeneration : Math.random();
}

/**
 * The request's values of the headers a response varies on, normalised; credentials and ignored
 * parameters as digests, so that no secret is stored but requests that differ in one never share
 * a variant (RFC 9111 §4.1).
 *
 * @param names Lower-case header names from `Vary`.
 * @param headers The request headers.
 * @param o `ignoredParameters` (matched in any case: these are header names).
 * @returns `[name, value]` pairs, `null` for an absent header.
 */
export function varyValues(
  names: readonly string[],
  headers: Headers,
  o: Pick<ResolvedOptions, "ignoredParameters">,
): [string, string | null][] {
  const ignored = ignoredHeaderNames(o.ignoredParameters);
  return names.map((name) => {
    const value = normalizeVaryValue(name, headers.get(name));
    const secret = CREDENTIAL_HEADERS.includes(name) || ignored.has(name);
    return [name, secret ? concealed(value) : value];
  });
}

/**
 * Whether a stored entry was produced for request headers like these (RFC 9111 §4.1).
 *
 * @param entry The stored entry.
 * @param headers The new request's headers.
 * @returns `true` when every nominated header matches.
 */
export function varyMatches(entry: Pick<CacheEntry, "vary">, headers: Headers): boolean {
  for (const [name, stored] of entry.vary) {
    const value = normalizeVaryValue(name, headers.get(name));
    if ((stored?.startsWith(CONCEALED) ? concealed(value) : value) !== stored) return false;
  }
  return true;
}

/** A header value as stored when it must not be: its digest (an absent header stays `null`). */
function concealed(value: string | null): string | null {
  return value === null ? null : CONCEALED + digestText(value);
}

/** Whether two `Vary` lists name the same headers, in any order (each lists a name once). */
function sameNames(a: readonly [string, string | null][], b: readonly [string, string | null][]): boolean {
  if (a.length !== b.length) return false;
  const names = new Set(b.map(([name]) => name));
  return a.every(([name]) => names.has(name));
}

/** Whether two `Vary` lists hold the same values of the same headers (as stored: secrets as digests). */
function sameValues(a: readonly [string, string | null][], b: readonly [string, string | null][]): boolean {
  const values = new Map(b);
  return a.length === b.length && a.every(([name, value]) => values.has(name) && values.get(name) === value);
}
