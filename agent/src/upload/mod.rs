//! Talking to the collector: TLS trust, enrollment, report upload with
//! retry, and delivery of the spool in order.

pub mod backoff;
pub mod client;
pub mod deliver;
pub mod tls;

pub use client::{Client, UploadError};
pub use deliver::{FlushSummary, flush_spool};
