#!/usr/bin/env bash
# Reconnect storm: DEVICES simulated agents (default 10,000) are enrolled,
# the collector is restarted (SIGKILL, as after a crash) on the same data
# dir, and then every agent opens its own TLS connection at the same instant
# and sends a report with the agent's HTTP client, timeout and retry
# policy (429/503 after Retry-After + up to 50 %, a connection error after
# full-jitter backoff; see fleetwatch-loadgen). Prints the
# answers by status, the connection errors, the collector's RSS (idle,
# sampled peak, VmHWM) and whether it stayed up and ready. Release builds;
# loopback only; nothing here asserts a timing.
#
#   scripts/storm.sh [DEVICES]
set -euo pipefail
cd "$(dirname "$0")/.."
devices="${1:-10000}"
scripts/deps.sh
# Every agent is a socket on both ends: raise the descriptor limit (root
# may raise the hard limit too).
ulimit -Hn 1048576 2>/dev/null || true
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "open files limit: $(ulimit -n)"
cargo build --release --locked -p fleetwatch-collector -p fleetwatch-e2e --bins
t="${CARGO_TARGET_DIR:-target}"

tmp=$(mktemp -d)
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
api=$(port); metrics=$(port)
# One source address enrolls the whole fleet: lift the per-source limit.
printf 'enroll_rate_per_minute = 0\n' > "$tmp/collector.toml"
start_collector() {
  $t/release/fleetwatch-collector serve --config "$tmp/collector.toml" --data-dir "$tmp/collector" \
    --listen "127.0.0.1:$api" --metrics-listen "127.0.0.1:$metrics" >>"$tmp/collector.log" 2>&1 &
  collector=$!
  for _ in $(seq 300); do curl -fsS "http://127.0.0.1:$metrics/readyz" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "collector not ready" >&2; cat "$tmp/collector.log" >&2; exit 1
}
loadgen=($t/release/fleetwatch-loadgen --url "https://127.0.0.1:$api" --cert "$tmp/collector/tls/cert.pem"
  --secret-file "$tmp/collector/enroll-secret" --devices "$devices" --keys "$tmp/keys.txt")

start_collector
"${loadgen[@]}" --enroll-only --connections 32 | sed 's/^/  /'
echo "== restart (SIGKILL) on the same data dir"
kill -KILL "$collector"; wait "$collector" 2>/dev/null || true
start_collector
rss() { awk '/^VmRSS/ {print $2}' "/proc/$collector/status"; }
echo "  collector RSS before the storm: $(rss) KiB"
# Sample the RSS every 100 ms during the storm.
( peak=0; while kill -0 "$collector" 2>/dev/null; do r=$(rss 2>/dev/null || echo 0); [ "${r:-0}" -gt "$peak" ] && peak=$r && echo "$peak" > "$tmp/peak"; sleep 0.1; done ) &
sampler=$!
echo "== storm: $devices connections at once (load average before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs)"
/usr/bin/time -f '  loadgen: peak RSS %M KiB, CPU %U s user + %S s sys, wall %e s' \
  "${loadgen[@]}" --storm | sed 's/^/  /'
if kill -0 "$collector" 2>/dev/null; then
  echo "  collector: still running (pid $collector)"
else
  echo "  collector: DIED during the storm"; tail -50 "$tmp/collector.log"; exit 1
fi
kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
echo "  collector RSS: sampled peak $(cat "$tmp/peak" 2>/dev/null || echo '?') KiB, now $(rss) KiB, $(awk '/^VmHWM/ {print "VmHWM " $2 " KiB"}' "/proc/$collector/status")"
echo "  collector CPU time so far (enrolment excluded: restarted): $(ps -o cputime= -p "$collector")"
echo "  load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  collector /readyz after the storm: $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$metrics/readyz")"
curl -fsS "http://127.0.0.1:$metrics/metrics" \
  | grep -E '^fleetwatch_collector_(reports_received_total|report_errors_total|ingest_queue)' | sed 's/^/  /' || true
# grep -c exits 1 when it counts 0: that is the good outcome, not a failure.
{ grep -ciE 'panic' "$tmp/collector.log" || true; } | sed 's/^/  collector log lines with "panic": /'
