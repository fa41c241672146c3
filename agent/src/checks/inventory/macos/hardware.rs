//! Mac hardware: `system_profiler -json SPHardwareDataType` (model,
//! serial, hardware UUID, boot ROM), `sysctl` (CPU, memory, boot time,
//! architecture, Darwin release) and `vm_stat` (available memory).

use std::collections::HashMap;

use fleetwatch_protocol::{CpuInfo, Hardware, MemoryInfo};
use serde::Deserialize;

use crate::checks::inventory::identity::clean_dmi_value;

/// The `sysctl` names the inventory asks for, in one call.
pub const SYSCTL_NAMES: [&str; 9] = [
    "kern.hostname",
    "hw.memsize",
    "hw.physicalcpu",
    "hw.logicalcpu",
    "machdep.cpu.brand_string",
    "hw.machine",
    "kern.osrelease",
    "kern.boottime",
    "vm.swapusage",
];

/// `system_profiler -json SPHardwareDataType`.
#[derive(Debug, Default, Deserialize)]
pub struct HardwareReport {
    #[serde(rename = "SPHardwareDataType", default)]
    items: Vec<HardwareOverview>,
}

/// The one `hardware_overview` item.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct HardwareOverview {
    /// `MacBook Pro`.
    pub machine_name: Option<String>,
    /// `Mac14,7`.
    pub machine_model: Option<String>,
    /// The serial number.
    pub serial_number: Option<String>,
    /// The hardware UUID (`IOPlatformUUID`).
    #[serde(rename = "platform_UUID")]
    pub platform_uuid: Option<String>,
    /// Apple silicon chip (`Apple M2`).
    pub chip_type: Option<String>,
    /// Intel processor (`Quad-Core Intel Core i7`).
    pub cpu_type: Option<String>,
    /// Boot ROM (firmware) version.
    pub boot_rom_version: Option<String>,
}

impl HardwareReport {
    /// The first (only) overview item.
    pub fn overview(&self) -> HardwareOverview {
        self.items.first().cloned().unwrap_or_default()
    }
}

impl HardwareOverview {
    /// The hardware section: Apple as vendor, `MacBook Pro (Mac14,7)` as model.
    pub fn hardware(&self) -> Hardware {
        let clean = |v: &Option<String>| v.as_deref().and_then(clean_dmi_value);
        let model = match (clean(&self.machine_name), clean(&self.machine_model)) {
            (Some(name), Some(id)) => Some(format!("{name} ({id})")),
            (name, id) => name.or(id),
        };
        Hardware {
            vendor: model.is_some().then(|| "Apple Inc.".to_string()),
            model,
            serial: clean(&self.serial_number),
            uuid: clean(&self.platform_uuid).map(|u| u.to_ascii_lowercase()),
            bios_version: clean(&self.boot_rom_version),
            ..Hardware::default()
        }
    }

    /// The processor name system_profiler gives (sysctl's brand string is preferred).
    pub fn processor(&self) -> Option<String> {
        self.chip_type.clone().or_else(|| self.cpu_type.clone())
    }
}

/// `name: value` pairs of `sysctl NAME...` output.
pub fn parse_sysctl(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let (name, value) = line.split_once(": ")?;
            Some((name.trim().to_string(), value.trim().to_string()))
        })
        .collect()
}

/// `kern.boottime: { sec = 1711000000, usec = 316548 } Thu Mar 21 ...` → seconds.
pub fn parse_boottime(value: &str) -> Option<i64> {
    let after = value.split("sec =").nth(1)?;
    after
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// `vm.swapusage: total = 2048.00M  used = 1034.25M  free = 1013.75M  (encrypted)`
/// → (total, free) bytes.
pub fn parse_swapusage(value: &str) -> Option<(u64, u64)> {
    let field = |name: &str| -> Option<u64> {
        let rest = value.split(&format!("{name} = ")).nth(1)?;
        let token = rest.split_whitespace().next()?;
        let (number, unit) = token.split_at(token.len().checked_sub(1)?);
        let scale: f64 = match unit {
            "K" => 1024.0,
            "M" => 1024.0 * 1024.0,
            "G" => 1024.0 * 1024.0 * 1024.0,
            _ => return None,
        };
        Some((number.parse::<f64>().ok()? * scale).round() as u64)
    };
    Some((field("total")?, field("free")?))
}

/// Available memory from `vm_stat`: free, inactive and speculative pages
/// (the pages macOS hands out without swapping) times the page size.
pub fn parse_vm_stat_available(text: &str) -> Option<u64> {
    let page_size: u64 = text
        .lines()
        .next()?
        .split("page size of ")
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let pages = |label: &str| -> Option<u64> {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == label).then(|| v.trim().trim_end_matches('.').parse().ok())?
        })
    };
    let total = pages("Pages free")? + pages("Pages inactive")? + pages("Pages speculative")?;
    total.checked_mul(page_size)
}

/// CPU from sysctl (brand string, cores), with system_profiler's name as fallback.
pub fn cpu_info(sysctl: &HashMap<String, String>, fallback_model: Option<String>) -> CpuInfo {
    let num = |k: &str| sysctl.get(k).and_then(|v| v.parse::<u32>().ok());
    CpuInfo {
        model: sysctl
            .get("machdep.cpu.brand_string")
            .filter(|v| !v.is_empty())
            .cloned()
            .or(fallback_model),
        physical_cores: num("hw.physicalcpu"),
        logical_cpus: num("hw.logicalcpu").unwrap_or(0),
    }
}

/// Memory totals from sysctl and vm_stat (0 where not known, as on the wire).
pub fn memory_info(sysctl: &HashMap<String, String>, available: Option<u64>) -> MemoryInfo {
    let (swap_total, swap_free) = sysctl
        .get("vm.swapusage")
        .and_then(|v| parse_swapusage(v))
        .unwrap_or((0, 0));
    MemoryInfo {
        total_bytes: sysctl
            .get("hw.memsize")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        available_bytes: available.unwrap_or(0),
        swap_total_bytes: swap_total,
        swap_free_bytes: swap_free,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_values() {
        let s = parse_sysctl(
            "hw.memsize: 17179869184\nhw.logicalcpu: 8\nmachdep.cpu.brand_string: Apple M2\n\
             kern.boottime: { sec = 1711000000, usec = 316548 } Thu Mar 21 05:46:40 2024\n\
             vm.swapusage: total = 2048.00M  used = 1024.50M  free = 1023.50M  (encrypted)\n",
        );
        assert_eq!(s["machdep.cpu.brand_string"], "Apple M2");
        assert_eq!(parse_boottime(&s["kern.boottime"]), Some(1_711_000_000));
        assert_eq!(
            parse_swapusage(&s["vm.swapusage"]),
            Some((2048 * 1024 * 1024, 1_073_217_536))
        );
        let cpu = cpu_info(&s, None);
        assert_eq!((cpu.logical_cpus, cpu.physical_cores), (8, None));
        assert_eq!(memory_info(&s, None).total_bytes, 17_179_869_184);
    }

    #[test]
    fn vm_stat_available_pages() {
        let text = "Mach Virtual Memory Statistics: (page size of 16384 bytes)\n\
                    Pages free:                               10000.\n\
                    Pages active:                            200000.\n\
                    Pages inactive:                           20000.\n\
                    Pages speculative:                         2000.\n";
        assert_eq!(parse_vm_stat_available(text), Some(32_000 * 16384));
        assert_eq!(parse_vm_stat_available("garbage"), None);
    }

    #[test]
    fn hardware_overview_without_identifiers_stays_unknown() {
        let r: HardwareReport = serde_json::from_str(
            r#"{"SPHardwareDataType":[{"_name":"hardware_overview","machine_name":"Mac",
                "number_processors":6,"serial_number":"","platform_UUID":"00000000-0000-0000-0000-000000000000"}]}"#,
        )
        .unwrap();
        let hw = r.overview().hardware();
        assert_eq!(hw.model.as_deref(), Some("Mac"));
        assert_eq!((hw.serial, hw.uuid), (None, None));
        let empty: HardwareReport = serde_json::from_str("{}").unwrap();
        assert_eq!(empty.overview().hardware(), Hardware::default());
    }
}
