//! The agent's own resource usage, excluding the external commands it
//! runs (children are not counted): for `collect --self-usage` and benchmarks.

/// CPU time and peak memory of this process so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SelfUsage {
    /// User CPU seconds (all threads, 10 ms resolution).
    pub user_seconds: f64,
    /// System CPU seconds.
    pub system_seconds: f64,
    /// Peak resident set size in KiB (`VmHWM`).
    pub peak_rss_kib: u64,
}

impl SelfUsage {
    /// Reads `/proc/self/stat` and `/proc/self/status`; `None` off Linux.
    #[cfg(not(windows))]
    pub fn read() -> Option<SelfUsage> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        parse(&stat, &status)
    }

    /// `GetProcessTimes` and the peak working set (never `/proc`, which a
    /// Windows build under Wine would read from the Linux machine).
    #[cfg(windows)]
    pub fn read() -> Option<SelfUsage> {
        crate::platform::windows::usage::read()
    }
}

/// Parses utime/stime (fields 14 and 15, in USER_HZ = 100 ticks per second
/// on every Linux) and `VmHWM`.
pub fn parse(stat: &str, status: &str) -> Option<SelfUsage> {
    // The command name (field 2) may contain spaces: split after its ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3, so field N is at index N - 3.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let peak = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())?;
    Some(SelfUsage {
        user_seconds: utime / 100.0,
        system_seconds: stime / 100.0,
        peak_rss_kib: peak,
    })
}

/// Hands freed heap pages back to the OS before the agent goes idle.
///
/// A report cycle parses command output and builds JSON; glibc keeps the
/// freed pages mapped, so without this the idle RSS stays at the cycle's
/// peak for the whole interval.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn release_free_memory() {
    // SAFETY: malloc_trim only walks glibc's own allocator state; it takes
    // no pointers from us and is safe to call at any time from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Hands freed heap pages back to the OS (no-op where the allocator has no trim).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free_memory() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_and_status() {
        let stat =
            "4242 (fleet watch) S 1 4242 4242 0 -1 4194560 389 0 0 0 7 3 0 0 20 0 3 0 123 1000 300";
        let status =
            "Name:\tfleetwatch-agent\nVmPeak:\t  20000 kB\nVmHWM:\t    6492 kB\nVmRSS:\t 6000 kB\n";
        let u = parse(stat, status).unwrap();
        assert_eq!(
            u,
            SelfUsage {
                user_seconds: 0.07,
                system_seconds: 0.03,
                peak_rss_kib: 6492
            }
        );
    }

    #[test]
    fn live_process_has_usage() {
        let u = SelfUsage::read().unwrap();
        assert!(u.peak_rss_kib > 0);
    }
}
