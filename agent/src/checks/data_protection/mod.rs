//! The data-protection check: disk encryption, firewall, antivirus and the
//! platform's integrity protections, in the cross-platform
//! [`DataProtection`](fleetwatch_protocol::DataProtection) shape.
//!
//! One module per platform source; a fact that could not be read stays
//! `None`/`Unknown` (with its `*_error`), never `false`.

pub mod macos;
