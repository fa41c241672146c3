//! Running vs newest installed kernel, ordered the way dpkg orders versions.

use std::cmp::Ordering;

use crate::host::SysRoot;

/// Newest kernel release found in `/boot/vmlinuz-*` or `{/usr,}/lib/modules/*`.
pub(super) fn newest_installed(root: &SysRoot) -> Option<String> {
    let from_boot = root
        .list_dir("/boot")
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| n.strip_prefix("vmlinuz-").map(str::to_string));
    let from_modules = ["/lib/modules", "/usr/lib/modules"]
        .into_iter()
        .flat_map(|d| root.list_dir(d).unwrap_or_default());
    from_boot
        .chain(from_modules)
        .filter(|n| is_release(n))
        .max_by(|a, b| compare_versions(a, b))
}

/// A kernel release starts with a digit; rescue images (`vmlinuz-0-rescue-…`) are not kernels to run.
fn is_release(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_digit()) && !name.contains("rescue")
}

/// Compares two versions with dpkg's algorithm (epoch, upstream, revision;
/// `~` sorts before everything, digits compare numerically).
pub(crate) fn compare_versions(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split_version(a);
    let (eb, ub, rb) = split_version(b);
    ea.cmp(&eb)
        .then_with(|| verrevcmp(ua, ub))
        .then_with(|| verrevcmp(ra, rb))
}

fn split_version(v: &str) -> (u64, &str, &str) {
    let (epoch, rest) = match v.split_once(':') {
        Some((e, rest)) if !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit()) => {
            (e.parse().unwrap_or(0), rest)
        }
        _ => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((upstream, revision)) => (epoch, upstream, revision),
        None => (epoch, rest, ""),
    }
}

fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while digit(a, i) && digit(b, j) {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if digit(a, i) {
            return Ordering::Greater;
        }
        if digit(b, j) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;
    use proptest::prelude::*;

    #[test]
    fn dpkg_order() {
        for (a, b, want) in [
            ("6.1.0-26-amd64", "6.1.0-9-amd64", Greater),
            ("6.1.0-26-amd64", "6.1.0-26-amd64", Equal),
            ("1.0~rc1", "1.0", Less),
            ("1.0", "1.0+deb12u1", Less),
            ("1:0.9", "2.0", Greater),
            (
                "5.14.0-427.13.1.el9_4.x86_64",
                "5.14.0-503.11.1.el9_5.x86_64",
                Less,
            ),
            ("6.9.7-arch1-1", "6.9.3-arch1-1", Greater),
            ("6.8.0-45-generic", "6.8.0-51-generic", Less),
            ("1.0a", "1.0", Greater),
            ("1.0-1", "1.0-1~bpo1", Greater),
            ("007", "7", Equal),
        ] {
            assert_eq!(compare_versions(a, b), want, "{a} vs {b}");
            assert_eq!(compare_versions(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn newest_kernel_from_boot_and_modules() {
        let dir = tempfile::tempdir().unwrap();
        for p in [
            "boot/vmlinuz-6.1.0-9-amd64",
            "boot/vmlinuz-6.1.0-26-amd64",
            "boot/vmlinuz-0-rescue-abc",
            "usr/lib/modules/6.1.0-21-amd64/modules.dep",
        ] {
            let path = dir.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        let root = SysRoot::new(dir.path());
        assert_eq!(newest_installed(&root).as_deref(), Some("6.1.0-26-amd64"));
    }

    proptest! {
        #[test]
        fn compare_is_antisymmetric_and_total(a in "\\PC{0,12}", b in "[0-9a-z.+~:-]{0,12}") {
            prop_assert_eq!(compare_versions(&a, &b), compare_versions(&b, &a).reverse());
        }
    }
}
