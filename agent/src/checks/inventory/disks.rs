//! Mounted file systems: sizes from `sysinfo` on the live machine, the mount
//! table from `/proc/mounts` on a fixture root; dm-crypt detection via sysfs.

use fleetwatch_protocol::Disk;

use crate::host::{HostError, SysRoot};

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

/// Undoes the octal escapes (`\040` for a space) of `/proc/mounts` and
/// `/proc/swaps` fields.
pub fn unescape_mount_field(field: &str) -> String {
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

/// A dm-crypt mapping a block device sits on (directly, or below LVM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptLayer {
    /// Kernel name of the dm-crypt node (`dm-0`).
    pub node: String,
    /// cryptsetup's device type from the dm uuid: `LUKS1`, `LUKS2`,
    /// `PLAIN`, `BITLK`, `TCRYPT`, ...
    pub kind: String,
}

/// What sysfs tells about the encryption under a block device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceEncryption {
    /// sysfs does not know the device (or is not there).
    Unknown,
    /// No dm-crypt layer (file-level encryption is not detected).
    NotEncrypted,
    /// On dm-crypt.
    DmCrypt(CryptLayer),
}

/// cryptsetup device types that name no encryption: `VERITY` and
/// `INTEGRITY` only sign or checksum, `SUBDEV` is the integrity part under a
/// LUKS2 mapping, `TEMP` a short-lived helper. cryptsetup gives every device
/// it creates a `CRYPT-<type>-[<uuid>-]<name>` uuid (libdevmapper.c,
/// `dm_prepare_uuid`), these included.
const NON_ENCRYPTING_TYPES: &[&str] = &["VERITY", "INTEGRITY", "SUBDEV", "TEMP"];

/// Whether `device` sits on dm-crypt: its dm node (or one below it, for LVM
/// on LUKS) has a `CRYPT-<type>` uuid of an encrypting type.
pub fn device_encryption(root: &SysRoot, device: &str) -> DeviceEncryption {
    let Some(name) = dm_node_name(root, device) else {
        return DeviceEncryption::Unknown;
    };
    if !name.starts_with("dm-") {
        // A plain partition: not dm-crypt.
        return if root.exists(&format!("/sys/class/block/{name}")) {
            DeviceEncryption::NotEncrypted
        } else {
            DeviceEncryption::Unknown
        };
    }
    match crypt_below(root, &name, 0) {
        Some(layer) => DeviceEncryption::DmCrypt(layer),
        None => DeviceEncryption::NotEncrypted,
    }
}

/// Whether `device` sits on dm-crypt; `None` when sysfs cannot tell.
pub fn is_dm_crypt(root: &SysRoot, device: &str) -> Option<bool> {
    match device_encryption(root, device) {
        DeviceEncryption::Unknown => None,
        DeviceEncryption::NotEncrypted => Some(false),
        DeviceEncryption::DmCrypt(_) => Some(true),
    }
}

/// Kernel block device name for a `/dev/...` path (resolving `/dev/mapper/*` links).
fn dm_node_name(root: &SysRoot, device: &str) -> Option<String> {
    let path = root.path(device);
    let resolved = std::fs::canonicalize(&path).unwrap_or(path);
    resolved
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
}

/// The device type of a cryptsetup dm uuid (`CRYPT-LUKS2-<uuid>-<name>`).
fn crypt_type(dm_uuid: &str) -> Option<&str> {
    let rest = dm_uuid.strip_prefix("CRYPT-")?;
    rest.split('-').next().filter(|t| !t.is_empty())
}

fn crypt_below(root: &SysRoot, name: &str, depth: u8) -> Option<CryptLayer> {
    let uuid = root.read_value(&format!("/sys/block/{name}/dm/uuid"));
    if let Some(kind) = uuid.as_deref().and_then(crypt_type)
        && !NON_ENCRYPTING_TYPES.contains(&kind)
    {
        return Some(CryptLayer {
            node: name.to_string(),
            kind: kind.to_string(),
        });
    }
    if depth >= 4 {
        return None;
    }
    dm_slaves(root, name)
        .iter()
        .filter(|slave| slave.starts_with("dm-"))
        .find_map(|slave| crypt_below(root, slave, depth + 1))
}

/// The block devices directly under a dm node (`/sys/block/dm-N/slaves`).
pub fn dm_slaves(root: &SysRoot, node: &str) -> Vec<String> {
    root.list_dir(&format!("/sys/block/{node}/slaves"))
        .unwrap_or_default()
}

/// The mounted file systems: sizes from system calls on the live root, the
/// mount table of `/proc/mounts` without sizes on a fixture root; each with
/// its dm-crypt state.
pub fn read_disks(root: &SysRoot) -> Result<Vec<Disk>, HostError> {
    if root.is_live() {
        return Ok(live_disks(root));
    }
    let mut disks = root
        .read_optional("/proc/mounts")?
        .map(|t| parse_mounts(&t))
        .unwrap_or_default();
    for d in &mut disks {
        d.encrypted = is_dm_crypt(root, &d.device);
    }
    Ok(disks)
}

/// Disks of the live machine via `sysinfo` (storage sizes only: cheap).
fn live_disks(root: &SysRoot) -> Vec<Disk> {
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

    /// Writes `value` at host path `path` under `root`.
    fn write_host_file(root: &SysRoot, path: &str, value: &str) {
        let path = root.path(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, value).unwrap();
    }

    #[test]
    fn dm_crypt_detection_through_lvm() {
        let dir = tempfile::tempdir().unwrap();
        let root = SysRoot::new(dir.path());
        let mk = |p: &str, v: &str| write_host_file(&root, p, v);
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

    #[test]
    fn dm_verity_and_dm_integrity_are_not_encryption() {
        // cryptsetup names every device it creates `CRYPT-<type>-...`, also
        // the integrity-only ones: a verity root is signed, not encrypted.
        let dir = tempfile::tempdir().unwrap();
        let root = SysRoot::new(dir.path());
        let mk = |p: &str, v: &str| write_host_file(&root, p, v);
        mk(
            "/sys/block/dm-0/dm/uuid",
            "CRYPT-VERITY-4f8e8f5a0b0c4e7e9a0d3c2b1a090807-root\n",
        );
        mk("/sys/block/dm-0/slaves/vda2", "");
        mk("/sys/block/dm-1/dm/uuid", "CRYPT-INTEGRITY-data\n");
        mk("/sys/block/dm-1/slaves/vda3", "");
        mk("/dev/dm-0", "");
        mk("/dev/dm-1", "");
        assert_eq!(is_dm_crypt(&root, "/dev/dm-0"), Some(false));
        assert_eq!(is_dm_crypt(&root, "/dev/dm-1"), Some(false));
    }
}
