//! `POST /api/v1/packages`: a package list too large for a report, in
//! parts. The parts of one list are held in memory (bounded per device and
//! in total) until the last one arrives; then the whole list is stored as
//! the device's list through the writer, like a list sent inline.
//!
//! A collector restart or a stale list loses held parts: the agent sees the
//! old `packages_hash` in its next answer and sends the list again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use fleetwatch_protocol::{PACKAGES_PATH, Package, PackagesPart, PackagesPartResponse};
use tower_http::decompression::RequestDecompressionLayer;

use super::error::{ApiError, RETRY_AFTER_SECS};
use super::extract::{bearer, hash_node_key, parse_json, read_body};
use super::{App, AppState, write_error};
use crate::store::{PackagesUpdate, WriteOp, WriteOutcome};

/// Most parts one list may be cut into.
pub const MAX_PARTS: u32 = 4096;
/// Most decoded part bytes held for one device's unfinished list.
pub const MAX_HELD_BYTES_PER_DEVICE: usize = 64 << 20;
/// Most decoded part bytes held for all devices together.
pub const MAX_HELD_BYTES: usize = 256 << 20;
/// An unfinished list untouched this long is dropped.
pub const HELD_LIST_TTL: Duration = Duration::from_secs(15 * 60);

/// The router (gzip bodies decoded before the size limit applies).
pub fn router() -> Router<AppState> {
    Router::new()
        .route(PACKAGES_PATH, post(post_part))
        .layer(RequestDecompressionLayer::new())
}

/// One device's unfinished list.
#[derive(Debug)]
struct HeldList {
    hash: String,
    count: u32,
    parts: u32,
    received: u32,
    items: Vec<Package>,
    bytes: usize,
    touched: Instant,
}

/// The unfinished lists of every device.
#[derive(Debug, Default)]
pub struct PackageParts {
    held: Mutex<HashMap<String, HeldList>>,
}

/// What adding a part led to.
enum Added {
    /// More parts are expected.
    Held(u32),
    /// The list is whole: store it.
    Complete(Vec<Package>),
}

impl PackageParts {
    /// Adds one part for `device_id` (`bytes`: its decoded size).
    fn add(&self, device_id: &str, part: PackagesPart, bytes: usize) -> Result<Added, ApiError> {
        if part.parts == 0 || part.parts > MAX_PARTS {
            return Err(ApiError::field(
                "parts",
                format!("parts must be 1 to {MAX_PARTS}"),
            ));
        }
        if part.part >= part.parts {
            return Err(ApiError::field("part", "part must be below parts"));
        }
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        held.retain(|_, l| now.duration_since(l.touched) < HELD_LIST_TTL);
        if part.part == 0 {
            held.remove(device_id);
        }
        let total: usize = held.values().map(|l| l.bytes).sum();
        let list = match held.get_mut(device_id) {
            Some(list) => list,
            None if part.part == 0 => held.entry(device_id.to_string()).or_insert(HeldList {
                hash: part.hash.clone(),
                count: part.count,
                parts: part.parts,
                received: 0,
                items: Vec::new(),
                bytes: 0,
                touched: now,
            }),
            None => return Err(out_of_order(0)),
        };
        if list.hash != part.hash || list.count != part.count || list.parts != part.parts {
            // Another list started without part 0: the agent starts over.
            return Err(out_of_order(0));
        }
        if part.part != list.received {
            return Err(out_of_order(list.received));
        }
        if list.bytes + bytes > MAX_HELD_BYTES_PER_DEVICE {
            held.remove(device_id);
            return Err(ApiError::TooLarge {
                limit: MAX_HELD_BYTES_PER_DEVICE,
            });
        }
        if total + bytes > MAX_HELD_BYTES {
            return Err(ApiError::TooManyRequests {
                message: "too many package lists are being received",
                retry_after: RETRY_AFTER_SECS,
            });
        }
        if list.items.len() + part.items.len() > list.count as usize {
            held.remove(device_id);
            return Err(ApiError::field(
                "items",
                "the parts hold more packages than count",
            ));
        }
        list.items.extend(part.items);
        list.bytes += bytes;
        list.received += 1;
        list.touched = now;
        if list.received < list.parts {
            return Ok(Added::Held(list.received));
        }
        let list = held.remove(device_id).expect("the list is held");
        if list.items.len() != list.count as usize {
            return Err(ApiError::field(
                "count",
                format!(
                    "count is {} but the parts held {} packages",
                    list.count,
                    list.items.len()
                ),
            ));
        }
        Ok(Added::Complete(list.items))
    }
}

fn out_of_order(expected: u32) -> ApiError {
    ApiError::field(
        "part",
        format!("parts must arrive in order: expected part {expected}"),
    )
}

async fn post_part(State(app): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    match receive(&app, &headers, body).await {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn receive(
    app: &App,
    headers: &HeaderMap,
    body: Body,
) -> Result<PackagesPartResponse, ApiError> {
    let key = bearer(headers).ok_or(ApiError::Unauthorized("missing bearer node key"))?;
    let hash = hash_node_key(key);
    let device_id = app
        .live
        .read()
        .authenticate(&hash)
        .map(str::to_owned)
        .ok_or(ApiError::Unauthorized("unknown node key; enroll again"))?;
    let bytes = read_body(body, app.settings.max_report_bytes).await?;
    let part: PackagesPart = parse_json(&bytes)?;
    let (list_hash, parts) = (part.hash.clone(), part.parts);
    match app.package_parts.add(&device_id, part, bytes.len())? {
        Added::Held(received) => Ok(PackagesPartResponse {
            received,
            complete: false,
            packages_hash: None,
        }),
        Added::Complete(items) => {
            let count = items.len();
            let items_json = serde_json::to_string(&items)
                .map_err(|e| ApiError::Internal(format!("package list: {e}")))?;
            let update = PackagesUpdate {
                hash: list_hash,
                items_json,
            };
            match app
                .writer
                .submit(WriteOp::StorePackages(device_id.clone(), update))
                .await
            {
                Ok(WriteOutcome::PackagesStored(hash)) => {
                    tracing::info!(device_id, packages = count, parts, "package list stored");
                    Ok(PackagesPartResponse {
                        received: parts,
                        complete: true,
                        packages_hash: Some(hash),
                    })
                }
                Ok(other) => Err(ApiError::Internal(format!(
                    "storing packages produced {other:?}"
                ))),
                Err(e) => Err(write_error(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(part: u32, parts: u32, names: &[&str]) -> PackagesPart {
        PackagesPart {
            hash: "h".into(),
            count: 3,
            part,
            parts,
            items: names
                .iter()
                .map(|n| Package {
                    name: (*n).into(),
                    version: "1".into(),
                    ..Package::default()
                })
                .collect(),
        }
    }

    #[test]
    fn parts_in_order_make_the_list() {
        let parts = PackageParts::default();
        assert!(matches!(
            parts.add("d", part(0, 2, &["a", "b"]), 10),
            Ok(Added::Held(1))
        ));
        let Ok(Added::Complete(items)) = parts.add("d", part(1, 2, &["c"]), 10) else {
            panic!("the second part completes the list");
        };
        let names: Vec<_> = items.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        // Nothing is held afterwards.
        assert!(parts.held.lock().unwrap().is_empty());
    }

    #[test]
    fn out_of_order_wrong_count_and_bad_bounds_are_refused() {
        let parts = PackageParts::default();
        let field = |r: Result<Added, ApiError>| match r {
            Err(ApiError::BadRequest { field, .. }) => field,
            Err(e) => panic!("unexpected {e:?}"),
            Ok(_) => panic!("accepted"),
        };
        assert_eq!(
            field(parts.add("d", part(1, 2, &["c"]), 1)).as_deref(),
            Some("part")
        );
        assert!(parts.add("d", part(0, 3, &["a"]), 1).is_ok());
        assert_eq!(
            field(parts.add("d", part(2, 3, &["c"]), 1)).as_deref(),
            Some("part")
        );
        assert!(parts.add("d", part(1, 3, &["b"]), 1).is_ok());
        // The last part leaves the list one short of `count`.
        assert_eq!(
            field(parts.add("d", part(2, 3, &[]), 1)).as_deref(),
            Some("count")
        );
        assert_eq!(
            field(parts.add("d", part(0, 0, &[]), 1)).as_deref(),
            Some("parts")
        );
        assert_eq!(
            field(parts.add("d", part(3, 3, &[]), 1)).as_deref(),
            Some("part")
        );
        assert_eq!(
            field(parts.add("d", part(0, 1, &["a", "b", "c", "d"]), 1)).as_deref(),
            Some("items")
        );
        // Other devices' lists are their own.
        assert!(parts.add("e", part(0, 2, &["a"]), 1).is_ok());
        assert!(matches!(
            parts.add("d", part(1, 2, &["b"]), 1),
            Err(ApiError::BadRequest { .. })
        ));
    }

    #[test]
    fn held_bytes_are_bounded_per_device() {
        let parts = PackageParts::default();
        assert!(
            parts
                .add("d", part(0, 2, &["a"]), MAX_HELD_BYTES_PER_DEVICE)
                .is_ok()
        );
        assert!(matches!(
            parts.add("d", part(1, 2, &["b"]), 1),
            Err(ApiError::TooLarge { .. })
        ));
        assert!(parts.held.lock().unwrap().is_empty());
    }
}
