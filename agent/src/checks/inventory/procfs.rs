//! Pure parsers for `/proc` files: meminfo, cpuinfo, stat.

use std::collections::BTreeSet;

use fleetwatch_protocol::{CpuInfo, MemoryInfo};

/// Parses `/proc/meminfo` (values in kB) into bytes.
pub fn parse_meminfo(text: &str) -> MemoryInfo {
    let mut mem = MemoryInfo::default();
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let Some(Ok(value)) = fields.next().map(str::parse::<u64>) else {
            continue;
        };
        let bytes = match fields.next() {
            Some("kB") => value.saturating_mul(1024),
            _ => value,
        };
        match key.trim() {
            "MemTotal" => mem.total_bytes = bytes,
            "MemAvailable" => mem.available_bytes = bytes,
            "SwapTotal" => mem.swap_total_bytes = bytes,
            "SwapFree" => mem.swap_free_bytes = bytes,
            _ => {}
        }
    }
    mem
}

/// Parses `/proc/cpuinfo`: model of the first processor, logical CPUs, and
/// physical cores from distinct (`physical id`, `core id`) pairs.
pub fn parse_cpuinfo(text: &str) -> CpuInfo {
    let mut cpu = CpuInfo::default();
    let mut cores = BTreeSet::new();
    let mut physical_id: Option<String> = None;
    let mut core_id: Option<String> = None;
    // Paragraph per processor; flush the (physical id, core id) pair at each boundary.
    let mut flush = |physical_id: &mut Option<String>, core_id: &mut Option<String>| {
        if let Some(core) = core_id.take() {
            cores.insert((physical_id.take().unwrap_or_default(), core));
        }
        physical_id.take();
    };
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            if line.trim().is_empty() {
                flush(&mut physical_id, &mut core_id);
            }
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "processor" => cpu.logical_cpus += 1,
            // x86 uses "model name"; some ARM kernels use "Processor" or "cpu model".
            "model name" | "Processor" | "cpu model"
                if cpu.model.is_none() && !value.is_empty() =>
            {
                cpu.model = Some(value.to_string());
            }
            "physical id" => physical_id = Some(value.to_string()),
            "core id" => core_id = Some(value.to_string()),
            _ => {}
        }
    }
    flush(&mut physical_id, &mut core_id);
    if !cores.is_empty() {
        cpu.physical_cores = Some(cores.len() as u32);
    }
    cpu
}

/// Boot time (Unix seconds) from the `btime` line of `/proc/stat`.
pub fn parse_btime(text: &str) -> Option<i64> {
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/hosts/inventory-debian12/proc"
    );

    #[test]
    fn meminfo_fixture_in_bytes() {
        let text = std::fs::read_to_string(format!("{FIXTURE}/meminfo")).unwrap();
        let mem = parse_meminfo(&text);
        assert_eq!(mem.total_bytes, 16_303_372 * 1024);
        assert_eq!(mem.available_bytes, 11_794_884 * 1024);
        assert_eq!(mem.swap_total_bytes, 999_420 * 1024);
        assert_eq!(mem.swap_free_bytes, 999_420 * 1024);
    }

    #[test]
    fn meminfo_ignores_garbage() {
        let mem = parse_meminfo("MemTotal: lots kB\nnonsense\nMemFree: 5 kB\n");
        assert_eq!(mem, MemoryInfo::default());
    }

    #[test]
    fn cpuinfo_fixture_counts_threads_and_cores() {
        let text = std::fs::read_to_string(format!("{FIXTURE}/cpuinfo")).unwrap();
        let cpu = parse_cpuinfo(&text);
        assert_eq!(
            cpu.model.as_deref(),
            Some("Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz")
        );
        assert_eq!(cpu.logical_cpus, 4);
        assert_eq!(cpu.physical_cores, Some(2));
    }

    #[test]
    fn cpuinfo_without_core_ids_has_unknown_cores() {
        let text = "processor\t: 0\nProcessor\t: ARMv7 rev 4 (v7l)\n\nprocessor\t: 1\n";
        let cpu = parse_cpuinfo(text);
        assert_eq!(cpu.logical_cpus, 2);
        assert_eq!(cpu.physical_cores, None);
        assert_eq!(cpu.model.as_deref(), Some("ARMv7 rev 4 (v7l)"));
    }

    #[test]
    fn cpuinfo_counts_cores_per_socket() {
        let text = "processor: 0\nphysical id: 0\ncore id: 0\n\nprocessor: 1\nphysical id: 1\ncore id: 0\n";
        assert_eq!(parse_cpuinfo(text).physical_cores, Some(2));
    }

    #[test]
    fn btime() {
        assert_eq!(
            parse_btime("cpu  1 2 3\nbtime 1714032000\nprocesses 5\n"),
            Some(1_714_032_000)
        );
        assert_eq!(parse_btime("cpu 1\n"), None);
    }
}
