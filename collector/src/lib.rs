//! fleetwatch collector: receives agent reports over HTTPS, stores them
//! durably in SQLite, keeps a compact in-memory view of every device and
//! renders it as Prometheus metrics at scrape time.
//!
//! - [`config`]: TOML config, validated; [`bootstrap`]: generated TLS files and secrets;
//! - [`report_facts`]: what a report leaves for the metrics; [`time`]: the one
//!   duration grammar and timestamp format; [`stable_hash`]: the one FNV hash;
//! - [`store`]: the `Store` trait, SQLite, and the group-commit writer;
//! - [`state`]: per-device compact metrics state and the node-key index;
//! - [`policy`]: the company policy, pure evaluation, compliance rendering;
//! - [`judge`]: applies the policy to the live devices, at commit and periodically;
//! - [`alerts`]: findings to Alertmanager / webhook deliveries;
//! - [`exposition`]: streaming Prometheus text rendering;
//! - [`console`]: the web console (pages, sessions, search and software indexes);
//! - [`app`]: shared state and background tasks; [`http`]: the routers;
//!   [`server`]: listeners and graceful shutdown.
//!
//! ```
//! use fleetwatch_collector::exposition::text::push_label_value;
//! let mut label = String::new();
//! push_label_value(&mut label, "say \"hi\"\n");
//! assert_eq!(label, r#"say \"hi\"\n"#);
//! ```
#![deny(missing_docs)]

pub mod alerts;
pub mod app;
pub mod bootstrap;
pub mod config;
pub mod console;
pub mod exposition;
pub mod http;
pub mod judge;
pub mod policy;
pub mod rate_limit;
pub mod report_facts;
pub mod server;
pub mod stable_hash;
pub mod state;
pub mod store;
pub mod time;

/// Current time as Unix seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
