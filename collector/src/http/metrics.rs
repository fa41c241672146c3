//! `GET /metrics` on the metrics listener: `?shard=i&shards=n`,
//! `?aggregates_only=1`, optional bearer token.

use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use super::error::{ApiError, RETRY_AFTER_SECS};
use super::extract::bearer_matches;
use crate::exposition::text::Sink;
use crate::exposition::{self, CONTENT_TYPE, RenderClock, Selection};
use crate::unix_now;

/// The metrics router.
pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// Rendered chunks as a body stream.
struct ChunkStream(tokio::sync::mpsc::Receiver<Vec<u8>>);

impl futures_core::Stream for ChunkStream {
    type Item = Result<Vec<u8>, std::convert::Infallible>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|chunk| chunk.map(Ok))
    }
}

/// Parses the scrape's query string.
pub fn parse_selection(query: Option<&str>) -> Result<Selection, ApiError> {
    let mut shard = None;
    let mut shards = None;
    let mut selection = Selection::default();
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let number = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| ApiError::field(key, format!("{key} must be a whole number")))
        };
        match key {
            "shard" => shard = Some(number(value)?),
            "shards" => shards = Some(number(value)?),
            "aggregates_only" => selection.aggregates_only = matches!(value, "1" | "true" | ""),
            _ => {}
        }
    }
    selection.shard = match (shard, shards) {
        (None, None) => None,
        (Some(i), Some(n)) if n > 0 && i < n => Some((i, n)),
        _ => {
            return Err(ApiError::field(
                "shard",
                "use shard=i&shards=n together, with 0 <= i < n",
            ));
        }
    };
    Ok(selection)
}

async fn metrics(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    if let Some(token) = &app.secrets.metrics_token
        && !bearer_matches(&headers, token)
    {
        return Err(ApiError::Unauthorized("metrics token required"));
    }
    let selection = parse_selection(query.as_deref())?;
    // A few renders at once at most: each holds a snapshot and a core.
    let permit = app
        .limits
        .scrapes
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::TooManyRequests {
            message: "too many scrapes at once",
            retry_after: RETRY_AFTER_SECS,
        })?;
    // Rendering 100k devices takes a few hundred ms of CPU: it runs on a
    // blocking thread and streams ~1 MiB chunks, so memory stays bounded.
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let started = Instant::now();
        let snapshot = app.live.read().snapshot();
        let clock = RenderClock {
            now: unix_now(),
            stale_after_secs: app.judge.policy().current().stale_after_secs,
            retire_after_secs: app.settings.retire_after_secs as i64,
        };
        // A failed send means the scraper went away: rendering stops.
        let mut send = |chunk: Vec<u8>| tx.blocking_send(chunk).is_ok();
        let mut sink = Sink::streaming(&mut send);
        exposition::render_into(&mut sink, &snapshot, selection, clock, Some(&app.metrics));
        if sink.is_closed() {
            app.metrics.scrape_abandoned();
        } else {
            app.metrics.rendered(started.elapsed().as_secs_f64());
        }
        sink.finish();
    });
    let mut response = Body::from_stream(ChunkStream(rx)).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selections_parse_and_bad_ones_are_refused() {
        assert_eq!(parse_selection(None).unwrap(), Selection::default());
        let s = parse_selection(Some("shard=1&shards=4")).unwrap();
        assert_eq!(s.shard, Some((1, 4)));
        assert!(
            parse_selection(Some("aggregates_only=1"))
                .unwrap()
                .aggregates_only
        );
        assert!(parse_selection(Some("shard=4&shards=4")).is_err());
        assert!(parse_selection(Some("shard=1")).is_err());
        assert!(parse_selection(Some("shards=x&shard=0")).is_err());
    }
}
