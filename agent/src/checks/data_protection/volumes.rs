//! Encryption of each fixed volume: every mounted file system of the
//! inventory's mount table (one entry per block device, removable media
//! left out) and every swap partition, each with the dm-crypt layer sysfs
//! shows under it. For a LUKS layer, `cryptsetup luksDump` of the device
//! under it gives the header's version and any online reencryption; where
//! cryptsetup cannot run (not installed, not root), the device type
//! cryptsetup wrote into the dm uuid at activation is used.

use fleetwatch_protocol::{EncryptionState, VolumeEncryption};

use super::luks::{self, LuksHeader};
use crate::checks::inventory::disks::{self, CryptLayer, DeviceEncryption};
use crate::checks::{CheckContext, CheckError};

/// `mount_point` of a swap partition (as `lsblk` shows it).
pub const SWAP: &str = "[SWAP]";

/// The volumes under the context's root.
pub fn read(ctx: &CheckContext<'_>) -> Result<Vec<VolumeEncryption>, CheckError> {
    let root = ctx.root;
    let mut volumes: Vec<(String, String)> = Vec::new();
    for disk in disks::read_disks(root)?
        .into_iter()
        .filter(|d| !d.removable)
    {
        match volumes
            .iter_mut()
            .find(|(device, _)| *device == disk.device)
        {
            // A device mounted twice is one volume; "/" names it best.
            Some((_, mount)) if disk.mount_point == "/" => *mount = disk.mount_point,
            Some(_) => {}
            None => volumes.push((disk.device, disk.mount_point)),
        }
    }
    if let Some(text) = root.read_optional("/proc/swaps")? {
        for device in parse_swap_partitions(&text) {
            if !volumes.iter().any(|(d, _)| *d == device) {
                volumes.push((device, SWAP.to_string()));
            }
        }
    }
    Ok(volumes
        .into_iter()
        .map(|(device, mount_point)| volume(ctx, device, mount_point))
        .collect())
}

fn volume(ctx: &CheckContext<'_>, device: String, mount_point: String) -> VolumeEncryption {
    let (method, state) = match disks::device_encryption(ctx.root, &device) {
        DeviceEncryption::Unknown => (None, EncryptionState::Unknown),
        DeviceEncryption::NotEncrypted => (None, EncryptionState::NotEncrypted),
        DeviceEncryption::DmCrypt(layer) => match luks_header(ctx, &layer) {
            Some(header) => (Some(header.method()), header.state),
            None => (Some(method_of(&layer.kind)), EncryptionState::Encrypted),
        },
    };
    VolumeEncryption {
        system_volume: mount_point == "/",
        protection_on: match state {
            EncryptionState::Encrypted => Some(true),
            EncryptionState::Unknown => None,
            // Data not (yet, or any more) all encrypted is not protected.
            _ => Some(false),
        },
        mount_point,
        device: Some(device),
        method,
        state,
    }
}

/// The method name for a cryptsetup device type (`LUKS2` → `luks2`,
/// `PLAIN` → `dm-crypt`).
fn method_of(kind: &str) -> String {
    if kind == "PLAIN" {
        "dm-crypt".into()
    } else {
        kind.to_ascii_lowercase()
    }
}

/// The LUKS header of the device under a LUKS mapping, when cryptsetup can read it.
fn luks_header(ctx: &CheckContext<'_>, layer: &CryptLayer) -> Option<LuksHeader> {
    if !layer.kind.starts_with("LUKS") {
        return None;
    }
    let backing = disks::dm_slaves(ctx.root, &layer.node).into_iter().next()?;
    let device = format!("/dev/{backing}");
    match ctx
        .runner
        .run("cryptsetup", &["luksDump", &device], ctx.command_timeout)
    {
        Ok(out) if out.success() => luks::parse_luks_dump(&out.stdout_text()),
        Ok(out) => {
            tracing::debug!(device, error = %out.stderr_summary(), "cryptsetup luksDump failed");
            None
        }
        Err(e) => {
            tracing::debug!(device, error = %e, "cryptsetup not run");
            None
        }
    }
}

/// The swap partitions of `/proc/swaps` (swap files live on a file system
/// that is judged itself; zram is memory, not disk).
pub fn parse_swap_partitions(text: &str) -> Vec<String> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let (name, kind) = (f.next()?, f.next()?);
            (kind == "partition" && !name.starts_with("/dev/zram"))
                .then(|| disks::unescape_mount_field(name))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_partitions_only() {
        let text = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n\
                    /dev/nvme0n1p3                          partition\t8388604\t\t0\t\t-2\n\
                    /swapfile                               file\t\t2097148\t\t0\t\t-3\n\
                    /dev/zram0                              partition\t4194300\t\t0\t\t100\n\
                    /dev/dm-2                               partition\t8388604\t\t0\t\t-4\n";
        assert_eq!(parse_swap_partitions(text), ["/dev/nvme0n1p3", "/dev/dm-2"]);
        assert!(parse_swap_partitions("Filename\tType\tSize\tUsed\tPriority\n").is_empty());
    }

    #[test]
    fn method_names() {
        assert_eq!(method_of("LUKS2"), "luks2");
        assert_eq!(method_of("PLAIN"), "dm-crypt");
        assert_eq!(method_of("BITLK"), "bitlk");
    }
}
