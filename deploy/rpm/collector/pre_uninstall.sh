# %preun for fleetwatch-collector ($1: 0 on erase, 1+ on upgrade). The
# database, TLS material and secrets in /var/lib/fleetwatch-collector and
# the fleetwatch user are kept (RPM has no purge; remove them by hand).
if [ "$1" -eq 0 ] && [ -d /run/systemd/system ]; then
    systemctl disable --now fleetwatch-collector.service >/dev/null 2>&1 || :
fi
