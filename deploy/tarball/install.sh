#!/bin/sh
# Installs (or upgrades) the static fleetwatch agent from this tarball on any
# Linux with systemd, including distributions older than the build machine
# (the binary needs no libc of the host).
#
#   ./install.sh [--collector URL] [--ca-fingerprint FP] [--enroll-secret-file FILE]
#   ./install.sh --uninstall
#
# Files: /usr/local/bin/fleetwatch-agent, /etc/systemd/system/fleetwatch-agent.service,
# /etc/fleetwatch/agent.toml (0600; an existing one is kept, like a
# %config(noreplace) file: the flags only fill in a new one), state in
# /var/lib/fleetwatch-agent (kept by upgrades and --uninstall).
# DESTDIR=/some/root installs into another root (packaging, tests); systemctl
# only runs for the real root. The unit is enabled, not started: start it
# once agent.toml names the collector.
set -eu

destdir="${DESTDIR:-}"
here=$(cd "$(dirname "$0")" && pwd)
collector=""
fingerprint=""
secret=""
uninstall=0

while [ $# -gt 0 ]; do
    case "$1" in
        --collector) collector="$2"; shift 2 ;;
        --ca-fingerprint) fingerprint="$2"; shift 2 ;;
        --enroll-secret-file) secret="$2"; shift 2 ;;
        --uninstall) uninstall=1; shift ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

bin="$destdir/usr/local/bin/fleetwatch-agent"
unit="$destdir/etc/systemd/system/fleetwatch-agent.service"
conf="$destdir/etc/fleetwatch/agent.toml"
state="$destdir/var/lib/fleetwatch-agent"
live=0
if [ -z "$destdir" ]; then
    [ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root" >&2; exit 1; }
    [ -d /run/systemd/system ] && live=1
fi

if [ "$uninstall" -eq 1 ]; then
    [ "$live" -eq 1 ] && systemctl disable --now fleetwatch-agent.service >/dev/null 2>&1 || :
    rm -f "$bin" "$unit"
    [ "$live" -eq 1 ] && systemctl daemon-reload || :
    echo "fleetwatch agent removed (configuration and state kept: $conf, $state)"
    exit 0
fi

[ -f "$here/fleetwatch-agent" ] || { echo "install.sh: no fleetwatch-agent next to this script" >&2; exit 1; }

umask 022
mkdir -p "$(dirname "$bin")" "$(dirname "$unit")" "$(dirname "$conf")"
# Replace the binary atomically: a running agent keeps its old inode.
cp "$here/fleetwatch-agent" "$bin.new"
chmod 0755 "$bin.new"
mv -f "$bin.new" "$bin"
# The packaged unit runs /usr/bin/fleetwatch-agent; this install lives in /usr/local.
sed 's|^ExecStart=/usr/bin/fleetwatch-agent |ExecStart=/usr/local/bin/fleetwatch-agent |' \
    "$here/fleetwatch-agent.service" >"$unit.new"
chmod 0644 "$unit.new"
mv -f "$unit.new" "$unit"
grep -q '^ExecStart=/usr/local/bin/fleetwatch-agent ' "$unit" ||
    { echo "install.sh: could not point the unit at /usr/local/bin" >&2; exit 1; }

install -d -m 0700 "$state"
if [ ! -e "$conf" ]; then
    (umask 077; cp "$here/agent.toml" "$conf")
    # Fill in only the settings given; each replaces its commented example.
    edit() { sed -i "s|^# *$1 = .*|$1 = \"$2\"|" "$conf"; }
    [ -n "$collector" ] && edit collector_url "$collector"
    [ -n "$fingerprint" ] && edit ca_fingerprint "$fingerprint"
    [ -n "$secret" ] && sed -i "s|^enroll_secret_file = .*|enroll_secret_file = \"$secret\"|" "$conf"
    echo "wrote $conf"
else
    echo "kept the existing $conf"
fi
chmod 0600 "$conf"
mkdir -p "$destdir/usr/local/share/doc/fleetwatch-agent"
cp "$here/agent.example.toml" "$destdir/usr/local/share/doc/fleetwatch-agent/"

if [ "$live" -eq 1 ]; then
    systemctl daemon-reload
    systemctl enable fleetwatch-agent.service
    # An upgrade restarts a running agent; a first install waits for its config.
    systemctl try-restart fleetwatch-agent.service
fi
echo "fleetwatch agent installed: $bin"
