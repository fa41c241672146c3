//! Talking to the collector: TLS trust, enrollment, report upload with
//! retry, large package lists in parts, and delivery of the spool in order.

pub mod backoff;
pub mod client;
pub mod deliver;
pub mod parts;
pub mod stats;
pub mod tls;

pub use client::{Client, UploadError};
pub use deliver::{FlushSummary, flush_spool};
