//! Helpers shared by the deploy and dashboard tests (`mod support;`).
//!
//! Each integration test file compiles this module on its own and uses only
//! part of it, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod dashboards;
pub mod packages;
