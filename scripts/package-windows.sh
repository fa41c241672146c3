#!/usr/bin/env bash
# The Windows agent and its two packages, from one build of the .exe
# (x86_64-pc-windows-gnu):
#   scripts/package-windows.sh        profile `agent` (optimised for size,
#                                     thin LTO): the packages to deploy
#   scripts/package-windows.sh dev    unoptimised, packages named *-dev.*:
#                                     what scripts/packages.sh (the test run)
#                                     builds, and the Wine end-to-end tests
#                                     (tests/src/wine.rs) run, because the
#                                     optimised Windows build costs a cold
#                                     CI run about 10 more minutes
# Output, in target/windows/:
#   fleetwatch-agent-<version>-x64[-dev].msi  (wixl, msitools)
#   fleetwatch-agent-<version>-x86_64-windows[-dev].zip
#     (fleetwatch-agent.exe, install.ps1, agent.example.toml)
# tests/tests/deploy_windows.rs runs it (dev) when a package is missing or
# older than the .exe.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
win=x86_64-pc-windows-gnu
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
out="$target/windows"
profile=${1:-agent}
case "$profile" in
  agent) dir=agent suffix="" ;;
  dev) dir=debug suffix="-dev" ;;
  *) echo "usage: $0 [dev]" >&2; exit 2 ;;
esac

cargo build --locked -p fleetwatch-agent --profile "$profile" --target "$win"
exe="$target/$win/$dir/fleetwatch-agent.exe"
mkdir -p "$out"

msi="$out/fleetwatch-agent-$version-x64$suffix.msi"
rm -f "$msi"
wixl --arch x64 -D Version="$version" -D AgentExe="$exe" -o "$msi" deploy/windows/fleetwatch-agent.wxs
# wixl maps neither HideTarget nor Secure on a property without a default:
# set msidbCustomActionTypeHideTarget (0x2000) on the action whose command
# line carries ENROLL_SECRET, so Windows Installer never logs it, and list
# the three properties in SecureCustomProperties (passed through to the
# elevated part of a managed install).
type=$(msiinfo export "$msi" CustomAction | awk -F'\t' '$1 == "WriteAgentConfig" { print $2 }')
[ -n "$type" ] || { echo "package-windows.sh: no WriteAgentConfig action in $msi" >&2; exit 1; }
msibuild "$msi" -q "UPDATE CustomAction SET Type = $((type | 0x2000)) WHERE Action = 'WriteAgentConfig'"
secure=$(msiinfo export "$msi" Property | awk -F'\t' '$1 == "SecureCustomProperties" { print $2 }')
if [ -n "$secure" ]; then
    msibuild "$msi" -q "UPDATE Property SET Value = '$secure;COLLECTOR_URL;CA_FINGERPRINT;ENROLL_SECRET' WHERE Property = 'SecureCustomProperties'"
else
    msibuild "$msi" -q "INSERT INTO Property (Property, Value) VALUES ('SecureCustomProperties', 'COLLECTOR_URL;CA_FINGERPRINT;ENROLL_SECRET')"
fi

name="fleetwatch-agent-$version-x86_64-windows$suffix"
stage="$out/$name"
rm -rf "$stage" "$out/$name.zip"
mkdir -p "$stage"
cp "$exe" "$stage/fleetwatch-agent.exe"
# CRLF: the script is read and edited on Windows.
sed 's/$/\r/' deploy/windows/install.ps1 >"$stage/install.ps1"
sed 's/$/\r/' agent/agent.example.toml >"$stage/agent.example.toml"
(cd "$out" && zip -q -X -r "$name.zip" "$name")
rm -rf "$stage"
