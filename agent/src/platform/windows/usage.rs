//! The agent's own CPU time and peak working set on Windows
//! (`GetProcessTimes`, `GetProcessMemoryInfo`), for `--self-usage`. A thin
//! FFI wrapper: the only `unsafe` is the two calls on this process's
//! pseudo-handle.
#![allow(unsafe_code)]

use windows::Win32::Foundation::FILETIME;
use windows::Win32::System::ProcessStatus::{GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS};
use windows::Win32::System::Threading::{GetCurrentProcess, GetProcessTimes};

use crate::self_usage::SelfUsage;

/// This process's usage so far; `None` when Windows does not answer.
pub fn read() -> Option<SelfUsage> {
    let (mut created, mut exited, mut kernel, mut user) = (
        FILETIME::default(),
        FILETIME::default(),
        FILETIME::default(),
        FILETIME::default(),
    );
    let mut memory = PROCESS_MEMORY_COUNTERS {
        cb: std::mem::size_of::<PROCESS_MEMORY_COUNTERS>() as u32,
        ..Default::default()
    };
    // SAFETY: GetCurrentProcess returns a pseudo-handle that needs no
    // closing; every out-pointer is a valid local of the declared size.
    unsafe {
        let me = GetCurrentProcess();
        GetProcessTimes(me, &mut created, &mut exited, &mut kernel, &mut user).ok()?;
        GetProcessMemoryInfo(me, &mut memory, memory.cb).ok()?;
    }
    Some(SelfUsage {
        user_seconds: filetime_seconds(user),
        system_seconds: filetime_seconds(kernel),
        peak_rss_kib: (memory.PeakWorkingSetSize / 1024) as u64,
    })
}

/// A FILETIME duration (100 ns units) in seconds.
fn filetime_seconds(t: FILETIME) -> f64 {
    ((u64::from(t.dwHighDateTime) << 32) | u64::from(t.dwLowDateTime)) as f64 / 1e7
}
