/**
 * The forms that the sessions over a storage give their keys, for deletes and listings by URL
 * (`deleteUrls`, a filter's `urls`) to find every entry of a URL:
 *
 * - each session leaves its `ignoredParameters` out of its keys, so what it stored for
 *   `…/a?api_key=…&b=2` is keyed under `…/a?b=2`; a URL is looked for as given and in the form
 *   that each session gives it, so the URL a session fetched finds what that session stored;
 * - a key starts with a digest of its method and URL, so each method's entries have a prefix of
 *   their own; besides `GET` and `HEAD`, the methods a session stores (`allowedMethods`, such as
 *   `POST`) are looked under too.
 *
 * @module
 */

import { normalizeUrl } from "./cache_keys.ts";

/** What the sessions over one storage put in their keys. */
interface Forms {
  /** The distinct `ignoredParameters` of the sessions, by their names. */
  ignored: Map<string, ReadonlySet<string>>;
  /** `GET`, `HEAD` and the sessions' `allowedMethods`. */
  methods: Set<string>;
}

/** The methods whose entries are looked for whatever the sessions: those of the default. */
const DEFAULT_METHODS = ["GET", "HEAD"];

const OF_STORAGE = new WeakMap<object, Forms>();

/**
 * Notes what a session over a storage puts in its keys.
 *
 * @param storage The storage.
 * @param session The session's `ignoredParameters` and `allowedMethods`.
 */
export function addKeyForms(
  storage: object,
  session: { ignoredParameters: ReadonlySet<string>; allowedMethods: ReadonlySet<string> },
): void {
  let forms = OF_STORAGE.get(storage);
  if (forms === undefined) {
    OF_STORAGE.set(storage, forms = { ignored: new Map(), methods: new Set(DEFAULT_METHODS) });
  }
  const { ignoredParameters, allowedMethods } = session;
  if (ignoredParameters.size > 0) {
    // Each name whole: names may hold any character (`a&b`, which `a%26b=` names, is not `a` and `b`).
    forms.ignored.set(JSON.stringify([...ignoredParameters].sort()), ignoredParameters);
  }
  for (const method of allowedMethods) forms.methods.add(method);
}

/**
 * The URLs as given, and each in every form that the sessions over a storage key it by.
 *
 * @param storage The storage.
 * @param urls The URLs.
 * @returns The URLs and their forms, each once.
 *
 * @example A session that ignores `api_key` keys a URL without it
 * ```ts
 * import { addKeyForms, urlForms } from "./key_forms.ts";
 * const storage = {};
 * addKeyForms(storage, { ignoredParameters: new Set(["api_key"]), allowedMethods: new Set(["GET"]) });
 * const forms = urlForms(storage, [new URL("https://example.com/a?api_key=s3cret&b=2")]);
 * console.log(forms.map(String)); // ["https://example.com/a?api_key=s3cret&b=2", "https://example.com/a?b=2"]
 * ```
 */
export function urlForms(storage: object, urls: readonly URL[]): URL[] {
  const ignored = OF_STORAGE.get(storage)?.ignored;
  if (ignored === undefined || ignored.size === 0) return [...urls];
  const found = new Map(urls.map((url) => [normalizeUrl(url), url]));
  for (const url of urls) {
    for (const parameters of ignored.values()) {
      const form = normalizeUrl(url, parameters);
      if (!found.has(form)) found.set(form, new URL(form));
    }
  }
  return [...found.values()];
}

/**
 * The methods whose entries a storage may hold: `GET`, `HEAD` and those the sessions over it store.
 *
 * @param storage The storage.
 * @returns The method names.
 */
export function storedMethods(storage: object): readonly string[] {
  const methods = OF_STORAGE.get(storage)?.methods;
  return methods === undefined ? DEFAULT_METHODS : [...methods];
}
