//! Applies the private directory ACL ([`super::acl::private_dir_sddl`]) with
//! Win32 (`ConvertStringSecurityDescriptorToSecurityDescriptorW`,
//! `SetNamedSecurityInfoW`). A thin FFI wrapper: the only `unsafe` is in
//! these calls and the `LocalFree` of what they allocate.
#![allow(unsafe_code)]

use std::os::windows::ffi::OsStrExt;
use std::path::Path;

use windows::Win32::Foundation::{HLOCAL, LocalFree};
use windows::Win32::Security::Authorization::{
    ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1, SE_FILE_OBJECT,
    SetNamedSecurityInfoW,
};
use windows::Win32::Security::{
    ACL, DACL_SECURITY_INFORMATION, GetSecurityDescriptorDacl, GetSecurityDescriptorOwner,
    OWNER_SECURITY_INFORMATION, PROTECTED_DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, PSID,
};
use windows::core::{BOOL, PCWSTR};

use super::acl::private_dir_sddl;

/// Why the private ACL could not be applied.
#[derive(Debug, thiserror::Error)]
#[error("could not restrict {path} to SYSTEM and Administrators: {call} failed: {detail}")]
pub struct SecureDirError {
    /// The directory.
    pub path: String,
    /// The Win32 call.
    pub call: &'static str,
    /// The error Windows returned.
    pub detail: String,
}

/// A security descriptor from `ConvertStringSecurityDescriptorToSecurityDescriptorW`,
/// freed with `LocalFree`.
struct OwnedDescriptor(PSECURITY_DESCRIPTOR);

impl Drop for OwnedDescriptor {
    fn drop(&mut self) {
        if !self.0.0.is_null() {
            // SAFETY: the descriptor was allocated by the conversion call,
            // which documents LocalFree as its release.
            unsafe {
                let _ = LocalFree(Some(HLOCAL(self.0.0)));
            }
        }
    }
}

fn wide(text: &std::ffi::OsStr) -> Vec<u16> {
    text.encode_wide().chain(std::iter::once(0)).collect()
}

/// Gives `dir` the private owner and protected DACL; the files and
/// directories created in it afterwards inherit it.
pub fn protect(dir: &Path) -> Result<(), SecureDirError> {
    let fail = |call: &'static str, detail: String| SecureDirError {
        path: dir.display().to_string(),
        call,
        detail,
    };
    let sddl = wide(private_dir_sddl().as_ref());
    let mut descriptor = OwnedDescriptor(PSECURITY_DESCRIPTOR::default());
    // SAFETY: `sddl` is a NUL-terminated UTF-16 string that outlives the
    // call; the out-pointer is a valid local, released by OwnedDescriptor.
    unsafe {
        ConvertStringSecurityDescriptorToSecurityDescriptorW(
            PCWSTR(sddl.as_ptr()),
            SDDL_REVISION_1,
            &mut descriptor.0,
            None,
        )
    }
    .map_err(|e| {
        fail(
            "ConvertStringSecurityDescriptorToSecurityDescriptorW",
            e.to_string(),
        )
    })?;
    let (mut present, mut defaulted) = (BOOL(0), BOOL(0));
    let mut dacl: *mut ACL = std::ptr::null_mut();
    let mut owner = PSID::default();
    // SAFETY: the descriptor is valid (converted above); the out-pointers
    // are valid locals pointing into it, used only while it lives.
    unsafe {
        GetSecurityDescriptorDacl(descriptor.0, &mut present, &mut dacl, &mut defaulted)
            .map_err(|e| fail("GetSecurityDescriptorDacl", e.to_string()))?;
        GetSecurityDescriptorOwner(descriptor.0, &mut owner, &mut defaulted)
            .map_err(|e| fail("GetSecurityDescriptorOwner", e.to_string()))?;
    }
    let path = wide(dir.as_os_str());
    // SAFETY: `path` is NUL-terminated and outlives the call; owner and
    // DACL point into `descriptor`, alive until the end of this function.
    let status = unsafe {
        SetNamedSecurityInfoW(
            PCWSTR(path.as_ptr()),
            SE_FILE_OBJECT,
            OWNER_SECURITY_INFORMATION
                | DACL_SECURITY_INFORMATION
                | PROTECTED_DACL_SECURITY_INFORMATION,
            Some(owner),
            None,
            Some(dacl),
            None,
        )
    };
    status
        .ok()
        .map_err(|e| fail("SetNamedSecurityInfoW", e.to_string()))
}
