# %pre for fleetwatch-collector: the system user the service runs as, as the
# .deb's postinst creates it (RPM creates it before the files are laid down,
# so collector.toml can be owned by group fleetwatch).
getent group fleetwatch >/dev/null || groupadd --system fleetwatch
getent passwd fleetwatch >/dev/null || \
    useradd --system --gid fleetwatch --home-dir /var/lib/fleetwatch-collector \
        --no-create-home --shell /sbin/nologin \
        --comment "fleetwatch collector" fleetwatch
exit 0
