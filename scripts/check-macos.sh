#!/bin/sh
# Type-checks (and lints) the agent for macOS on this Linux machine:
#   scripts/check-macos.sh [x86_64|aarch64]
# There is no macOS SDK here, so aws-lc-sys's C code is compiled with zig's
# bundled macOS headers (ziglang from PyPI); nothing is linked, so no Apple
# framework is needed. Not part of scripts/test.sh: the aws-lc C build alone
# takes ~15 minutes on a 2-core machine.
set -eu
arch="${1:-x86_64}"
triple="$arch-apple-darwin"
work="${TMPDIR:-/tmp}/fleetwatch-zig"
mkdir -p "$work"
if [ ! -x "$work/ziglang/zig" ]; then
    python3 -m pip download --quiet --no-deps --dest "$work" 'ziglang==0.13.0'
    python3 -m zipfile -e "$work"/ziglang-*.whl "$work" >/dev/null
    chmod +x "$work/ziglang/zig"
fi
# cc-rs passes Apple-clang flags (-arch, -mmacosx-version-min, --target=...,
# feature probes with -march) that zig cc does not take: drop them.
cat > "$work/cc-$arch" <<PY
#!/usr/bin/env python3
import os, sys
out, skip = [], False
for a in sys.argv[1:]:
    if skip:
        skip = False
        continue
    if a == "-arch":
        skip = True
        continue
    if a.startswith(("-mmacosx-version-min", "--target=", "-march=")):
        continue
    out.append(a)
cpu = ["-mcpu=apple_m1"] if "$arch" == "aarch64" else []
zig = "$work/ziglang/zig"
os.execv(zig, [zig, "cc", "-target", "$arch-macos"] + cpu + out)
PY
chmod +x "$work/cc-$arch"
rustup target add "$triple"
env_triple=$(echo "$triple" | tr - _)
export "CC_$env_triple=$work/cc-$arch" "AR_$env_triple=$work/ziglang/zig ar"
cargo clippy -p fleetwatch-agent --all-targets --target "$triple" -- -D warnings
