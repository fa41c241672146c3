//! Delivering the spool, oldest first.

use std::path::PathBuf;

use fleetwatch_protocol::ReportResponse;

use super::client::{Client, UploadError};
use crate::spool::Spool;

/// What one pass over the spool achieved.
#[derive(Debug, Default)]
pub struct FlushSummary {
    /// Reports the collector accepted (with their spool files).
    pub delivered: Vec<(PathBuf, String)>,
    /// Reports the collector rejected as malformed/too large: dropped, with why.
    pub rejected: Vec<(PathBuf, UploadError)>,
    /// The last answer, carrying the interval and packages hash.
    pub last_response: Option<ReportResponse>,
}

/// Sends every spooled report in order, removing each once accepted (or
/// rejected for good). Stops at the first failure; what is left stays spooled.
pub async fn flush_spool(client: &Client, spool: &Spool) -> Result<FlushSummary, UploadError> {
    let mut summary = FlushSummary::default();
    for entry in spool.entries()? {
        let Some(mut report) = spool.load(&entry)? else {
            continue;
        };
        match client.send(&mut report).await {
            Ok(response) => {
                spool.remove(&entry)?;
                tracing::info!(
                    report_id = %report.report_id,
                    duplicate = response.duplicate,
                    "report delivered"
                );
                summary.delivered.push((entry.path, report.report_id));
                summary.last_response = Some(response);
            }
            Err(e @ UploadError::Rejected { .. }) => {
                // Resending a report the collector calls malformed cannot
                // succeed; keeping it would block every later report.
                tracing::error!(error = %e, "collector rejected a report; dropping it");
                spool.remove(&entry)?;
                summary.rejected.push((entry.path, e));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(summary)
}
