//! Hands the allocator's free pages back to the OS after the start-up
//! index load: the load parses every device's stored inventory and package
//! JSON (gigabytes for 100,000 devices), and glibc keeps the freed space
//! inside its heap, where it counts as resident memory until reused.
#![allow(unsafe_code)]

/// Returns free heap pages to the OS (glibc `malloc_trim`); a no-op with
/// other allocators.
pub fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it
    // takes the allocator's locks and frees nothing in use.
    unsafe {
        libc::malloc_trim(0);
    }
}
