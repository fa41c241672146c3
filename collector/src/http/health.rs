//! `GET /healthz` (the process answers) and `GET /readyz` (it can store:
//! the writer runs and its last commit succeeded).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use super::AppState;

/// The health router (mounted on both listeners).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
}

async fn ready(State(app): State<AppState>) -> (StatusCode, &'static str) {
    if !app.writer.is_alive() {
        (StatusCode::SERVICE_UNAVAILABLE, "database writer stopped\n")
    } else if !app.writer.health().healthy() {
        // Reports would be answered 503: send agents elsewhere, and page.
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the database fails to commit (full disk? see the log)\n",
        )
    } else {
        (StatusCode::OK, "ready\n")
    }
}
