//! Mounted volumes from `system_profiler -json SPStorageDataType`.

use fleetwatch_protocol::Disk;
use serde::Deserialize;

/// `system_profiler -json SPStorageDataType`.
#[derive(Debug, Default, Deserialize)]
pub struct StorageReport {
    #[serde(rename = "SPStorageDataType", default)]
    volumes: Vec<Volume>,
}

#[derive(Debug, Deserialize)]
struct Volume {
    bsd_name: Option<String>,
    file_system: Option<String>,
    mount_point: Option<String>,
    size_in_bytes: Option<u64>,
    free_space_in_bytes: Option<u64>,
    physical_drive: Option<PhysicalDrive>,
}

#[derive(Debug, Deserialize)]
struct PhysicalDrive {
    is_internal_disk: Option<String>,
}

impl StorageReport {
    /// The mounted volumes, sorted by mount point; encryption is left
    /// unknown here (FileVault is reported in the data-protection section).
    pub fn disks(&self) -> Vec<Disk> {
        let mut disks: Vec<Disk> = self
            .volumes
            .iter()
            .filter_map(|v| {
                let mount_point = v.mount_point.clone().filter(|m| !m.is_empty())?;
                Some(Disk {
                    mount_point,
                    device: v
                        .bsd_name
                        .as_ref()
                        .map(|b| format!("/dev/{b}"))
                        .unwrap_or_default(),
                    filesystem: v
                        .file_system
                        .as_deref()
                        .unwrap_or_default()
                        .to_ascii_lowercase(),
                    total_bytes: v.size_in_bytes.unwrap_or(0),
                    available_bytes: v.free_space_in_bytes.unwrap_or(0),
                    encrypted: None,
                    removable: v
                        .physical_drive
                        .as_ref()
                        .and_then(|d| d.is_internal_disk.as_deref())
                        == Some("no"),
                })
            })
            .collect();
        disks.sort_by(|a, b| a.mount_point.cmp(&b.mount_point));
        disks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_without_a_mount_point_are_left_out() {
        let r: StorageReport = serde_json::from_str(
            r#"{"SPStorageDataType":[
              {"_name":"Macintosh HD","bsd_name":"disk3s1s1","file_system":"APFS","mount_point":"/",
               "size_in_bytes":494384795648,"free_space_in_bytes":200000000000,
               "physical_drive":{"is_internal_disk":"yes"}},
              {"_name":"Stick","bsd_name":"disk5s1","file_system":"ExFAT","mount_point":"/Volumes/Stick",
               "size_in_bytes":1000,"free_space_in_bytes":10,"physical_drive":{"is_internal_disk":"no"}},
              {"_name":"Unmounted","bsd_name":"disk6s1"}]}"#,
        )
        .unwrap();
        let disks = r.disks();
        assert_eq!(disks.len(), 2);
        assert_eq!(disks[0].device, "/dev/disk3s1s1");
        assert_eq!(disks[0].filesystem, "apfs");
        assert!(!disks[0].removable && disks[1].removable);
        assert_eq!(disks[0].encrypted, None);
    }
}
