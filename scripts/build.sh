#!/usr/bin/env bash
# Builds what is stale: the BPF object and its skeleton (bpf/), the Node-API
# addon (native/), the TypeScript (dist/). `--native --best-effort` is the npm
# install hook: a host without clang still installs and falls back to bpftrace.
set -euo pipefail
cd "$(dirname "$0")/.."

native_only=0; best_effort=0
for a in "$@"; do
  case "$a" in
    --native) native_only=1 ;;
    --best-effort) best_effort=1 ;;
  esac
done

# Build against the Node headers the distribution ships (no header download offline).
GYP_FLAGS=(--release)
[ -f /usr/include/node/node_api.h ] && GYP_FLAGS+=(--nodedir=/usr)

build_native() {
  make -s -C bpf
  make -s -C bpf/egress # containment object + egress-ctl (sensor isolate)
  make -s -C bpf/content # content-capture object + content-ctl (egress DLP)
  # Rebuild the addon when any of its inputs is newer than it.
  local addon=build/Release/agent_sensor.node
  if [ ! -f "$addon" ] || [ -n "$(find native binding.gyp bpf/.output/sensor.skel.h -newer "$addon" -print -quit)" ]; then
    # node-gyp rebuild deletes build/ first, so its log lives elsewhere.
    local log; log=$(mktemp /tmp/agent-sensor-node-gyp.XXXXXX)
    # From a checkout: our dev dependency; under `npm install` of the package: the node-gyp npm puts on PATH.
    local gyp=node_modules/.bin/node-gyp; [ -x "$gyp" ] || gyp=node-gyp
    "$gyp" rebuild "${GYP_FLAGS[@]}" >"$log" 2>&1 || { cat "$log" >&2; rm -f "$log"; return 1; }
    rm -f "$log"
  fi
}

if [ $best_effort -eq 1 ]; then
  build_native || echo "agent-sensor: native addon not built; the bpftrace backend will be used" >&2
  exit 0
fi
build_native
[ $native_only -eq 1 ] && exit 0

# TypeScript: recompile when a source is newer than the last build.
if [ ! -f dist/.stamp ] || [ -n "$(find sensor collector proto tsconfig.json -newer dist/.stamp \( -name '*.ts' -o -name '*.proto' -o -name '*.json' \) -print -quit)" ]; then
  node_modules/.bin/tsc -p .
  mkdir -p dist && touch dist/.stamp
fi

# The console's page (sensor ui): Preact bundled from node_modules by esbuild; nothing is fetched at run time.
if [ ! -f dist/ui/app.js ] || [ -n "$(find sensor/ui/web -newer dist/ui/app.js -print -quit)" ]; then
  mkdir -p dist/ui
  node_modules/.bin/esbuild sensor/ui/web/main.jsx --bundle --minify --format=esm --target=es2022 \
    --jsx=automatic --jsx-import-source=preact --outfile=dist/ui/app.js --log-level=warning
  cp sensor/ui/web/index.html sensor/ui/web/style.css dist/ui/
fi
