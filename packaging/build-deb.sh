#!/usr/bin/env bash
# Builds agent-sensor_<version>_<arch>.deb from the built tree (run
# scripts/build.sh first): the sensor under /usr/lib/agent-sensor with its
# production node_modules and the Node runtime its addons were built for
# (/usr/lib/agent-sensor/node: Debian 12's own nodejs is 18, too old, so the
# package depends on no nodejs), /usr/bin/sensor, the systemd unit, the
# service settings /etc/agent-sensor/config.yaml (a conffile) and an example
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
# sensor isolate's helper (its BPF object is inside it, as a skeleton)
if [ -x bpf/egress/.output/egress-ctl ]; then
  install -D -m 0755 bpf/egress/.output/egress-ctl "$lib/bpf/egress/.output/egress-ctl"
fi
# sensor isolate/release: the containment tool (embeds its BPF object), where the CLI looks for it
mkdir -p "$lib/bpf/egress/.output" && cp bpf/egress/.output/egress-ctl "$lib/bpf/egress/.output/"
# egress content capture (secret_egress): its loader embeds its BPF object; sensor run warns and goes on without it
[ -f bpf/content/.output/content-ctl ] && mkdir -p "$lib/bpf/content/.output" && cp bpf/content/.output/content-ctl "$lib/bpf/content/.output/"
# node_modules/.cache holds test-only downloads (a real agent CLI): not shipped.
tar -C . --exclude=node_modules/.cache -cf - node_modules | tar -C "$lib" -xf -
(cd "$lib" && npm prune --omit=dev --ignore-scripts --no-audit --no-fund >/dev/null)
find "$lib/dist" -name '*.map' -delete
# The runtime the addons (ours, better-sqlite3) were compiled against: the node running this script.
node_bin=$(node -p process.execPath)
install -m 0755 "$node_bin" "$lib/node"
node_version=$("$lib/node" --version)
cat > "$stage/usr/bin/sensor" <<'WRAPPER'
#!/bin/sh
# agent-sensor runs on the Node runtime shipped beside it, whatever node is on PATH.
exec /usr/lib/agent-sensor/node /usr/lib/agent-sensor/bin/sensor.js "$@"
WRAPPER
chmod 0755 "$stage/usr/bin/sensor"
cp packaging/agent-sensor.service "$stage/lib/systemd/system/"
cp packaging/agents.yaml.example "$stage/etc/agent-sensor/"
cp packaging/config.yaml "$stage/etc/agent-sensor/config.yaml"
echo /etc/agent-sensor/config.yaml > "$stage/DEBIAN/conffiles"

cat > "$stage/DEBIAN/control" <<CONTROL
Package: agent-sensor
Version: $version
Architecture: $arch
Maintainer: agent-sensor developers
Depends: libbpf1, libelf1, zlib1g, libc6, libstdc++6, libgcc-s1
Recommends: bpftrace, bpftool
Section: admin
Priority: optional
Description: eBPF sensor for autonomous AI agents
 Watches what desktop AI agents execute, read, write and connect to, from
 kernel tracepoints, and keeps the events in a tamper-evident SQLite store.
 Ships its own Node.js runtime ($node_version) in /usr/lib/agent-sensor.
CONTROL
for script in postinst prerm postrm; do
  install -m 0755 "packaging/debian/$script" "$stage/DEBIAN/$script"
done

mkdir -p "$out"
deb="$out/agent-sensor_${version}_${arch}.deb"
# gzip rather than the default xz: far quicker on the 100 MB runtime, for a larger file
dpkg-deb --root-owner-group -Zgzip --build "$stage" "$deb" >/dev/null
echo "$deb"
