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
# --- windows (issue 9) ---
# The Windows agent: clippy for its own target (the cfg(windows) code). The
# .exe itself is built once, unoptimised, by scripts/packages.sh
# (scripts/package-windows.sh dev: the .exe, MSI and zip); the Wine e2e
# tests run that same binary (tests/src/wine.rs).
cargo clippy -p fleetwatch-agent --target x86_64-pc-windows-gnu --locked -- -D warnings
# --- end windows ---
# --- packaging (issue 10) ---
# The packages tests/tests/deploy_{packages,rpm,static,aarch64}.rs inspect:
# the static musl agent (built once, in the .deb, the .rpm and the tarball),
# the collector's .deb and .rpm (release), the aarch64 agent.
scripts/packages.sh
# --- end packaging ---
cargo test --workspace --locked --no-fail-fast
# --- fuzz: every cargo-fuzz target for 1,000 executions (unoptimised build) (fuzz/, nightly) ---
scripts/fuzz.sh smoke
