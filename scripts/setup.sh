#!/usr/bin/env bash
# Brings a fresh Debian 12 machine to the point where the sensor runs and the
# tests pass: Debian packages, kernel file systems, npm dependencies, builds.
# Idempotent and quiet when nothing is missing; npm start and npm test call it.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'setup: %s\n' "$*" >&2; }

DEBS=(clang llvm libbpf-dev libelf-dev zlib1g-dev bpftool bpftrace sqlite3 iproute2 rsyslog rsyslog-gnutls clickhouse-server openssl make g++ python3 chromium) # chromium: the console's browser tests
missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    log "missing Debian packages: ${missing[*]} (run as root, or: apt-get install ${missing[*]})"
    exit 1
  fi
  log "installing ${missing[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# Tracepoints are attached through tracefs; BPF pins and bpftool want bpffs.
if [ "$(id -u)" -eq 0 ]; then
  [ -d /sys/kernel/tracing/events ] || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
  [ -d /sys/kernel/debug/tracing ] || mount -t debugfs nodev /sys/kernel/debug 2>/dev/null || true
  mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
fi

# npm dependencies: reinstall only when the lock file changed since the last install.
stamp=node_modules/.agent-sensor-installed  # written last: a failed install is retried
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  log "npm ci"
  npm ci --no-audit --no-fund --ignore-scripts >/dev/null
  # Native dependencies build from source here (no prebuilt downloads offline).
  log_file=$(mktemp /tmp/agent-sensor-sqlite-build.XXXXXX)
  if ! (cd node_modules/better-sqlite3 && ../.bin/node-gyp rebuild --release --nodedir=/usr) >"$log_file" 2>&1; then
    cat "$log_file" >&2
    exit 1
  fi
  rm -f "$log_file"
  touch "$stamp"
fi

bash scripts/build.sh
