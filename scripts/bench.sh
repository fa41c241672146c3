#!/usr/bin/env bash
# Benchmarks: prints the numbers recorded in docs/benchmarks.md.
# Release builds; everything runs on loopback; nothing here asserts a timing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --release --locked -p fleetwatch-collector -p fleetwatch-e2e --bins --examples
# The agent ships built for size ([profile.agent]); measure what ships.
cargo build --profile agent --locked -p fleetwatch-agent
t="${CARGO_TARGET_DIR:-target}"
agent_bin="$t/agent/fleetwatch-agent"

tmp=$(mktemp -d)
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
timed() { /usr/bin/time -f '  peak RSS %M KiB, CPU %U s user + %S s sys, wall %e s' "$@"; }

echo "== binary sizes"
ls -l "$agent_bin" $t/release/fleetwatch-collector | awk '{printf "  %s %.1f MiB\n", $9, $5/1048576}'

echo "== agent: inventory-only collection (collect, nothing sent)"
printf '[checks]\npatches = false\nbackup = false\npassword_policy = false\n' > "$tmp/inventory.toml"
for _ in 1 2 3; do "$agent_bin" collect --self-usage --config "$tmp/inventory.toml" 2>&1 >/dev/null | grep 'self usage' | sed 's/^/  /'; done
echo "== agent: full collection with all checks (collect; includes waiting on apt-get)"
for _ in 1 2 3; do "$agent_bin" collect --self-usage --config /dev/null 2>&1 >/dev/null | grep 'self usage' | sed 's/^/  /'; done

api=$(port); metrics=$(port)
# The load generator enrolls thousands of devices from one address: lift the
# per-source enrollment limit (60 a minute by default).
printf 'enroll_rate_per_minute = 0\n' > "$tmp/collector.toml"
$t/release/fleetwatch-collector serve --config "$tmp/collector.toml" --data-dir "$tmp/collector" \
  --listen "127.0.0.1:$api" --metrics-listen "127.0.0.1:$metrics" >"$tmp/collector.log" 2>&1 &
collector=$!
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$metrics/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
agent_args=(--config /dev/null --collector "https://127.0.0.1:$api" --ca "$tmp/collector/tls/cert.pem"
  --enroll-secret-file "$tmp/collector/enroll-secret" --state-dir "$tmp/agent")
echo "== agent: once (enroll + collect + send over TLS)"
"$agent_bin" once --self-usage "${agent_args[@]}" 2>&1 >/dev/null | grep 'self usage' | sed 's/^/  /'
echo "== agent: once (already enrolled)"
"$agent_bin" once --self-usage "${agent_args[@]}" 2>&1 >/dev/null | grep 'self usage' | sed 's/^/  /' 
echo "== agent: run, idle RSS after 20 s"
"$agent_bin" run "${agent_args[@]}" 2>/dev/null &
agent=$!
sleep 20
grep -E 'VmRSS|VmHWM' "/proc/$agent/status" | sed 's/^/  /'
kill "$agent"; wait "$agent" 2>/dev/null || true

echo "== collector ingest: 2000 simulated devices, ~4 KiB reports, TLS keep-alive, durable ack"
$t/release/fleetwatch-loadgen --url "https://127.0.0.1:$api" --cert "$tmp/collector/tls/cert.pem" \
  --secret-file "$tmp/collector/enroll-secret" --devices 2000 --connections 32 --seconds 20 | sed 's/^/  /'
grep -E 'VmRSS|VmHWM' "/proc/$collector/status" | sed 's/^/  collector /'
kill "$collector"; wait "$collector" 2>/dev/null || true

for ex in $(ls collector/examples/*.rs 2>/dev/null | xargs -n1 basename | sed 's/\.rs$//'); do
  echo "== collector example: $ex"
  timed "$t/release/examples/$ex" | sed 's/^/  /'
done
