//! Followers proxy client requests to the leader, so a client may talk to any node. A forwarded
//! request is marked and never forwarded again, which rules out loops while leadership moves.

use axum::body::Bytes;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::state::AppState;

pub const FORWARDED: &str = "x-faultline-forwarded";

/// Whether losing the request in flight leaves its effect unknown (writes) or not (reads).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Read,
    Write,
}

pub async fn to_leader(
    st: &AppState,
    headers: &HeaderMap,
    leader: Option<String>,
    method: Method,
    path_and_query: &str,
    body: Bytes,
    kind: Kind,
) -> Response {
    if headers.contains_key(FORWARDED) {
        return ApiError::unavailable(format!(
            "node {} received a forwarded request but is not the leader (leadership is moving)",
            st.id
        ))
        .into_response();
    }
    let Some(addr) = leader else {
        return ApiError::unavailable(format!(
            "node {}: no leader known; nothing was proposed",
            st.id
        ))
        .into_response();
    };
    let url = format!("http://{addr}{path_and_query}");
    let mut req = st
        .http
        .request(method, &url)
        .timeout(st.client_timeout + std::time::Duration::from_secs(1))
        .header(FORWARDED, st.id.to_string())
        .body(body);
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status();
            match resp.bytes().await {
                Ok(b) => (status, [(header::CONTENT_TYPE, "application/json")], b).into_response(),
                Err(e) => lost(st, &url, &e, kind),
            }
        }
        // The connection was never made: the leader cannot have seen the request.
        Err(e) if e.is_connect() => ApiError::unavailable(format!(
            "node {}: leader at {addr} is unreachable ({e}); nothing was proposed",
            st.id
        ))
        .into_response(),
        Err(e) => lost(st, &url, &e, kind),
    }
}

fn lost(st: &AppState, url: &str, e: &reqwest::Error, kind: Kind) -> Response {
    let msg = format!("node {}: forwarded request to {url} was lost: {e}", st.id);
    match kind {
        Kind::Read => ApiError {
            status: StatusCode::GATEWAY_TIMEOUT,
            error: msg,
            definite: true,
            extra: None,
        },
        Kind::Write => ApiError::indefinite(StatusCode::GATEWAY_TIMEOUT, msg),
    }
    .into_response()
}
