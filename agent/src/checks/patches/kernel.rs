//! Running vs newest installed kernel, ordered by the host's package
//! manager's version rules.

use super::version::VersionScheme;
use crate::host::SysRoot;

/// Newest kernel release found in `/boot/vmlinuz-*` or `{/usr,}/lib/modules/*`.
pub(super) fn newest_installed(root: &SysRoot, scheme: VersionScheme) -> Option<String> {
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
        .max_by(|a, b| scheme.compare(a, b))
}

/// A kernel release starts with a digit; rescue images (`vmlinuz-0-rescue-…`) are not kernels to run.
fn is_release(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_digit()) && !name.contains("rescue")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_with(files: &[&str]) -> (tempfile::TempDir, SysRoot) {
        let dir = tempfile::tempdir().unwrap();
        for p in files {
            let path = dir.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        let root = SysRoot::new(dir.path());
        (dir, root)
    }

    #[test]
    fn newest_kernel_from_boot_and_modules() {
        let (_dir, root) = root_with(&[
            "boot/vmlinuz-6.1.0-9-amd64",
            "boot/vmlinuz-6.1.0-26-amd64",
            "boot/vmlinuz-0-rescue-abc",
            "usr/lib/modules/6.1.0-21-amd64/modules.dep",
        ]);
        assert_eq!(
            newest_installed(&root, VersionScheme::Debian).as_deref(),
            Some("6.1.0-26-amd64")
        );
    }

    #[test]
    fn rpm_kernels_are_ordered_by_rpm() {
        // Where the rules differ (checked with the real rpm and dpkg): RPM
        // ignores a trailing '+', so the letter wins; dpkg sorts '+' after letters.
        let (_dir, root) = root_with(&[
            "boot/vmlinuz-5.14.0-427.13.1.el9_4.x86_64",
            "boot/vmlinuz-5.14.0-503.el9a",
            "boot/vmlinuz-5.14.0-503.el9+",
        ]);
        assert_eq!(
            newest_installed(&root, VersionScheme::Rpm).as_deref(),
            Some("5.14.0-503.el9a")
        );
        assert_eq!(
            newest_installed(&root, VersionScheme::Debian).as_deref(),
            Some("5.14.0-503.el9+")
        );
    }
}
