//! The client API: `/kv/{key}`, `/kv/{key}/cas`, `/txn`, `/status`. Handlers parse, try the
//! operation here, and forward to the leader when this node is not it.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, OriginalUri, Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::error::ApiError;
use super::forward::{self, Kind};
use super::limits::CLIENT_BODY_LIMIT;
use super::state::{AppState, Local};
use super::types::{MicroOp, MicroResult, Request, Response as SmResponse};
use super::{read, status, write};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/kv/{key}", get(get_kv).put(put_kv))
        .route("/kv/{key}/cas", post(cas_kv))
        .route("/txn", post(txn))
        .route("/status", get(status::get_status))
        .layer(DefaultBodyLimit::max(CLIENT_BODY_LIMIT))
}

/// The request body, or the refusal as the API's JSON error (axum's own is plain text).
fn body_or_refusal(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(
                format!(
                    "the request body is over the limit of {CLIENT_BODY_LIMIT} bytes; \
                     nothing was proposed"
                ),
                CLIENT_BODY_LIMIT,
            )
        } else {
            ApiError::bad_request(format!("reading the request body: {}", e.body_text()))
        }
    })
}

struct Ctx {
    headers: HeaderMap,
    method: Method,
    uri: String,
    body: Bytes,
}

async fn get_kv(
    State(st): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    match read::read_register(&st, &key).await {
        Local::Done(v) => Json(json!({ "value": v })).into_response(),
        Local::NotLeader { leader } => {
            let ctx = Ctx {
                headers,
                method: Method::GET,
                uri: uri.to_string(),
                body: Bytes::new(),
            };
            forward_to(&st, ctx, leader, Kind::Read).await
        }
        Local::Err(e) => e.into_response(),
    }
}

async fn put_kv(
    State(st): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body_or_refusal(body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let value = match std::str::from_utf8(&body) {
        Ok(v) => v.to_owned(),
        Err(e) => {
            return ApiError::bad_request(format!("the value must be UTF-8 text: {e}"))
                .into_response()
        }
    };
    let ctx = Ctx {
        headers,
        method: Method::PUT,
        uri: uri.to_string(),
        body,
    };
    run_write(&st, ctx, Request::Put { key, value }).await
}

async fn cas_kv(
    State(st): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body_or_refusal(body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let (from, to) = match parse_cas(&body) {
        Ok(ft) => ft,
        Err(e) => return e.into_response(),
    };
    let ctx = Ctx {
        headers,
        method: Method::POST,
        uri: uri.to_string(),
        body,
    };
    run_write(&st, ctx, Request::Cas { key, from, to }).await
}

async fn txn(
    State(st): State<AppState>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body_or_refusal(body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let ops = match parse_txn(&body) {
        Ok(ops) => ops,
        Err(e) => return e.into_response(),
    };
    let ctx = Ctx {
        headers,
        method: Method::POST,
        uri: uri.to_string(),
        body,
    };
    run_write(&st, ctx, Request::Txn { ops }).await
}

async fn run_write(st: &AppState, ctx: Ctx, req: Request) -> Response {
    match write::propose(st, req).await {
        Local::Done(resp) => render(resp),
        Local::NotLeader { leader } => forward_to(st, ctx, leader, Kind::Write).await,
        Local::Err(e) => e.into_response(),
    }
}

async fn forward_to(st: &AppState, ctx: Ctx, leader: Option<String>, kind: Kind) -> Response {
    forward::to_leader(
        st,
        &ctx.headers,
        leader,
        ctx.method,
        &ctx.uri,
        ctx.body,
        kind,
    )
    .await
}

fn render(resp: SmResponse) -> Response {
    match resp {
        SmResponse::Done => Json(json!({ "ok": true })).into_response(),
        SmResponse::CasMismatch { current } => ApiError::cas_mismatch(current).into_response(),
        SmResponse::Batch { .. } => ApiError::indefinite(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "a batch result reached a single request",
        )
        .into_response(),
        SmResponse::Txn { ops } => {
            let ops: Vec<Value> = ops
                .into_iter()
                .map(|r| match r {
                    MicroResult::Append { key, value } => json!(["append", key, value]),
                    MicroResult::R { key, value } => json!(["r", key, value]),
                    MicroResult::W { key, value } => json!(["w", key, value]),
                    MicroResult::Get { key, value } => json!(["get", key, value]),
                })
                .collect();
            Json(json!({ "ops": ops })).into_response()
        }
    }
}

fn parse_cas(body: &[u8]) -> Result<(Option<String>, String), ApiError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "cas body is not JSON: {e}; expected {{\"from\":\"a\"|null,\"to\":\"b\"}}"
        ))
    })?;
    let obj = v.as_object().ok_or_else(|| {
        ApiError::bad_request("cas body must be an object {\"from\":..,\"to\":..}")
    })?;
    if let Some(k) = obj.keys().find(|k| *k != "from" && *k != "to") {
        return Err(ApiError::bad_request(format!(
            "cas body has unknown field `{k}`; expected only `from` and `to`"
        )));
    }
    let from = match obj.get("from") {
        Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "cas `from` must be a string or null, got {other}"
            )))
        }
        None => {
            return Err(ApiError::bad_request(
                "cas body needs `from` (a string, or null for \"absent\")",
            ))
        }
    };
    let to = match obj.get("to") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "cas `to` must be a string, got {other}"
            )))
        }
        None => return Err(ApiError::bad_request("cas body needs `to` (a string)")),
    };
    Ok((from, to))
}

fn parse_txn(body: &[u8]) -> Result<Vec<MicroOp>, ApiError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "txn body is not JSON: {e}; expected {{\"ops\":[[\"append\",\"k\",\"1\"],[\"r\",\"k\",null]]}}"
        ))
    })?;
    let ops = v.get("ops").and_then(Value::as_array).ok_or_else(|| {
        ApiError::bad_request("txn body needs `ops`, an array of [f, key, value]")
    })?;
    if ops.is_empty() {
        return Err(ApiError::bad_request("txn `ops` is empty"));
    }
    ops.iter()
        .enumerate()
        .map(|(i, op)| {
            let bad = |why: &str| ApiError::bad_request(format!("txn op {i} ({op}): {why}"));
            let arr = op
                .as_array()
                .filter(|a| a.len() == 3)
                .ok_or_else(|| bad("must be [f, key, value]"))?;
            let key = arr[1]
                .as_str()
                .ok_or_else(|| bad("key must be a string"))?
                .to_owned();
            match (arr[0].as_str(), &arr[2]) {
                (Some("append"), Value::String(v)) => Ok(MicroOp::Append {
                    key,
                    value: v.clone(),
                }),
                (Some("append"), _) => Err(bad("an append's value must be a string")),
                (Some("r"), Value::Null) => Ok(MicroOp::R { key }),
                (Some("r"), _) => Err(bad("a read's value must be null")),
                (Some("w"), Value::String(v)) => Ok(MicroOp::W {
                    key,
                    value: v.clone(),
                }),
                (Some("w"), _) => Err(bad("a write's value must be a string")),
                (Some("get"), Value::Null) => Ok(MicroOp::Get { key }),
                (Some("get"), _) => Err(bad("a register read's value must be null")),
                _ => Err(bad("f must be \"append\", \"r\", \"w\" or \"get\"")),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cas_bodies_are_validated() {
        assert_eq!(
            parse_cas(br#"{"from":null,"to":"b"}"#).unwrap(),
            (None, "b".into())
        );
        assert_eq!(
            parse_cas(br#"{"from":"a","to":"b"}"#).unwrap(),
            (Some("a".into()), "b".into())
        );
        assert!(parse_cas(br#"{"to":"b"}"#).is_err());
        assert!(parse_cas(br#"{"from":1,"to":"b"}"#).is_err());
        assert!(parse_cas(br#"{"form":"a","to":"b"}"#).is_err());
        assert!(parse_cas(b"not json").is_err());
    }

    #[test]
    fn txn_bodies_are_validated() {
        let ops = parse_txn(br#"{"ops":[["append","k1","5"],["r","k1",null]]}"#).unwrap();
        assert_eq!(
            ops,
            vec![
                MicroOp::Append {
                    key: "k1".into(),
                    value: "5".into()
                },
                MicroOp::R { key: "k1".into() }
            ]
        );
        assert!(parse_txn(br#"{"ops":[]}"#).is_err());
        assert!(parse_txn(br#"{"ops":[["w","k",1]]}"#).is_err());
        assert!(parse_txn(br#"{"ops":[["append","k",5]]}"#).is_err());
        let reg = parse_txn(br#"{"ops":[["get","k",null],["w","k","7"]]}"#).unwrap();
        assert_eq!(
            reg,
            vec![
                MicroOp::Get { key: "k".into() },
                MicroOp::W {
                    key: "k".into(),
                    value: "7".into()
                }
            ]
        );
        assert!(parse_txn(br#"{"ops":[["get","k","x"]]}"#).is_err());
    }
}
