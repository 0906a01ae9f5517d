# Puts the runtimes that `npm install` fetched (Deno, Node 24, Bun) first on PATH, for this shell.
#
#   source scripts/runtimes.sh
#
# .npmrc turns npm's bin links off: `deno task` runs whatever it finds in node_modules/.bin as
# JavaScript, so a linked Deno binary there breaks every task. The links live here instead.
_hc_bin="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/node_modules/.runtimes"
mkdir -p "$_hc_bin"
for _hc_target in deno/deno node/bin/node bun/bin/bun.exe; do
  _hc_name=$(basename "$_hc_target" .exe)
  [ -e "$_hc_bin/../$_hc_target" ] && ln -sf "../$_hc_target" "$_hc_bin/$_hc_name"
done
export PATH="$_hc_bin:$PATH"
