//! Network interfaces from BSD `ifconfig -a` output (macOS flavour:
//! `ether`, `inet A netmask 0xffffff00`, `inet6 A%scope prefixlen N`).

use fleetwatch_protocol::NetworkInterface;

/// Parses `ifconfig -a`: loopback interfaces and interfaces with neither a
/// hardware address nor an IP address are left out; sorted by name.
pub fn parse_ifconfig(text: &str) -> Vec<NetworkInterface> {
    let mut out = Vec::new();
    let mut current: Option<(NetworkInterface, bool)> = None;
    for line in text.lines() {
        if !line.starts_with([' ', '\t']) && !line.trim().is_empty() {
            out.extend(current.take());
            let Some((name, rest)) = line.split_once(": ") else {
                continue;
            };
            let loopback = rest.contains("LOOPBACK");
            current = Some((
                NetworkInterface {
                    name: name.to_string(),
                    ..NetworkInterface::default()
                },
                loopback,
            ));
            continue;
        }
        let Some((iface, _)) = current.as_mut() else {
            continue;
        };
        let mut words = line.split_whitespace();
        match words.next() {
            Some("ether") => iface.mac = words.next().map(str::to_ascii_lowercase),
            Some("inet") => {
                let Some(addr) = words.next() else { continue };
                let prefix = value_after(line, "netmask").and_then(netmask_prefix);
                iface.addresses.push(match prefix {
                    Some(p) => format!("{addr}/{p}"),
                    None => addr.to_string(),
                });
            }
            Some("inet6") => {
                let Some(addr) = words.next() else { continue };
                let addr = addr.split('%').next().unwrap_or(addr);
                iface.addresses.push(match value_after(line, "prefixlen") {
                    Some(p) => format!("{addr}/{p}"),
                    None => addr.to_string(),
                });
            }
            _ => {}
        }
    }
    out.extend(current);
    let mut out: Vec<NetworkInterface> = out
        .into_iter()
        .filter(|(i, loopback)| !loopback && (i.mac.is_some() || !i.addresses.is_empty()))
        .map(|(mut i, _)| {
            i.addresses.sort();
            i
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The word after `key` on `line`.
fn value_after<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let mut words = line.split_whitespace();
    words.find(|w| *w == key)?;
    words.next()
}

/// `0xffffff00` → 24.
fn netmask_prefix(mask: &str) -> Option<u32> {
    let bits = u32::from_str_radix(mask.strip_prefix("0x")?, 16).ok()?;
    Some(bits.count_ones())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interfaces_with_addresses_and_macs() {
        let text = "lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> mtu 16384\n\
                    \tinet 127.0.0.1 netmask 0xff000000\n\
                    gif0: flags=8010<POINTOPOINT,MULTICAST> mtu 1280\n\
                    en0: flags=8863<UP,BROADCAST,SMART,RUNNING,SIMPLEX,MULTICAST> mtu 1500\n\
                    \tether A4:83:E7:12:34:56\n\
                    \tinet6 fe80::1c2b:3d4e:5f60:7182%en0 prefixlen 64 secured scopeid 0xe \n\
                    \tinet 192.0.2.23 netmask 0xffffff00 broadcast 192.0.2.255\n\
                    \tstatus: active\n";
        let ifs = parse_ifconfig(text);
        assert_eq!(ifs.len(), 1);
        assert_eq!(ifs[0].name, "en0");
        assert_eq!(ifs[0].mac.as_deref(), Some("a4:83:e7:12:34:56"));
        assert_eq!(
            ifs[0].addresses,
            ["192.0.2.23/24", "fe80::1c2b:3d4e:5f60:7182/64"]
        );
    }

    /// A real Mac's `ifconfig -a`, as recorded in Puppet facter's fixtures
    /// (`spec/fixtures/ifconfig/darwin_ifconfig_all_with_multiple_interfaces`;
    /// two-space indentation as published).
    const FACTER_DARWIN: &str = "lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> mtu 16384
  inet6 ::1 prefixlen 128
  inet6 fe80::1%lo0 prefixlen 64 scopeid 0x1
  inet 127.0.0.1 netmask 0xff000000
gif0: flags=8010<POINTOPOINT,MULTICAST> mtu 1280
stf0: flags=0<> mtu 1280
en0: flags=8863<UP,BROADCAST,SMART,RUNNING,SIMPLEX,MULTICAST> mtu 1500
  ether 00:23:32:d5:ee:34
  inet6 fe80::223:32ff:fed5:ee34%en0 prefixlen 64 scopeid 0x4
  inet6 2610:10:20:209:223:32ff:fed5:ee34 prefixlen 64 autoconf
  inet 131.252.209.140 netmask 0xffffff00 broadcast 131.252.209.255
  media: autoselect (100baseTX <full-duplex>)
  status: active
en1: flags=8863<UP,BROADCAST,SMART,RUNNING,SIMPLEX,MULTICAST> mtu 1500
  ether 00:11:33:22:55:44
  inet6 fe80::211:33ff:fe22:5544%en1 prefixlen 64 scopeid 0x5
  inet 131.252.246.129 netmask 0xfffffe00 broadcast 131.252.247.255
  media: autoselect
  status: active
fw0: flags=8863<UP,BROADCAST,SMART,RUNNING,SIMPLEX,MULTICAST> mtu 4078
  lladdr 00:23:32:ff:fe:d5:ee:34
  media: autoselect <full-duplex>
  status: inactive
";

    #[test]
    fn a_public_recording_of_a_real_mac() {
        let ifs = parse_ifconfig(FACTER_DARWIN);
        let names: Vec<_> = ifs.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["en0", "en1"]);
        assert_eq!(ifs[1].mac.as_deref(), Some("00:11:33:22:55:44"));
        assert!(ifs[1].addresses.contains(&"131.252.246.129/23".to_string()));
        assert_eq!(ifs[0].addresses.len(), 3);
    }
}
