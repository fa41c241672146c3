//! `GET /healthz` (the process answers) and `GET /readyz` (it can store).

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
    if app.writer.is_alive() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database writer stopped\n")
    }
}
