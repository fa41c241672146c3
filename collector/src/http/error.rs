//! The API's error type: a clear message and status for the client, the
//! internal details in the log only.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fleetwatch_protocol::ErrorBody;

/// Seconds an agent is asked to wait when the collector is busy.
pub const RETRY_AFTER_SECS: u64 = 5;

/// Everything a handler can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed or invalid.
    #[error("{message}")]
    BadRequest {
        /// What is wrong.
        message: String,
        /// The offending field path.
        field: Option<String>,
    },
    /// 401: missing or wrong credentials.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 403: authenticated, but not allowed to do this.
    #[error("{message}")]
    Forbidden {
        /// What is wrong.
        message: String,
        /// The offending field path.
        field: Option<String>,
    },
    /// 404.
    #[error("{0}")]
    NotFound(&'static str),
    /// 413: body over the limit.
    #[error("request body is larger than {limit} bytes")]
    TooLarge {
        /// The limit, in (decoded) bytes.
        limit: usize,
    },
    /// 429 with `Retry-After`: over capacity (ingest queue, concurrent
    /// scrapes, enrollment rate).
    #[error("{message}; retry in {retry_after} s")]
    TooManyRequests {
        /// What is over capacity.
        message: &'static str,
        /// Seconds to wait (the `Retry-After` value).
        retry_after: u64,
    },
    /// 503 with `Retry-After`: the database fails, the request timed out, or
    /// the collector is shutting down.
    #[error("{0}; retry later")]
    Unavailable(&'static str),
    /// 500: logged, never shown.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// A 400 naming a field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            message: message.into(),
            field: Some(field.into()),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry_after = match &self {
            ApiError::TooManyRequests { retry_after, .. } => Some(*retry_after),
            ApiError::Unavailable(_) => Some(RETRY_AFTER_SECS),
            _ => None,
        };
        if let ApiError::Internal(detail) = &self {
            tracing::error!(%detail, "request failed");
        }
        let field = match &self {
            ApiError::BadRequest { field, .. } | ApiError::Forbidden { field, .. } => field.clone(),
            _ => None,
        };
        let body = ErrorBody {
            error: self.to_string(),
            field,
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
