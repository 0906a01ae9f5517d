#!/usr/bin/env bash
# Runs a command with the runtimes that `npm install` fetched first on PATH:
#   bash scripts/run.sh deno task demo
set -euo pipefail
# shellcheck source=scripts/runtimes.sh
source "$(dirname "$0")/runtimes.sh"
exec "$@"
