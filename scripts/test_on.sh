#!/usr/bin/env bash
# Runs the Deno.test files on Node or Bun (through tests/_runtime_runner.ts), then the consumer
# proof (scripts/consumer.sh) on the same runtimes. Called by scripts/test.sh, which has started
# the services (REDIS_URL, MONGODB_URL); run alone, the backends without a service are skipped.
#
#   bash scripts/test_on.sh node      # Node 24, then Node 22
#   bash scripts/test_on.sh node24    # one of: node24 | node22 | bun | deno
#   bash scripts/test_on.sh bun tests/sqlite_test.ts   # some test files only (no consumer proof)
#
# `deno` runs `deno task test` (with the files given), for CI's runtime x backend matrix.
# Every tests/*_test.ts file runs; a test that needs Deno is skipped there with a printed reason.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/runtimes.sh
source scripts/runtimes.sh

target=${1:?usage: test_on.sh node|node24|node22|bun|deno [TEST_FILE...]}
shift
if [ "$target" = deno ]; then
  exec deno task test "$@"
fi
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(tests/*_test.ts)

case "$target" in
  node) runtimes=(node24 node22) ;;
  node24 | node22 | bun) runtimes=("$target") ;;
  *) echo "test_on.sh: unknown runtime $target (node, node24, node22, bun or deno)" >&2; exit 2 ;;
esac

# Node 22.6 to 22.17 strip types only behind the flag; node:sqlite warns that it is experimental.
node22=(node_modules/node22/bin/node --experimental-strip-types --disable-warning=ExperimentalWarning)

mkdir -p .test-tmp
for runtime in "${runtimes[@]}"; do
  case "$runtime" in
    node24) command=(node) ;;
    node22) command=("${node22[@]}") ;;
    bun) command=(bun) ;;
  esac
  echo "== $runtime: $("${command[0]}" --version) running ${#files[@]} test files"
  start=$SECONDS
  # The whole run is bounded; the runner also fails a single test after TEST_TIMEOUT_MS.
  TMPDIR=.test-tmp timeout 900 "${command[@]}" tests/_runtime_runner.ts "${files[@]}"
  echo "== $runtime: tests passed in $((SECONDS - start)) s"
done

if [ $# -eq 0 ]; then
  echo "== consumer proof on ${runtimes[*]}"
  bash scripts/consumer.sh "${runtimes[@]}"
fi
