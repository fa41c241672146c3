//! Memory and CPU counts straight from the kernel, for a live root without
//! `/proc` (an empty chroot, a minimal container): `sysinfo(2)` and the
//! scheduler's CPU affinity need no file system, so the agent reports the
//! real figures instead of zeros that would read as "no memory, no CPU".
#![allow(unsafe_code)]

use fleetwatch_protocol::MemoryInfo;

/// RAM and swap from `sysinfo(2)`; `None` if the call fails.
///
/// `available_bytes` is free plus buffer RAM, the kernel's own estimate
/// before `MemAvailable` existed: a lower bound (page cache is not counted).
#[cfg(target_os = "linux")]
// `c_ulong` is u64 here but u32 on 32-bit targets: the conversion is needed there.
#[allow(clippy::useless_conversion)]
pub fn memory_from_sysinfo() -> Option<MemoryInfo> {
    // SAFETY: `libc::sysinfo` is a plain C struct of integers, valid when
    // zeroed; the kernel fills it through the pointer, which lives for the
    // whole call and points to a properly sized, aligned value.
    let info = unsafe {
        let mut info: libc::sysinfo = std::mem::zeroed();
        if libc::sysinfo(&mut info) != 0 {
            return None;
        }
        info
    };
    let unit = u64::from(info.mem_unit.max(1));
    let bytes = |v| u64::try_from(v).unwrap_or(0).saturating_mul(unit);
    let mem = MemoryInfo {
        total_bytes: bytes(info.totalram),
        available_bytes: bytes(info.freeram).saturating_add(bytes(info.bufferram)),
        swap_total_bytes: bytes(info.totalswap),
        swap_free_bytes: bytes(info.freeswap),
    };
    (mem.total_bytes > 0).then_some(mem)
}

/// Not Linux: no `sysinfo(2)`.
#[cfg(not(target_os = "linux"))]
pub fn memory_from_sysinfo() -> Option<MemoryInfo> {
    None
}

/// CPUs this process may run on (the scheduler's affinity mask, through
/// the standard library); `None` when the kernel does not say.
///
/// Equal to the machine's logical CPUs unless the agent is pinned or
/// limited by a CPU quota, so it is only the fallback for a missing
/// `/proc/cpuinfo`.
pub fn cpus_from_scheduler() -> Option<u32> {
    std::thread::available_parallelism()
        .ok()
        .and_then(|n| u32::try_from(n.get()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc_meminfo_total() -> u64 {
        let text = std::fs::read_to_string("/proc/meminfo").unwrap();
        super::super::procfs::parse_meminfo(&text).total_bytes
    }

    #[test]
    fn sysinfo_total_matches_proc_meminfo() {
        let mem = memory_from_sysinfo().expect("sysinfo(2) works on Linux");
        // Same kernel counter (totalram_pages); /proc rounds to kB.
        let proc_total = proc_meminfo_total();
        assert!(
            mem.total_bytes.abs_diff(proc_total) < 4096,
            "sysinfo {} vs /proc/meminfo {proc_total}",
            mem.total_bytes
        );
        assert!(mem.available_bytes > 0 && mem.available_bytes <= mem.total_bytes);
        assert!(mem.swap_free_bytes <= mem.swap_total_bytes);
    }

    #[test]
    fn scheduler_cpus_within_the_machines() {
        let n = cpus_from_scheduler().expect("affinity known");
        let text = std::fs::read_to_string("/proc/cpuinfo").unwrap();
        let logical = super::super::procfs::parse_cpuinfo(&text).logical_cpus;
        assert!(n >= 1 && n <= logical, "{n} of {logical}");
    }
}
