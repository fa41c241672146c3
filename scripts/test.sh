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
# The Windows agent: clippy for its own target (the cfg(windows) code), and
# the debug .exe that tests/tests/e2e_windows.rs runs under Wine (the same
# command as tests/src/wine.rs, so the tests do not rebuild it).
cargo clippy -p fleetwatch-agent --target x86_64-pc-windows-gnu --locked -- -D warnings
cargo build -p fleetwatch-agent --target x86_64-pc-windows-gnu --locked
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
