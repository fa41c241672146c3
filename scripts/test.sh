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
# --- packaging (issue 10) ---
# The packages tests/tests/deploy_{packages,rpm,static,aarch64}.rs inspect:
# the static musl agent (built once, in the .deb, the .rpm and the tarball),
# the collector's .deb and .rpm (release), the aarch64 agent.
scripts/packages.sh
# --- end packaging ---
cargo test --workspace --locked --no-fail-fast
# --- fuzz: every cargo-fuzz target for 20,000 executions (fuzz/, nightly) ---
scripts/fuzz.sh smoke
