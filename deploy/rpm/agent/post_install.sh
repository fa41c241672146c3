# %post for fleetwatch-agent ($1: 1 on install, 2+ on upgrade). Same policy
# as the .deb: the unit is enabled but not started on first install (the
# agent needs collector_url, the CA/fingerprint and the enroll secret
# first); an upgrade restarts a running agent.
install -d -o root -g root -m 0700 /var/lib/fleetwatch-agent
chmod 0600 /etc/fleetwatch/agent.toml 2>/dev/null || true
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -eq 1 ]; then
        systemctl enable fleetwatch-agent.service >/dev/null 2>&1 || :
    else
        systemctl try-restart fleetwatch-agent.service >/dev/null 2>&1 || :
    fi
fi
