#!/usr/bin/env bash
# The main job on one machine: a collector with its embedded defaults and a
# local agent enrolled against it, reporting every minute. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cc >/dev/null 2>&1 || scripts/deps.sh
cargo build --release --locked -p fleetwatch-collector -p fleetwatch-agent --bins
bin="${CARGO_TARGET_DIR:-target}/release"

dev=".fleetwatch-dev"
data="$dev/collector"
state="$dev/agent"
mkdir -p "$data" "$state"
api="127.0.0.1:${FLEETWATCH_API_PORT:-8443}"
metrics="127.0.0.1:${FLEETWATCH_METRICS_PORT:-9464}"

"$bin/fleetwatch-collector" serve --data-dir "$data" --listen "$api" --metrics-listen "$metrics" &
collector=$!
agent=""
cleanup() {
  [ -n "$agent" ] && kill "$agent" 2>/dev/null || true
  kill "$collector" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/${metrics%:*}/${metrics#*:}") 2>/dev/null && break
  kill -0 "$collector" 2>/dev/null || { echo "collector failed to start" >&2; exit 1; }
  sleep 0.1
done

# The agent trusts exactly the collector's self-signed certificate.
"$bin/fleetwatch-agent" run \
  --collector "https://$api" \
  --ca "$data/tls/cert.pem" \
  --enroll-secret-file "$data/enroll-secret" \
  --state-dir "$state" \
  --config /dev/null &
agent=$!

cat <<MSG

fleetwatch is running (Ctrl-C stops it).
  web console:  https://$api/console/   (self-signed certificate; sign in with the
                admin token in $data/admin-token)
  metrics:      curl http://$metrics/metrics
  devices API:  curl -k -H "Authorization: Bearer \$(cat $data/admin-token)" https://$api/api/v1/devices
  compliance:   curl -k -H "Authorization: Bearer \$(cat $data/admin-token)" https://$api/api/v1/compliance
  data:         $data   agent state: $state
MSG
wait "$collector"
