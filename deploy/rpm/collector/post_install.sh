# %post for fleetwatch-collector ($1: 1 on install, 2+ on upgrade). Same
# policy as the .deb: enabled and started on first install, restarted after
# an upgrade.
install -d -o fleetwatch -g fleetwatch -m 0750 /var/lib/fleetwatch-collector
# The config may name secret files: readable by the service, not by everyone.
if [ -f /etc/fleetwatch/collector.toml ]; then
    chown root:fleetwatch /etc/fleetwatch/collector.toml
    chmod 0640 /etc/fleetwatch/collector.toml
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -eq 1 ]; then
        systemctl enable --now fleetwatch-collector.service >/dev/null 2>&1 || :
    else
        systemctl try-restart fleetwatch-collector.service >/dev/null 2>&1 || :
    fi
fi
