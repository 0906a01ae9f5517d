#!/usr/bin/env bash
# Consumer proof: builds the package the way JSR serves it to npm clients (ESM + .d.ts, see
# tests/consumer/build.ts), installs it in a throwaway project outside the repository, type-checks
# tests/consumer/consumer.ts there with tsc and runs it on each runtime given:
#
#   bash scripts/consumer.sh node24 node22 bun
#
# On Node 22 it also runs once with node:sqlite switched off (--no-experimental-sqlite), as on
# Node < 22.5: SQLiteBackend must then fail with an error naming the runtime and the alternatives.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# shellcheck source=scripts/runtimes.sh
source scripts/runtimes.sh

[ $# -gt 0 ] || set -- node24 node22 bun
work=$(mktemp -d "/tmp/http-cache-consumer.XXXXXX")
trap 'rm -rf "$work"' EXIT

start=$SECONDS
tarball=$(node tests/consumer/build.ts "$work/build")
mkdir "$work/app"
cp tests/consumer/consumer.ts tests/consumer/tsconfig.json "$work/app/"
types_node=$(node -p 'require("./node_modules/@types/node/package.json").version')
cat >"$work/app/package.json" <<JSON
{
  "name": "http-cache-consumer",
  "private": true,
  "type": "module",
  "dependencies": { "@x/http-cache": "file:$tarball" },
  "devDependencies": { "@types/node": "$types_node" }
}
JSON
(cd "$work/app" && npm install --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null)
(cd "$work/app" && node "$root/node_modules/typescript/bin/tsc" -p tsconfig.json)
echo "consumer: built, installed and type-checked in $((SECONDS - start)) s"

node22=(node_modules/node22/bin/node --experimental-strip-types --disable-warning=ExperimentalWarning)
for runtime in "$@"; do
  case "$runtime" in
    node24 | node) command=(node) ;;
    node22) command=("${node22[@]}") ;;
    bun) command=(bun) ;;
    *) echo "consumer: unknown runtime $runtime (node24, node22 or bun)" >&2; exit 2 ;;
  esac
  [[ "${command[0]}" == /* ]] || [[ "${command[0]}" != */* ]] || command[0]="$root/${command[0]}"
  (cd "$work/app" && "${command[@]}" consumer.ts)
  if [ "$runtime" = node22 ]; then
    (cd "$work/app" && "${command[@]}" --no-experimental-sqlite consumer.ts --no-sqlite)
  fi
done
