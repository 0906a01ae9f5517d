/**
 * The forms a URL takes in the keys of a storage. Each session leaves its `ignoredParameters` out
 * of its keys, so what it stored for `…/a?api_key=…&b=2` is keyed under `…/a?b=2`. A delete or a
 * listing by URL (`deleteUrls`, a filter's `urls`) looks under every form that the sessions over
 * the storage give the URL, so the URL a session fetched finds what that session stored for it.
 *
 * @module
 */

import { normalizeUrl } from "./cache_keys.ts";

/** For each storage, the distinct `ignoredParameters` of the sessions over it, by their names. */
const OF_STORAGE = new WeakMap<object, Map<string, ReadonlySet<string>>>();

/**
 * Notes the parameters that a session over a storage leaves out of its keys.
 *
 * @param storage The storage.
 * @param ignoredParameters The session's `ignoredParameters`.
 */
export function addUrlForm(storage: object, ignoredParameters: ReadonlySet<string>): void {
  if (ignoredParameters.size === 0) return;
  let forms = OF_STORAGE.get(storage);
  if (forms === undefined) OF_STORAGE.set(storage, forms = new Map());
  forms.set([...ignoredParameters].sort().join("&"), ignoredParameters);
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
 * import { addUrlForm, urlForms } from "./url_forms.ts";
 * const storage = {};
 * addUrlForm(storage, new Set(["api_key"]));
 * const forms = urlForms(storage, [new URL("https://example.com/a?api_key=s3cret&b=2")]);
 * console.log(forms.map(String)); // ["https://example.com/a?api_key=s3cret&b=2", "https://example.com/a?b=2"]
 * ```
 */
export function urlForms(storage: object, urls: readonly URL[]): URL[] {
  const forms = OF_STORAGE.get(storage);
  if (forms === undefined) return [...urls];
  const found = new Map(urls.map((url) => [normalizeUrl(url), url]));
  for (const url of urls) {
    for (const ignored of forms.values()) {
      const form = normalizeUrl(url, ignored);
      if (!found.has(form)) found.set(form, new URL(form));
    }
  }
  return [...found.values()];
}
