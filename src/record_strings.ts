/**
 * The strings a cache record stores as one-byte codes (see `record.ts`).
 *
 * @module
 */

/**
 * Strings stored as a one-byte code. Part of the layout: only ever append to it, and bump
 * `RECORD_VERSION` in record.ts if an entry has to change.
 */
export const COMMON: readonly string[] = [
  "GET",
  "HEAD",
  "OK",
  // Response header fields, the most frequent first.
  "date",
  "content-type",
  "content-length",
  "cache-control",
  "etag",
  "last-modified",
  "expires",
  "vary",
  "age",
  "server",
  "content-encoding",
  "accept-ranges",
  "access-control-allow-origin",
  "set-cookie",
  "location",
  "content-language",
  "content-disposition",
  "content-location",
  "content-range",
  "content-security-policy",
  "strict-transport-security",
  "x-content-type-options",
  "x-frame-options",
  "referrer-policy",
  "link",
  "via",
  "alt-svc",
  "pragma",
  "x-cache",
  "cf-cache-status",
  "cf-ray",
  "x-request-id",
  "report-to",
  "nel",
  "permissions-policy",
  "cross-origin-resource-policy",
  "access-control-allow-credentials",
  "access-control-expose-headers",
  "timing-allow-origin",
  // Request header fields named by Vary.
  "accept",
  "accept-encoding",
  "accept-language",
  "origin",
  "user-agent",
  "authorization",
  "cookie",
  // Frequent values.
  "bytes",
  "gzip",
  "br",
  "nosniff",
  "*",
  "application/json",
  "application/json; charset=utf-8",
  "text/html; charset=utf-8",
  "text/plain; charset=utf-8",
  "text/css; charset=utf-8",
  "application/javascript; charset=utf-8",
  "application/octet-stream",
  "image/png",
  "image/jpeg",
  "image/webp",
];
