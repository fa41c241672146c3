//! Network interfaces of the live machine via `sysinfo`.

use fleetwatch_protocol::NetworkInterface;

/// Interfaces with their MAC and addresses, loopback excluded, sorted by name.
pub fn live_interfaces() -> Vec<NetworkInterface> {
    let Ok(networks) = sysinfo::Networks::new_with_refreshed_list() else {
        return Vec::new();
    };
    let mut out: Vec<NetworkInterface> = networks
        .iter()
        .filter(|(name, _)| name.to_str() != Some("lo"))
        .map(|(name, data)| {
            let mac = data.mac_address();
            let mut addresses: Vec<String> =
                data.ip_networks().iter().map(|n| n.to_string()).collect();
            addresses.sort();
            NetworkInterface {
                name: name.to_string_lossy().into_owned(),
                mac: (!mac.is_unspecified()).then(|| mac.to_string()),
                addresses,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}
