//! Host identity: host name, FQDN, machine-id and DMI hardware facts.

use fleetwatch_protocol::{Hardware, HostIdentity};

use crate::host::SysRoot;

pub use crate::checks::hardware_ids::clean_dmi_value;

/// Reads `/sys/class/dmi/id/*`; unreadable fields (serial and uuid need root) are `None`.
pub fn read_hardware(root: &SysRoot) -> Hardware {
    let dmi = |name: &str| {
        root.read_value(&format!("/sys/class/dmi/id/{name}"))
            .and_then(|v| clean_dmi_value(&v))
    };
    Hardware {
        vendor: dmi("sys_vendor"),
        model: dmi("product_name"),
        serial: dmi("product_serial"),
        uuid: dmi("product_uuid").map(|u| u.to_ascii_lowercase()),
        bios_vendor: dmi("bios_vendor"),
        bios_version: dmi("bios_version"),
        bios_date: dmi("bios_date"),
        chassis_type: dmi("chassis_type"),
    }
}

/// Validates a machine-id: 32 hex digits (lowercased); anything else is `None`.
pub fn parse_machine_id(text: &str) -> Option<String> {
    let id = text.trim();
    (id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()) && id.chars().any(|c| c != '0'))
        .then(|| id.to_ascii_lowercase())
}

/// Reads the machine-id (`/etc/machine-id`, else the D-Bus copy).
pub fn read_machine_id(root: &SysRoot) -> Option<String> {
    ["/etc/machine-id", "/var/lib/dbus/machine-id"]
        .iter()
        .find_map(|p| root.read_value(p).and_then(|v| parse_machine_id(&v)))
}

/// The host name: the running kernel's, else `/etc/hostname`.
pub fn read_hostname(root: &SysRoot) -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| {
            root.read_value(p)
                .and_then(|v| v.lines().next().map(|l| l.trim().to_string()))
                .filter(|v| !v.is_empty() && !v.starts_with('#'))
        })
        .unwrap_or_default()
}

/// Finds the FQDN of `hostname` in `/etc/hosts` text: the canonical name of
/// a line that lists the host, when it is a dotted name under it.
pub fn fqdn_from_hosts(hosts: &str, hostname: &str) -> Option<String> {
    let short = hostname.split('.').next().unwrap_or(hostname);
    for line in hosts.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_whitespace();
        let Some(_address) = fields.next() else {
            continue;
        };
        let names: Vec<&str> = fields.collect();
        if !names.iter().any(|n| *n == hostname || *n == short) {
            continue;
        }
        if let Some(fqdn) = names
            .iter()
            .find(|n| n.starts_with(&format!("{short}.")) && !n.ends_with('.'))
        {
            return Some(fqdn.to_string());
        }
    }
    None
}

/// Best-effort FQDN: the host name itself when dotted, else from `/etc/hosts`.
/// No DNS query: a slow resolver must not stall the inventory.
pub fn read_fqdn(root: &SysRoot, hostname: &str) -> Option<String> {
    if hostname.contains('.') {
        return Some(hostname.to_string());
    }
    let hosts = root.read_optional("/etc/hosts").ok().flatten()?;
    fqdn_from_hosts(&hosts, hostname)
}

/// The identity sent at enrollment, read cheaply without a full inventory.
pub fn host_identity(root: &SysRoot) -> HostIdentity {
    let hw = read_hardware(root);
    HostIdentity {
        machine_id: read_machine_id(root),
        hardware_uuid: hw.uuid,
        serial: hw.serial,
        hostname: read_hostname(root),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> SysRoot {
        SysRoot::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/hosts/inventory-debian12"
        ))
    }

    #[test]
    fn dmi_fixture() {
        let hw = read_hardware(&fixture());
        assert_eq!(hw.vendor.as_deref(), Some("LENOVO"));
        assert_eq!(hw.model.as_deref(), Some("20L8S02D00"));
        assert_eq!(hw.serial.as_deref(), Some("PF1ABCDE"));
        assert_eq!(
            hw.uuid.as_deref(),
            Some("4c4c4544-0042-3510-8052-b4c04f4e3432")
        );
        assert_eq!(hw.bios_version.as_deref(), Some("N22ET80W (1.57 )"));
        assert_eq!(hw.bios_date.as_deref(), Some("02/27/2024"));
        assert_eq!(hw.chassis_type.as_deref(), Some("10"));
        // bios_vendor holds a placeholder in the fixture.
        assert_eq!(hw.bios_vendor, None);
    }

    #[test]
    fn dmi_placeholders_are_dropped() {
        assert_eq!(clean_dmi_value(" To Be Filled By O.E.M. \n"), None);
        assert_eq!(clean_dmi_value(""), None);
        assert_eq!(clean_dmi_value("Dell Inc.").as_deref(), Some("Dell Inc."));
    }

    #[test]
    fn machine_id_validation() {
        assert_eq!(
            parse_machine_id("0123456789ABCDEF0123456789abcdef\n").as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        assert_eq!(parse_machine_id("uninitialized\n"), None);
        assert_eq!(parse_machine_id(""), None);
        assert_eq!(parse_machine_id(&"0".repeat(32)), None);
        assert_eq!(
            read_machine_id(&fixture()).as_deref(),
            Some("5f3c1a9e8b7d4c2a9e1f0b6d3c8a7e21")
        );
    }

    #[test]
    fn hostname_and_fqdn() {
        let root = fixture();
        assert_eq!(read_hostname(&root), "ws-0042");
        assert_eq!(
            read_fqdn(&root, "ws-0042").as_deref(),
            Some("ws-0042.corp.example.com")
        );
        assert_eq!(
            fqdn_from_hosts("127.0.0.1 localhost\n::1 ip6-localhost\n", "box"),
            None
        );
        assert_eq!(
            read_fqdn(&root, "a.b.example").as_deref(),
            Some("a.b.example")
        );
    }
}
