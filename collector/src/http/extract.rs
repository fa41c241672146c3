//! Request helpers shared by the routers: bearer tokens, bounded bodies,
//! JSON with the failing field named.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};

use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use crate::store::NodeKeyHash;

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Whether the request carries `expected` as its bearer token (constant time).
pub fn bearer_matches(headers: &HeaderMap, expected: &str) -> bool {
    bearer(headers).is_some_and(|t| bool::from(t.as_bytes().ct_eq(expected.as_bytes())))
}

/// SHA-256 of a node key, the form it is stored and looked up in.
pub fn hash_node_key(key: &str) -> NodeKeyHash {
    Sha256::digest(key.as_bytes()).into()
}

/// Reads the whole (already decompressed) body, refusing more than `limit`
/// bytes with 413 and a broken encoding with 400.
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) => {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e.as_ref());
            while let Some(err) = source {
                if err.is::<LengthLimitError>() {
                    return Err(ApiError::TooLarge { limit });
                }
                source = err.source();
            }
            Err(ApiError::BadRequest {
                message: format!("could not read the request body: {e}"),
                field: None,
            })
        }
    }
}

/// Parses JSON; on error the answer names the field path
/// (`inventory.data.memory.total_bytes`).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        ApiError::BadRequest {
            message: format!("invalid JSON: {inner}"),
            field: (path != ".").then_some(path),
        }
    })?;
    de.end().map_err(|e| ApiError::BadRequest {
        message: format!("invalid JSON: {e}"),
        field: None,
    })?;
    Ok(value)
}
