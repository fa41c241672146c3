//! The report body path: `Content-Encoding` decoding (gzip), the size
//! limit, the drain of unread bodies, then JSON and the route's checks, as
//! the reports route layers them, with the body arriving in fuzzed chunks.
//!
//! Input: byte 0 picks the encoding header, whether `Content-Length` is
//! sent (true or false) and the size limit; byte 1 the chunk size; the rest
//! is the body. Every answer must be one the route gives a bad client (400,
//! 413, 415, 403), never a 5xx, and an accepted body is within the limit.
#![no_main]

use std::sync::LazyLock;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{Request, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use fleetwatch_collector::http::drain::drain_unread_body;
use fleetwatch_collector::http::extract::{parse_json, read_body};
use fleetwatch_collector::http::reports::{body_decoder, check_report};
use fleetwatch_protocol::Report;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
});

const LIMITS: [usize; 4] = [64, 4096, 256 << 10, 1 << 20];
const ENCODINGS: [Option<&str>; 6] = [
    None,
    Some("gzip"),
    Some("GZIP"),
    Some("identity"),
    Some("br"),
    Some("gzip, gzip"),
];

/// What the route does with the body once authenticated and admitted.
async fn route(State(limit): State<usize>, body: Body) -> Response {
    let bytes = match read_body(body, limit).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    assert!(
        bytes.len() <= limit,
        "{} bytes passed a {limit} byte limit",
        bytes.len()
    );
    let report: Report = match parse_json(&bytes) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    match check_report(&report, "dev-0001") {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

fuzz_target!(|data: &[u8]| {
    let [flags, chunk, body @ ..] = data else {
        return;
    };
    let encoding = ENCODINGS[usize::from(flags & 7) % ENCODINGS.len()];
    let limit = LIMITS[usize::from(flags >> 6)];
    let chunk = usize::from(*chunk).max(1) * 16;
    let body = body.to_vec();

    let app = Router::new()
        .route("/api/v1/reports", post(route))
        .with_state(limit)
        .layer(body_decoder())
        .layer(middleware::from_fn(drain_unread_body));
    let mut request = Request::post("/api/v1/reports");
    if let Some(e) = encoding {
        request = request.header(header::CONTENT_ENCODING, e);
    }
    match (flags >> 3) & 3 {
        1 => request = request.header(header::CONTENT_LENGTH, body.len()),
        2 => request = request.header(header::CONTENT_LENGTH, body.len() / 2),
        _ => {}
    }
    let chunks: Vec<Result<Bytes, std::io::Error>> = body
        .chunks(chunk)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let request = request
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .expect("a valid request");
    let status = RUNTIME.block_on(async move {
        app.oneshot(request)
            .await
            .expect("the router is infallible")
            .status()
    });
    assert!(
        matches!(status.as_u16(), 204 | 400 | 403 | 413 | 415),
        "answer {status} to a client's body"
    );
});
