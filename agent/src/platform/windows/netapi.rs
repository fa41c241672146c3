//! Thin wrapper over the Net API (`netapi32.dll`): `NetUserModalsGet`
//! levels 0 and 3 and `NetUserEnum` levels 3 and 20. One of the two modules of the
//! Windows platform that may use `unsafe` (every call is FFI and reads a
//! buffer the API allocated); the mapping lives in [`super::password`].
#![allow(unsafe_code)]

use windows::Win32::NetworkManagement::NetManagement::{
    FILTER_NORMAL_ACCOUNT, MAX_PREFERRED_LENGTH, NERR_Success, NetApiBufferFree, NetUserEnum,
    NetUserModalsGet, USER_INFO_3, USER_INFO_20, USER_MODALS_INFO_0, USER_MODALS_INFO_3,
};
use windows::core::PCWSTR;

use super::host::{NetAccount, NetUser, UserModals, WindowsError};

/// `ERROR_MORE_DATA`: NetUserEnum has more entries for another call.
const ERROR_MORE_DATA: u32 = 234;

/// Frees a Net API buffer when dropped.
struct NetBuffer(*mut u8);

impl Drop for NetBuffer {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the pointer came from a Net API call and is freed once.
            unsafe {
                NetApiBufferFree(Some(self.0 as *const _));
            }
        }
    }
}

/// Levels 0 and 3 of the local machine's account policy.
pub fn user_modals() -> Result<UserModals, WindowsError> {
    let mut buf = NetBuffer(std::ptr::null_mut());
    // SAFETY: NULL server = the local machine; `buf.0` receives an API
    // buffer that NetBuffer frees.
    let status = unsafe { NetUserModalsGet(PCWSTR::null(), 0, &mut buf.0) };
    if status != NERR_Success || buf.0.is_null() {
        return Err(WindowsError::NetApi {
            call: "NetUserModalsGet(level 0)".into(),
            status,
        });
    }
    // SAFETY: on success level 0 returns one USER_MODALS_INFO_0.
    let l0 = unsafe { *(buf.0 as *const USER_MODALS_INFO_0) };
    let mut modals = UserModals {
        min_passwd_len: l0.usrmod0_min_passwd_len,
        max_passwd_age: l0.usrmod0_max_passwd_age,
        min_passwd_age: l0.usrmod0_min_passwd_age,
        password_hist_len: l0.usrmod0_password_hist_len,
        ..UserModals::default()
    };
    let mut buf3 = NetBuffer(std::ptr::null_mut());
    // SAFETY: as above, level 3.
    let status = unsafe { NetUserModalsGet(PCWSTR::null(), 3, &mut buf3.0) };
    if status == NERR_Success && !buf3.0.is_null() {
        // SAFETY: on success level 3 returns one USER_MODALS_INFO_3.
        let l3 = unsafe { *(buf3.0 as *const USER_MODALS_INFO_3) };
        modals.lockout_duration = Some(l3.usrmod3_lockout_duration);
        modals.lockout_observation_window = Some(l3.usrmod3_lockout_observation_window);
        modals.lockout_threshold = Some(l3.usrmod3_lockout_threshold);
    } else {
        tracing::warn!(
            status,
            "NetUserModalsGet(level 3) failed: lockout settings unknown"
        );
    }
    Ok(modals)
}

/// Every normal local account (level 3: name, flags, ages; never the password).
pub fn local_users() -> Result<Vec<NetUser>, WindowsError> {
    // SAFETY: USER_INFO_3 is the entry type of level 3.
    unsafe {
        enum_local_accounts(3, |e: &USER_INFO_3| NetUser {
            // SAFETY: usri3_name is a NUL-terminated string in the buffer.
            name: e.usri3_name.to_string().unwrap_or_default(),
            flags: e.usri3_flags.0,
            password_age: e.usri3_password_age,
            last_logon: e.usri3_last_logon,
            password_expired: e.usri3_password_expired != 0,
            user_id: e.usri3_user_id,
        })
    }
}

/// Every normal local account at level 20 (name, flags, RID), which Wine
/// answers where it refuses level 3.
pub fn local_accounts() -> Result<Vec<NetAccount>, WindowsError> {
    // SAFETY: USER_INFO_20 is the entry type of level 20.
    unsafe {
        enum_local_accounts(20, |e: &USER_INFO_20| NetAccount {
            // SAFETY: usri20_name is a NUL-terminated string in the buffer.
            name: e.usri20_name.to_string().unwrap_or_default(),
            flags: e.usri20_flags.0,
            user_id: e.usri20_user_id,
        })
    }
}

/// `NetUserEnum` of the normal local accounts at `level`, page after page
/// (`ERROR_MORE_DATA`), each entry mapped by `entry` while its buffer lives.
///
/// # Safety
/// `T` must be the `USER_INFO_<level>` structure `NetUserEnum` returns for
/// `level`.
unsafe fn enum_local_accounts<T, R>(
    level: u32,
    mut entry: impl FnMut(&T) -> R,
) -> Result<Vec<R>, WindowsError> {
    let mut out = Vec::new();
    let mut resume: u32 = 0;
    loop {
        let mut buf = NetBuffer(std::ptr::null_mut());
        let (mut read, mut total) = (0u32, 0u32);
        // SAFETY: NULL server = local; out-pointers are valid locals; the
        // buffer is freed by NetBuffer.
        let status = unsafe {
            NetUserEnum(
                PCWSTR::null(),
                level,
                FILTER_NORMAL_ACCOUNT,
                &mut buf.0,
                MAX_PREFERRED_LENGTH,
                &mut read,
                &mut total,
                Some(&mut resume),
            )
        };
        if status != NERR_Success && status != ERROR_MORE_DATA {
            return Err(WindowsError::NetApi {
                call: format!("NetUserEnum(level {level})"),
                status,
            });
        }
        if !buf.0.is_null() {
            // SAFETY: the buffer holds `read` entries of type T (the
            // caller's promise for `level`), alive until `buf` drops.
            let entries = unsafe { std::slice::from_raw_parts(buf.0 as *const T, read as usize) };
            out.extend(entries.iter().map(&mut entry));
        }
        if status != ERROR_MORE_DATA {
            return Ok(out);
        }
    }
}
