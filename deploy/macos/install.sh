#!/bin/sh
# Installs (or upgrades) the fleetwatch agent as a launchd daemon on macOS.
#
#   sudo ./install.sh [--binary PATH] [--collector URL] [--ca-fingerprint FP]
#                     [--enroll-secret-file FILE]
#   sudo ./install.sh --uninstall
#
# An existing agent.toml is kept (like a %config(noreplace) file); the
# flags only fill in a new one. The state directory (node key) survives
# upgrades and uninstalls. FLEETWATCH_ROOT installs into another root
# (packaging, tests); launchctl only runs on macOS with the real root.
set -eu

root="${FLEETWATCH_ROOT:-}"
here=$(cd "$(dirname "$0")" && pwd)
binary="$here/fleetwatch-agent"
collector=""
fingerprint=""
secret=""
uninstall=0

while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary="$2"; shift 2 ;;
        --collector) collector="$2"; shift 2 ;;
        --ca-fingerprint) fingerprint="$2"; shift 2 ;;
        --enroll-secret-file) secret="$2"; shift 2 ;;
        --uninstall) uninstall=1; shift ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

label="org.fleetwatch.agent"
bin_dir="$root/usr/local/bin"
conf_dir="$root/Library/Application Support/fleetwatch"
state_dir="$conf_dir/state"
log_dir="$root/Library/Logs/fleetwatch"
daemon="$root/Library/LaunchDaemons/$label.plist"
live=0
if [ -z "$root" ] && [ "$(uname -s)" = Darwin ]; then
    live=1
    [ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root (sudo)" >&2; exit 1; }
fi

if [ "$live" -eq 1 ]; then
    # Stop a running agent before replacing it; absent is fine.
    launchctl bootout "system/$label" 2>/dev/null || true
fi

if [ "$uninstall" -eq 1 ]; then
    rm -f "$daemon" "$bin_dir/fleetwatch-agent"
    echo "fleetwatch agent removed (configuration and state kept in $conf_dir)"
    exit 0
fi

[ -f "$binary" ] || { echo "install.sh: no agent binary at $binary (use --binary)" >&2; exit 1; }

mkdir -p "$bin_dir" "$conf_dir" "$state_dir" "$log_dir" "$(dirname "$daemon")"
chmod 0755 "$conf_dir" "$log_dir"
chmod 0700 "$state_dir"
cp "$binary" "$bin_dir/fleetwatch-agent.new"
chmod 0755 "$bin_dir/fleetwatch-agent.new"
mv -f "$bin_dir/fleetwatch-agent.new" "$bin_dir/fleetwatch-agent"

config="$conf_dir/agent.toml"
if [ ! -f "$config" ]; then
    umask 077
    {
        [ -n "$collector" ] && printf 'collector_url = "%s"\n' "$collector"
        [ -n "$fingerprint" ] && printf 'ca_fingerprint = "%s"\n' "$fingerprint"
        [ -n "$secret" ] && printf 'enroll_secret_file = "%s"\n' "$secret"
        # The template's own enroll_secret_file line gives way to the flag.
        if [ -n "$secret" ]; then
            grep -v '^enroll_secret_file' "$here/agent.toml"
        else
            cat "$here/agent.toml"
        fi
    } > "$config"
    chmod 0600 "$config"
fi

cp "$here/$label.plist" "$daemon"
chmod 0644 "$daemon"
if [ "$live" -eq 1 ]; then
    chown root:wheel "$daemon" "$bin_dir/fleetwatch-agent"
    launchctl bootstrap system "$daemon"
    launchctl enable "system/$label"
fi
echo "fleetwatch agent installed: $bin_dir/fleetwatch-agent, config $config"
