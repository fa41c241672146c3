//! Version order, the way each package manager orders versions: RPM's
//! (`rpmvercmp` on epoch, version, release: dnf, zypper; pacman's `vercmp`
//! is the same algorithm) or Debian's (`dpkg --compare-versions`: apt).

use std::cmp::Ordering;

/// Which rules order versions on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionScheme {
    /// dpkg's order (Debian policy 5.6.12), through the `debversion` crate.
    Debian,
    /// RPM's order (tilde sorts first, caret after the base version,
    /// epochs first), through the `rpm-version` crate.
    Rpm,
}

impl VersionScheme {
    /// Compares two `[epoch:]version[-release]` strings.
    pub fn compare(self, a: &str, b: &str) -> Ordering {
        match self {
            VersionScheme::Rpm => rpm_version::rpm_evr_compare(a, b),
            VersionScheme::Debian => {
                match (
                    a.parse::<debversion::Version>(),
                    b.parse::<debversion::Version>(),
                ) {
                    (Ok(a), Ok(b)) => a.cmp(&b),
                    // A string dpkg would refuse sorts before every valid one.
                    (Ok(_), Err(_)) => Ordering::Greater,
                    (Err(_), Ok(_)) => Ordering::Less,
                    (Err(_), Err(_)) => a.cmp(b),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;
    use proptest::prelude::*;

    fn want(n: &str) -> Ordering {
        match n {
            "-1" => Less,
            "0" => Equal,
            "1" => Greater,
            _ => panic!("bad expectation {n}"),
        }
    }

    /// Every case of rpm's own test suite (`testdata/rpmvercmp.txt`; the
    /// record script checks each against the real rpm).
    #[test]
    fn rpm_order_matches_rpms_test_suite() {
        let cases = include_str!("testdata/rpmvercmp.txt");
        let mut n = 0;
        for line in cases.lines().filter(|l| !l.starts_with('#')) {
            let [_kind, a, b, expected] = line.split_whitespace().collect::<Vec<_>>()[..] else {
                panic!("bad case line {line}");
            };
            assert_eq!(
                VersionScheme::Rpm.compare(a, b),
                want(expected),
                "rpm: {a} vs {b}"
            );
            n += 1;
        }
        assert!(n >= 100, "{n} cases");
    }

    /// Where the two schemes disagree, each host gets its own (expected
    /// values from the real `rpm --eval '%{lua: print(rpm.vercmp(a, b))}'`
    /// and `dpkg --compare-versions` on Debian 12).
    #[test]
    fn rpm_and_dpkg_differ_where_they_should() {
        for (a, b, rpm, deb) in [
            // RPM: trailing separators are ignored, so the letter makes it
            // newer; dpkg: '+' sorts after letters.
            ("1.0a", "1.0+", Greater, Less),
            // RPM: separators only split segments; dpkg: '.' sorts after 'a'.
            ("1.0.a", "1.0a", Equal, Greater),
            ("2:1.0-1", "1:9.9-1", Greater, Greater),
            ("1.0~rc1", "1.0", Less, Less),
        ] {
            assert_eq!(VersionScheme::Rpm.compare(a, b), rpm, "rpm {a} {b}");
            assert_eq!(VersionScheme::Debian.compare(a, b), deb, "deb {a} {b}");
        }
    }

    #[test]
    fn debian_order() {
        for (a, b, expected) in [
            ("6.1.0-26-amd64", "6.1.0-9-amd64", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0", "1.0+deb12u1", Less),
            ("1:0.9", "2.0", Greater),
            ("6.8.0-45-generic", "6.8.0-51-generic", Less),
            ("1.0-1", "1.0-1~bpo1", Greater),
            ("3.0.13-0ubuntu3.4", "3.0.13-0ubuntu3.5", Less),
        ] {
            assert_eq!(VersionScheme::Debian.compare(a, b), expected, "{a} vs {b}");
            assert_eq!(
                VersionScheme::Debian.compare(b, a),
                expected.reverse(),
                "{b} vs {a}"
            );
        }
    }

    proptest! {
        #[test]
        fn both_orders_are_antisymmetric(a in "[0-9a-z.+~^:_-]{0,12}", b in "[0-9a-z.+~^:_-]{0,12}") {
            for s in [VersionScheme::Rpm, VersionScheme::Debian] {
                prop_assert_eq!(s.compare(&a, &b), s.compare(&b, &a).reverse());
            }
        }
    }
}
