//! fleetwatch agent library: checks, report assembly, upload.
#![deny(missing_docs)]

pub mod checks;
pub mod host;
