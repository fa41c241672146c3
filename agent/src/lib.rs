//! fleetwatch agent library: checks, report assembly, upload.
//!
//! The agent collects facts about the device it runs on (inventory, patch
//! levels, backup jobs, password policy) and reports them to the
//! fleetwatch collector over HTTPS. Layout:
//!
//! - [`host`]: every file read goes through a `SysRoot`, every command through
//!   a `CommandRunner`, so checks run on fixture trees in tests;
//! - [`checks`]: one module per check;
//! - [`platform`]: which OS the host runs, and the checks that apply there;
//! - [`report`]: runs the enabled checks into a `Report`;
//! - [`config`]: the TOML config and command-line overrides;
//! - [`state`], [`spool`]: node key, device.json, undelivered reports;
//! - [`upload`]: TLS trust, enrollment, report upload;
//! - [`modes`]: `collect`, `once`, `run`, `enroll`; [`watch`]: backup markers.
//!
//! ```
//! use fleetwatch_agent::checks::{inventory::InventoryCheck, run_check, CheckContext};
//! use fleetwatch_agent::host::{RecordedRunner, SysRoot};
//! let root = SysRoot::new("/nonexistent-fixture");
//! let runner = RecordedRunner::new();
//! let ctx = CheckContext { root: &root, runner: &runner, now: 0,
//!     command_timeout: std::time::Duration::from_secs(5) };
//! let inventory = run_check(&InventoryCheck, &ctx);
//! assert!(inventory.data().unwrap().hostname.is_empty());
//! ```
#![deny(missing_docs)]

pub mod checks;
pub mod config;
pub mod host;
pub mod logging;
pub mod modes;
pub mod platform;
pub mod report;
pub mod self_usage;
pub mod spool;
pub mod state;
pub mod upload;
pub mod watch;
