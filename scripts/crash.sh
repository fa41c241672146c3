#!/usr/bin/env bash
# kill -9 under load, many rounds (default 100): the real collector takes
# reports from several TLS connections, is killed with SIGKILL mid-load and
# restarted on the same data dir; every acknowledged report must be stored
# and answered as a duplicate when sent again (tests/tests/e2e_kill9.rs;
# scripts/test.sh runs the same test with 10 rounds). Prints one line per
# round and the total; exits non-zero on the first lost report.
#
#   scripts/crash.sh [ROUNDS] [CONNECTIONS] [MIN_ACKED_PER_ROUND]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-100}"
connections="${2:-6}"
min_acked="${3:-40}"
scripts/deps.sh
# The test drives the debug binaries, as scripts/test.sh builds them.
cargo build --workspace --bins --locked
FLEETWATCH_KILL9_ROUNDS="$rounds" FLEETWATCH_KILL9_CONNECTIONS="$connections" \
  FLEETWATCH_KILL9_MIN_ACKED="$min_acked" \
  cargo test --locked -p fleetwatch-e2e --test e2e_kill9 -- --nocapture 2>&1 \
  | grep --line-buffered -E '^kill9|^test result|panicked|FAILED|acknowledged before'
