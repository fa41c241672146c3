#!/usr/bin/env bash
# Builds every package the deploy tests inspect, each binary once:
#   - the static agent (x86_64-unknown-linux-musl, profile `agent`), reused by
#     the .deb, the .rpm and the tarball;
#   - the collector (release; glibc) for its .deb and .rpm;
#   - the aarch64 agent (cross-compiled, unoptimised; run under qemu-user by the tests);
#   - the Windows agent (x86_64-pc-windows-gnu, unoptimised) with its MSI
#     and zip (scripts/package-windows.sh dev).
# Output: target/debian/*.deb, target/rpm/*.rpm (Debian's rpmbuild, specs in
# deploy/rpm/),
# target/tarball/fleetwatch-agent-<version>-x86_64-linux-musl.tar.gz,
# target/windows/*.msi and *.zip.
# Called from scripts/test.sh after scripts/deps.sh; the tests run it
# themselves when an artifact is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
musl=x86_64-unknown-linux-musl
arm=aarch64-unknown-linux-gnu
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)

# Each step says how long the previous one took (the lead keeps
# scripts/test.sh under its time budget with these figures).
last=$SECONDS
step() {
    echo "packages.sh: [$((SECONDS - last)) s] $*" >&2
    last=$SECONDS
}

# rpm_from_spec PACKAGE BINARY: deploy/rpm/PACKAGE/fleetwatch-PACKAGE.spec
# around the already-built BINARY, into $target/rpm/.
rpm_from_spec() {
    local top="$target/rpmbuild" binary=$2
    [[ $top == /* ]] || top="$PWD/$top"
    [[ $binary == /* ]] || binary="$PWD/$binary"
    rm -rf "$top"
    rpmbuild -bb --quiet --target x86_64 --nodeps \
        --define "_topdir $top" --define "fw_version $version" \
        --define "fw_root $PWD" --define "fw_binary $binary" \
        "deploy/rpm/$1/fleetwatch-$1.spec" >/dev/null
    mkdir -p "$target/rpm"
    mv "$top"/RPMS/x86_64/fleetwatch-"$1"-*.rpm "$target/rpm/"
    rm -rf "$top"
}

step "static agent ($musl, profile agent)"
cargo build --locked -p fleetwatch-agent --profile agent --target "$musl"
agent="$target/$musl/agent/fleetwatch-agent"

step "agent .deb and .rpm from the static binary"
# --no-build: the binary above is the one packaged (cargo deb resolves the
# asset target/release/fleetwatch-agent to $target/$musl/agent/).
# --no-strip: the .deb carries the same bytes as the .rpm and the tarball
# (the `agent` profile already drops debug info; the symbols it keeps name
# the functions in a field backtrace).
cargo deb --locked -p fleetwatch-agent --profile agent --target "$musl" --no-build --no-strip \
    --output "$target/debian/" >/dev/null
rpm_from_spec agent "$agent"

step "collector .deb and .rpm (release)"
cargo deb --locked -p fleetwatch-collector >/dev/null
rpm_from_spec collector "$target/release/fleetwatch-collector"

step "static agent tarball"
name="fleetwatch-agent-$version-x86_64-linux-musl"
stage="$target/tarball/$name"
rm -rf "$stage"
mkdir -p "$stage"
install -m 0755 "$agent" "$stage/fleetwatch-agent"
install -m 0755 deploy/tarball/install.sh "$stage/install.sh"
install -m 0644 deploy/systemd/fleetwatch-agent.service "$stage/"
install -m 0600 deploy/agent.toml "$stage/agent.toml"
install -m 0644 agent/agent.example.toml "$stage/agent.example.toml"
tar -C "$target/tarball" --owner=0 --group=0 --numeric-owner -czf "$target/tarball/$name.tar.gz" "$name"
rm -rf "$stage"

# --- windows (issue 9) ---
# The one Windows build of the test run (unoptimised: the optimised one costs
# a cold CI run ~10 more minutes), its MSI and zip (*-dev.*); the Wine e2e
# tests run the same .exe (tests/src/wine.rs). Deployable packages:
# scripts/package-windows.sh without an argument (profile agent).
step "Windows agent (x86_64-pc-windows-gnu, dev profile), MSI (wixl) and zip"
scripts/package-windows.sh dev
# --- end windows ---

# Unoptimised: the tests prove the cross-build and run it under qemu, and the
# dev profile costs a fraction of the size-optimised LTO build (CI time); the
# deployable build is the same command with --profile agent (README).
step "aarch64 agent ($arm, dev profile; linker and qemu runner in .cargo/config.toml)"
cargo build --locked -p fleetwatch-agent --target "$arm"
step "done"
