#!/usr/bin/env bash
# `deno task bench`: runs every benchmark (bench/main.ts) with the services it needs.
#
#   bash bench/run.sh [--quick] [--write]
#
# Puts the project's Deno and Node first on PATH, starts redis-server and the MongoDB stand-in on
# free loopback ports (scripts/services.sh; a REDIS_URL / MONGODB_URL already set is used as it
# is), and stops them when the run ends. A service that cannot start is skipped with its reason.
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=scripts/runtimes.sh
source scripts/runtimes.sh
[ -z "${MONGODB_URL:-}" ] && export BENCH_MONGODB_STANDIN=1
# shellcheck source=scripts/services.sh
source scripts/services.sh
if command -v redis-server >/dev/null 2>&1; then
  BENCH_REDIS_VERSION=$(redis-server --version | sed -E 's/.* v=([^ ]+).*/\1/')
  export BENCH_REDIS_VERSION
fi
# Deno reads /proc only with --allow-all: the CPU model comes through the environment.
BENCH_CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
export BENCH_CPU
deno run --allow-net=127.0.0.1,localhost --allow-read --allow-write --allow-env --allow-sys --allow-run=node,bun \
  --unstable-kv --v8-flags=--expose-gc bench/main.ts "$@"
