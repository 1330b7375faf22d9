#!/usr/bin/env bash
# Builds agent-sensor_<version>_<arch>.deb from the built tree (run
# scripts/build.sh first): the sensor under /usr/lib/agent-sensor with its
# production node_modules, /usr/bin/sensor, the systemd unit, and an example
# agent config. Usage: packaging/build-deb.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/deb}
version=$(node -p 'require("./package.json").version')
arch=$(dpkg --print-architecture)
stage=$(mktemp -d /tmp/agent-sensor-deb.XXXXXX)
trap 'rm -rf "$stage"' EXIT

for f in dist/sensor/cli/main.js build/Release/agent_sensor.node bpf/egress/.output/egress-ctl; do
  [ -f "$f" ] || { echo "build-deb: $f missing: run bash scripts/build.sh" >&2; exit 1; }
done

lib=$stage/usr/lib/agent-sensor
mkdir -p "$lib/build/Release" "$stage/usr/bin" "$stage/lib/systemd/system" "$stage/etc/agent-sensor" "$stage/DEBIAN"
cp -r bin dist proto package.json package-lock.json "$lib/"
cp build/Release/agent_sensor.node "$lib/build/Release/"
# sensor isolate/release: the containment tool (embeds its BPF object), where the CLI looks for it
mkdir -p "$lib/bpf/egress/.output" && cp bpf/egress/.output/egress-ctl "$lib/bpf/egress/.output/"
cp -r node_modules "$lib/"
(cd "$lib" && npm prune --omit=dev --ignore-scripts --no-audit --no-fund >/dev/null)
find "$lib/dist" -name '*.map' -delete
ln -s ../lib/agent-sensor/bin/sensor.js "$stage/usr/bin/sensor"
cp packaging/agent-sensor.service "$stage/lib/systemd/system/"
cp packaging/agents.yaml.example "$stage/etc/agent-sensor/"

cat > "$stage/DEBIAN/control" <<CONTROL
Package: agent-sensor
Version: $version
Architecture: $arch
Maintainer: agent-sensor developers
Depends: nodejs (>= 20), libbpf1, libelf1, zlib1g
Recommends: bpftrace, bpftool
Section: admin
Priority: optional
Description: eBPF sensor for autonomous AI agents
 Watches what desktop AI agents execute, read, write and connect to, from
 kernel tracepoints, and keeps the events in a tamper-evident SQLite store.
CONTROL
cat > "$stage/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
POSTINST
chmod 0755 "$stage/DEBIAN/postinst"

mkdir -p "$out"
deb="$out/agent-sensor_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$stage" "$deb" >/dev/null
echo "$deb"
