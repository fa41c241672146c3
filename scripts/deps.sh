#!/usr/bin/env bash
# Installs the Debian packages the tests and the demo need, only when missing.
# Tests never skip because a tool is absent: this script is how they get it.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have promtool || need+=(prometheus)
have amtool || need+=(prometheus-alertmanager)
have prometheus-alertmanager || [ -x /usr/bin/prometheus-alertmanager ] || need+=(prometheus-alertmanager)
have restic || need+=(restic)
have borg || need+=(borgbackup)
have systemd-analyze || need+=(systemd)
have cc || need+=(gcc)
have sqlite3 || need+=(sqlite3)
# e2e_refusals drives the real curl over HTTP/1.1 and HTTP/2; e2e_disk_full
# gives the collector a tmpfs of its own with unshare.
have curl || need+=(curl)
have unshare || need+=(util-linux)
# agent/tests/hardened_unit_live.rs: the unit's sandbox by hand (unshare,
# setpriv) where systemd is not PID 1.
have setpriv || need+=(util-linux)

have dpkg-deb || need+=(dpkg)
# The data-protection live test loads a ruleset with nft in a namespace of its own.
[ -x /usr/sbin/nft ] || need+=(nftables)

# --- packaging (issue 10): static musl agent, RPMs, aarch64 under qemu ---
have musl-gcc || need+=(musl-tools)
have readelf || need+=(binutils)
have rpm || need+=(rpm)
# scripts/packages.sh builds the RPMs with rpmbuild from deploy/rpm/*/*.spec.
have rpmbuild || need+=(rpm)
have rpm2cpio || need+=(rpm2cpio)
have aarch64-linux-gnu-gcc || need+=(gcc-aarch64-linux-gnu)
[ -e /usr/aarch64-linux-gnu/include/stdio.h ] || need+=(libc6-dev-arm64-cross)
have qemu-aarch64 || need+=(qemu-user)
# --- end packaging ---
# --- web console (issue 11): tests/tests/console_browser.rs drives the real
# headless chromium through chromedriver (Debian's chromium-driver).
have chromium || need+=(chromium)
have chromedriver || need+=(chromium-driver)
# --- end web console ---

# --- windows (issue 9): cross-build with mingw, run the .exe under Wine ---
have x86_64-w64-mingw32-gcc || need+=(gcc-mingw-w64-x86-64)
have wine || need+=(wine wine64)
have wineboot || need+=(wine)
have wineserver || need+=(wine64)
# The MSI: built with wixl, inspected with msiinfo/msiextract (msitools);
# the zip with the PowerShell install script.
have wixl || need+=(wixl)
have msiinfo || need+=(msitools)
have msiextract || need+=(msitools)
have msibuild || need+=(msitools)
have zip || need+=(zip)
have unzip || need+=(unzip)
# --- end windows ---

if [ ${#need[@]} -gt 0 ]; then
  mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
  echo "installing: ${need[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  # policy-rc.d keeps the packages' own services from starting: tests start
  # Prometheus and Alertmanager themselves on loopback ports.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# cargo-deb builds the Debian packages (crates.io; compiled once, then cached).
if ! cargo deb --version >/dev/null 2>&1; then
  echo "installing cargo-deb" >&2
  cargo install --locked cargo-deb >/dev/null
fi

# --- packaging (issue 10) ---
# Rust targets for the static and the aarch64 agent, and the RPM builder.
installed_targets=$(rustup target list --installed)
for t in x86_64-unknown-linux-musl aarch64-unknown-linux-gnu; do
  if ! grep -qx "$t" <<<"$installed_targets"; then
    echo "installing the Rust target $t" >&2
    rustup target add "$t" >/dev/null
  fi
done
# --- end packaging ---
# --- windows (issue 9): the Rust target of fleetwatch-agent.exe ---
if ! rustup target list --installed | grep -qx x86_64-pc-windows-gnu; then
  echo "installing the Rust target x86_64-pc-windows-gnu" >&2
  rustup target add x86_64-pc-windows-gnu >/dev/null
fi
# --- end windows ---
# --- fuzz (scripts/fuzz.sh smoke, run by scripts/test.sh) ---------------
# cargo-fuzz needs a nightly toolchain (libFuzzer's instrumentation flags).
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "installing the nightly toolchain" >&2
  rustup toolchain install nightly --profile minimal >/dev/null
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz" >&2
  cargo install --locked cargo-fuzz >/dev/null
fi
# --- end fuzz -----------------------------------------------------------
