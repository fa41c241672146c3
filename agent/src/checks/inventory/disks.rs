//! Mounted file systems: sizes from `sysinfo` on the live machine, the mount
//! table from `/proc/mounts` on a fixture root; dm-crypt detection via sysfs.

use fleetwatch_protocol::Disk;

use crate::host::SysRoot;

/// File systems that hold no user data (pseudo, in-memory, image, overlay).
const PSEUDO_FILESYSTEMS: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "efivarfs",
    "fusectl",
    "hugetlbfs",
    "mqueue",
    "nsfs",
    "overlay",
    "proc",
    "pstore",
    "ramfs",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "squashfs",
    "sysfs",
    "tmpfs",
    "tracefs",
];

/// Whether a mount is a real, block-backed file system worth reporting.
pub fn is_real_mount(device: &str, filesystem: &str) -> bool {
    device.starts_with("/dev/")
        && !device.starts_with("/dev/loop")
        && !PSEUDO_FILESYSTEMS.contains(&filesystem)
        && !filesystem.starts_with("fuse.")
}

/// Undoes the octal escapes (`\040` for a space) of `/proc/mounts` fields.
fn unescape_mount_field(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let octal = std::str::from_utf8(&bytes[i + 1..i + 4]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(octal, 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses `/proc/mounts`, keeping real file systems, first mount of each mount point.
pub fn parse_mounts(text: &str) -> Vec<Disk> {
    let mut disks: Vec<Disk> = Vec::new();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let (Some(device), Some(mount_point), Some(filesystem)) = (f.next(), f.next(), f.next())
        else {
            continue;
        };
        if !is_real_mount(device, filesystem) {
            continue;
        }
        let mount_point = unescape_mount_field(mount_point);
        if disks.iter().any(|d| d.mount_point == mount_point) {
            continue;
        }
        disks.push(Disk {
            mount_point,
            device: unescape_mount_field(device),
            filesystem: filesystem.to_string(),
            ..Disk::default()
        });
    }
    disks
}

/// Whether `device` sits on dm-crypt: its dm node (or one below it, for LVM
/// on LUKS) has a `CRYPT-` uuid. `None` when sysfs cannot tell.
pub fn is_dm_crypt(root: &SysRoot, device: &str) -> Option<bool> {
    let name = dm_node_name(root, device)?;
    if !name.starts_with("dm-") {
        // A plain partition: not dm-crypt (file-level encryption is not detected).
        return root
            .exists(&format!("/sys/class/block/{name}"))
            .then_some(false);
    }
    Some(dm_is_crypt(root, &name, 0))
}

/// Kernel block device name for a `/dev/...` path (resolving `/dev/mapper/*` links).
fn dm_node_name(root: &SysRoot, device: &str) -> Option<String> {
    let path = root.path(device);
    let resolved = std::fs::canonicalize(&path).unwrap_or(path);
    resolved
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
}

fn dm_is_crypt(root: &SysRoot, name: &str, depth: u8) -> bool {
    if root
        .read_value(&format!("/sys/block/{name}/dm/uuid"))
        .is_some_and(|u| u.starts_with("CRYPT-"))
    {
        return true;
    }
    depth < 4
        && root
            .list_dir(&format!("/sys/block/{name}/slaves"))
            .unwrap_or_default()
            .iter()
            .any(|slave| slave.starts_with("dm-") && dm_is_crypt(root, slave, depth + 1))
}

/// Disks of the live machine via `sysinfo` (storage sizes only: cheap).
pub fn live_disks(root: &SysRoot) -> Vec<Disk> {
    use sysinfo::{DiskRefreshKind, Disks};
    let Ok(disks) =
        Disks::new_with_refreshed_list_specifics(DiskRefreshKind::nothing().with_storage())
    else {
        return Vec::new();
    };
    let mut out: Vec<Disk> = Vec::new();
    for d in disks.iter() {
        let device = d.name().to_string_lossy().into_owned();
        let filesystem = d.file_system().to_string_lossy().into_owned();
        let mount_point = d.mount_point().to_string_lossy().into_owned();
        if !is_real_mount(&device, &filesystem) || out.iter().any(|o| o.mount_point == mount_point)
        {
            continue;
        }
        out.push(Disk {
            encrypted: is_dm_crypt(root, &device),
            mount_point,
            device,
            filesystem,
            total_bytes: d.total_space(),
            available_bytes: d.available_space(),
            removable: d.is_removable(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_keep_real_file_systems_only() {
        let text = "sysfs /sys sysfs rw 0 0\n\
                    /dev/mapper/vg-root / ext4 rw,relatime 0 0\n\
                    tmpfs /run tmpfs rw 0 0\n\
                    /dev/nvme0n1p1 /boot/efi vfat rw 0 0\n\
                    /dev/loop3 /snap/core/1 squashfs ro 0 0\n\
                    /dev/sdb1 /media/My\\040Disk exfat rw 0 0\n\
                    /dev/mapper/vg-root /var/lib/docker ext4 rw 0 0\n\
                    /dev/mapper/vg-root / ext4 rw 0 0\n\
                    gvfsd-fuse /run/user/1000/gvfs fuse.gvfsd-fuse rw 0 0\n";
        let disks = parse_mounts(text);
        let mounts: Vec<_> = disks.iter().map(|d| d.mount_point.as_str()).collect();
        assert_eq!(
            mounts,
            ["/", "/boot/efi", "/media/My Disk", "/var/lib/docker"]
        );
        assert_eq!(disks[0].device, "/dev/mapper/vg-root");
        assert_eq!(disks[0].filesystem, "ext4");
    }

    #[test]
    fn dm_crypt_detection_through_lvm() {
        let dir = tempfile::tempdir().unwrap();
        let root = SysRoot::new(dir.path());
        let mk = |p: &str, v: &str| {
            let path = root.path(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, v).unwrap();
        };
        mk("/sys/block/dm-0/dm/uuid", "CRYPT-LUKS2-abc-luks\n");
        mk("/sys/block/dm-1/dm/uuid", "LVM-xyz\n");
        mk("/sys/block/dm-1/slaves/dm-0", "");
        mk("/sys/block/dm-2/dm/uuid", "LVM-plain\n");
        mk("/dev/dm-1", "");
        mk("/dev/dm-2", "");
        assert_eq!(is_dm_crypt(&root, "/dev/dm-1"), Some(true));
        assert_eq!(is_dm_crypt(&root, "/dev/dm-2"), Some(false));
        mk("/sys/class/block/sda1/dev", "8:1");
        mk("/dev/sda1", "");
        assert_eq!(is_dm_crypt(&root, "/dev/sda1"), Some(false));
        assert_eq!(is_dm_crypt(&root, "/dev/unknown"), None);
    }
}
