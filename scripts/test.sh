#!/usr/bin/env bash
# The whole test suite, as `npm test` and .ci/run run it: starts Redis and the MongoDB stand-in
# (scripts/services.sh), then runs every test on Deno, and the runtime-neutral tests and every
# backend on Node and Bun.
#
#   npm test                      # static checks, then every runtime
#   bash scripts/test.sh deno     # one step: checks | deno | node | bun
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/runtimes.sh
source scripts/runtimes.sh
# shellcheck source=scripts/services.sh
source scripts/services.sh || { echo "services: cannot start the test services" >&2; exit 1; }

steps=("$@")
[ $# -eq 0 ] && steps=(checks deno node bun)

for step in "${steps[@]}"; do
  echo "== $step"
  case "$step" in
    checks) deno fmt --check && deno lint && deno task check ;;
    deno) deno task test ;;
    node | bun) bash scripts/test_on.sh "$step" ;;
    *) echo "unknown step: $step (checks, deno, node or bun)" >&2; exit 2 ;;
  esac
done
