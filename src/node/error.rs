//! Client-facing errors: JSON `{"error":..,"definite":..}` with the status the contract names.
//! `definite: true` only when this node is certain the operation was not applied.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: String,
    pub definite: bool,
    /// Extra fields merged into the body (e.g. `current` of a cas mismatch).
    pub extra: Option<(&'static str, Value)>,
}

impl ApiError {
    pub fn bad_request(msg: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error: msg.into(),
            definite: true,
            extra: None,
        }
    }

    /// Nothing was proposed (no leader known, not the leader, leader unreachable before sending).
    pub fn unavailable(msg: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: msg.into(),
            definite: true,
            extra: None,
        }
    }

    /// The operation may or may not take effect: the client must record `info`.
    pub fn indefinite(status: StatusCode, msg: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error: msg.into(),
            definite: false,
            extra: None,
        }
    }

    /// Refused for its size before anything was proposed; `limit` is the bound it broke.
    pub fn too_large(msg: impl Into<String>, limit: usize) -> ApiError {
        ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            error: msg.into(),
            definite: true,
            extra: Some(("limit_bytes", json!(limit))),
        }
    }

    pub fn cas_mismatch(current: Option<String>) -> ApiError {
        ApiError {
            status: StatusCode::CONFLICT,
            error: "cas mismatch".into(),
            definite: true,
            extra: Some(("current", json!(current))),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.error, "definite": self.definite });
        if let Some((k, v)) = self.extra {
            body[k] = v;
        }
        (self.status, Json(body)).into_response()
    }
}
