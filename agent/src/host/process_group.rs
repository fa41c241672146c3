//! The two process calls the runner needs that std does not offer: seeing
//! that a child exited *without* reaping it, and signalling its whole
//! process group. Thin `libc` wrappers; everything else stays safe code.
#![allow(unsafe_code)]

use std::io;

/// True when the child `pid` has exited. The child is left a zombie (not
/// reaped), so its pid, which is also its process group's id, cannot be
/// reused while the runner still signals that group.
pub(super) fn has_exited(pid: u32) -> io::Result<bool> {
    let pid = libc::id_t::from(pid);
    // SAFETY: an all-zero siginfo_t is a valid value of this plain C struct.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a live, writable siginfo_t for the call's duration;
    // WNOWAIT leaves the child waitable, so std's `Child::wait` still reaps it.
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            pid,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: waitid succeeded, so `info` was filled in (or left zeroed
    // when no child changed state: si_pid is then 0).
    Ok(unsafe { info.si_pid() } != 0)
}

/// Sends SIGKILL to every process in group `pgid`; a group that is already
/// empty is not an error.
pub(super) fn kill_group(pgid: u32) -> io::Result<()> {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    };
    if pgid <= 1 {
        // killpg(0 or 1) would hit our own group or init's: never.
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: killpg only sends a signal; it touches no memory of ours.
    let rc = unsafe { libc::killpg(pgid, libc::SIGKILL) };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ESRCH) {
        Ok(())
    } else {
        Err(err)
    }
}
