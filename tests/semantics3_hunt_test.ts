/**
 * RFC 9111 semantics, third pass: a request's max-age against an `Age`d response (the cache-tests
 * suite's own values), `only-if-cached` with the request's other constraints, and the directives
 * that still forbid storing when another one allows it. No bug found in this pass: these pin
 * behaviour no other test covered.
 */
import { type OriginHeader, registerCases } from "./_cache_tests_engine.ts";

const STALE_SOON: OriginHeader[] = [["Cache-Control", "max-age=1"]];
const AUTHORIZED = [["Authorization", "Basic YTpi"]] as const;

registerCases("semantics3", [
  // cache-tests ccreq-magreaterage: the response's Age counts against the request's max-age.
  {
    id: "ccreq-magreaterage",
    kind: "optimal",
    steps: [{ headers: [["Cache-Control", "max-age=3600"], ["Age", "1800"]] }, {
      requestHeaders: [["Cache-Control", "max-age=600"]],
      expect: "not_cached",
    }],
  },
  // RFC 9111 §5.2.1.7: only-if-cached wants a stored response "consistent with the other
  // constraints of the request", else a 504: a stale one only where max-stale accepts it, and
  // none where the request demands validation.
  {
    id: "only-if-cached: a stale response is no answer",
    kind: "required",
    steps: [{ headers: STALE_SOON, wait: 10 }, {
      requestHeaders: [["Cache-Control", "only-if-cached"]],
      expectStatus: 504,
      expectBody: "",
    }],
  },
  {
    id: "only-if-cached with max-stale: the stale response answers",
    kind: "required",
    steps: [{ headers: STALE_SOON, wait: 10 }, {
      requestHeaders: [["Cache-Control", "only-if-cached, max-stale"]],
      expect: "cached",
    }],
  },
  {
    id: "only-if-cached with no-cache: a fresh response is no answer either",
    kind: "required",
    steps: [{ headers: [["Cache-Control", "max-age=100000"]], wait: 3 }, {
      requestHeaders: [["Cache-Control", "no-cache, only-if-cached"]],
      expectStatus: 504,
      expectBody: "",
    }],
  },
  // §5.2.2.3: must-understand overrides no-store for an understood status, nothing else.
  {
    id: "must-understand, no-store: stored for an understood status",
    kind: "optimal",
    steps: [{ headers: [["Cache-Control", "must-understand, no-store, max-age=100"]], wait: 3 }, {
      expect: "cached",
    }],
  },
  {
    id: "must-understand, no-store, private: a shared cache still does not store it",
    kind: "required",
    only: "shared",
    steps: [{ headers: [["Cache-Control", "must-understand, no-store, private, max-age=100"]], wait: 3 }, {
      expect: "not_cached",
    }],
  },
  // §3.5 and §3: public lets a shared cache store a response to a request with Authorization, but
  // private beside it still forbids storing.
  {
    id: "Authorization with public and private: a shared cache does not store it",
    kind: "required",
    only: "shared",
    steps: [
      { requestHeaders: AUTHORIZED, headers: [["Cache-Control", "public, private, max-age=100"]], wait: 3 },
      { requestHeaders: AUTHORIZED, expect: "not_cached" },
    ],
  },
]);
