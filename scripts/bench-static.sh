#!/usr/bin/env bash
# The static (musl) agent beside the glibc build: binary size, peak RSS of a
# collection and idle RSS of `run` after 20 s, enrolled with a real collector
# on loopback. Prints the figures recorded in docs/benchmarks.md ("Static
# agent"). Nothing here asserts a number.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
t="${CARGO_TARGET_DIR:-target}"
musl=x86_64-unknown-linux-musl
cargo build --profile agent --locked -p fleetwatch-agent
cargo build --profile agent --locked -p fleetwatch-agent --target "$musl"
cargo build --release --locked -p fleetwatch-collector
glibc_bin="$t/agent/fleetwatch-agent"
musl_bin="$t/$musl/agent/fleetwatch-agent"

tmp=$(mktemp -d)
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "== binary sizes"
mib() { stat -c %s "$1" | awk '{printf "%.1f", $1/1048576}'; }
for b in "$glibc_bin" "$musl_bin"; do
  strip -o "$tmp/stripped" "$b"
  printf '  %s %s MiB as built (symbols kept), %s MiB stripped (%s)\n' "$b" "$(mib "$b")" \
    "$(mib "$tmp/stripped")" "$(file -b "$b" | cut -d, -f1-2,4 | sed 's/  */ /g')"
done

api=$(port); metrics=$(port)
"$t/release/fleetwatch-collector" serve --config /dev/null --data-dir "$tmp/collector" \
  --listen "127.0.0.1:$api" --metrics-listen "127.0.0.1:$metrics" >"$tmp/collector.log" 2>&1 &
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$metrics/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

for flavour in glibc musl; do
  bin=${flavour}_bin; bin=${!bin}
  args=(--config /dev/null --collector "https://127.0.0.1:$api" --ca "$tmp/collector/tls/cert.pem"
    --enroll-secret-file "$tmp/collector/enroll-secret" --state-dir "$tmp/agent-$flavour")
  echo "== $flavour: collect (all checks), agent's own peak RSS"
  for _ in 1 2 3; do "$bin" collect --self-usage --config /dev/null 2>&1 >/dev/null | grep 'self usage' | sed 's/^/  /'; done
  echo "== $flavour: once (enroll + send over TLS)"
  "$bin" once --self-usage "${args[@]}" 2>&1 >/dev/null | grep 'self usage' | sed 's/^/  /'
  echo "== $flavour: run, idle RSS after 20 s"
  "$bin" run "${args[@]}" 2>/dev/null &
  agent=$!
  sleep 20
  grep -E 'VmHWM|VmRSS|RssAnon|RssFile' "/proc/$agent/status" | tr -s '\t ' ' ' | sed 's/^/  /'
  kill "$agent"; wait "$agent" 2>/dev/null || true
done
