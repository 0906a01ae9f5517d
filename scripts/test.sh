#!/usr/bin/env bash
# The whole test suite, as `npm test` and .ci/run run it: starts Redis and the MongoDB stand-in
# (scripts/services.sh), then runs every test on Deno, and the runtime-neutral tests and every
# backend on Node and Bun.
#
#   npm test                      # everything
#   bash scripts/test.sh deno     # one runtime: deno | node | bun
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/runtimes.sh
source scripts/runtimes.sh
# shellcheck source=scripts/services.sh
source scripts/services.sh

runtimes=("${@:-deno}")
[ $# -eq 0 ] && runtimes=(deno node bun)

for runtime in "${runtimes[@]}"; do
  echo "== tests on $runtime"
  case "$runtime" in
    deno) deno task test ;;
    node | bun) bash scripts/test_on.sh "$runtime" ;;
    *) echo "unknown runtime: $runtime (deno, node or bun)" >&2; exit 2 ;;
  esac
done
