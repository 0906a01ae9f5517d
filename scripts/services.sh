# Starts the services the backend tests need, on 127.0.0.1 and free ports, for this shell.
#
#   source scripts/services.sh    # exports REDIS_URL and MONGODB_URL; stops them on exit
#
# A variable that is already set (e.g. by `docker compose up -d` and
# REDIS_URL=redis://127.0.0.1:6379 MONGODB_URL=mongodb://127.0.0.1:27017) is used as it is and
# nothing is started for it. Redis is Debian's redis-server (installed with apt-get when missing
# and we are root, as on CI); MongoDB cannot be installed, so its stand-in is the wire-protocol
# test server in ../shared/tools/mongo-wire-server (beside this repository).
#
# This file is sourced: it never calls `exit` and leaves the caller's shell options alone. It
# returns 1 when a service cannot be started under CI=true; elsewhere it warns, and the tests of
# that backend are skipped with a reason.

_hc_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_hc_state=$(mktemp -d "${TMPDIR:-/tmp}/http-cache-services.XXXXXX")
_hc_pids=()
_hc_failed=0

_hc_stop() {
  local pid
  for pid in "${_hc_pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  [ -f "$_hc_state/mongo.pid" ] && kill "$(cat "$_hc_state/mongo.pid")" 2>/dev/null
  rm -rf "$_hc_state"
}

# Chain onto an EXIT trap the caller may already have.
_hc_exit_trap() { eval "set -- $(trap -p EXIT)"; printf '%s' "${3:-}"; }
_hc_previous_trap=$(_hc_exit_trap)
# shellcheck disable=SC2064
trap "_hc_stop${_hc_previous_trap:+; $_hc_previous_trap}" EXIT

_hc_free_port() {
  "${NODE:-node}" -e 'const s = require("node:net").createServer();
    s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

_hc_listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

_hc_fail() {
  echo "services: $1" >&2
  _hc_failed=1
}

if [ -n "${REDIS_URL:-}" ]; then
  echo "services: redis at $REDIS_URL (REDIS_URL was set; nothing started)"
else
  if ! command -v redis-server >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "services: installing redis-server with apt-get"
    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server; } \
      >"$_hc_state/apt.log" 2>&1 || cat "$_hc_state/apt.log" >&2
  fi
  if command -v redis-server >/dev/null 2>&1; then
    _hc_port=$(_hc_free_port)
    redis-server --port "$_hc_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
      >"$_hc_state/redis.log" 2>&1 &
    _hc_pids+=($!)
    for _ in $(seq 1 100); do _hc_listening "$_hc_port" && break; sleep 0.05; done
    if _hc_listening "$_hc_port"; then
      export REDIS_URL="redis://127.0.0.1:$_hc_port"
      echo "services: redis at $REDIS_URL (redis-server $(redis-server --version | sed -E 's/.* v=([^ ]+).*/\1/'))"
    else
      cat "$_hc_state/redis.log" >&2
      _hc_fail "redis-server did not start"
    fi
  else
    _hc_fail "redis-server is not installed: run docker compose up -d and set REDIS_URL, or install redis-server"
  fi
fi

if [ -n "${MONGODB_URL:-}" ]; then
  echo "services: mongodb at $MONGODB_URL (MONGODB_URL was set; nothing started)"
else
  _hc_mongo="$_hc_root/../shared/tools/mongo-wire-server/start.sh"
  if [ -x "$_hc_mongo" ]; then
    _hc_port=$(_hc_free_port)
    if _hc_uri=$("$_hc_mongo" "$_hc_port" "$_hc_state"); then
      export MONGODB_URL="$_hc_uri"
      echo "services: mongodb at $MONGODB_URL (mongo-wire-server stand-in)"
    else
      _hc_fail "mongo-wire-server did not start"
    fi
  else
    _hc_fail "no MongoDB: $_hc_mongo is missing; run docker compose up -d and set MONGODB_URL"
  fi
fi

if [ "$_hc_failed" = 1 ] && [ "${CI:-}" = true ]; then
  return 1 2>/dev/null || exit 1
fi
true
