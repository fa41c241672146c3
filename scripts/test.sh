#!/usr/bin/env bash
# The test command: installs what the tests need, then formats-checks, lints,
# builds the binaries the end-to-end tests drive, and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The end-to-end tests run the real binaries.
cargo build --workspace --bins --locked
# The Debian packages (release builds) that tests/tests/deploy_packages.rs inspects.
cargo deb --locked -p fleetwatch-agent --profile agent >/dev/null
cargo deb --locked -p fleetwatch-collector >/dev/null
cargo test --workspace --locked --no-fail-fast
# --- fuzz: every cargo-fuzz target for 20,000 executions (fuzz/, nightly) ---
scripts/fuzz.sh smoke
