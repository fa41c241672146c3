# %preun for fleetwatch-agent ($1: 0 on erase, 1+ on upgrade): stop and
# disable the service only when the package goes away. The enrollment
# (/var/lib/fleetwatch-agent) is kept: RPM has no purge; remove it by hand.
if [ "$1" -eq 0 ] && [ -d /run/systemd/system ]; then
    systemctl disable --now fleetwatch-agent.service >/dev/null 2>&1 || :
fi
