//! etcd's v3 JSON gateway on the wire: base64 keys and values, 64-bit integers that arrive as
//! strings, and the mapping from an answer (or its absence) to certainty.
//!
//! The gateway (grpc-gateway v1 in etcd 3.4) marshals with the proto field names
//! (`member_id`, `raft_term`), writes 64-bit integers as JSON strings, and omits every field
//! that holds its zero value: an absent key's range has no `kvs`, a failed txn has no
//! `succeeded`, an empty value has no `value`. Errors come as
//! `{"error": msg, "message": msg, "code": <gRPC code>}` with an HTTP status derived from the
//! code.
//!
//! Certainty, conservatively: an answer is a certain failure only when etcd refuses the request
//! before proposing it, or rejects it deterministically when applying it (every member applies
//! the same log, so the rejection is the same everywhere). Everything else that went wrong
//! after the request was sent is unknown (`Info`): a timeout, `Unavailable` (code 14: "request
//! timed out", "leader changed", "server stopped", ... may all follow a proposal that later
//! commits), `DeadlineExceeded`, `Canceled`, `Unknown`, `Internal`, `Aborted`, `DataLoss`, a
//! 5xx, a dropped connection, a body we cannot read.

use serde_json::Value;
use workloads::Response;

use crate::cluster::client::UNREACHABLE;

/// Standard base64 with padding, as the gateway expects `bytes` fields.
pub fn b64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(T[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 (padding optional).
pub fn unb64(text: &str) -> Result<Vec<u8>, String> {
    let digit = |c: u8| -> Result<u32, String> {
        Ok(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return Err(format!("invalid base64 character {:?}", c as char)),
        }
        .into())
    };
    let trimmed = text.trim_end_matches('=');
    let bytes = trimmed.as_bytes();
    if bytes.len() % 4 == 1 {
        return Err(format!("invalid base64 length {}", text.len()));
    }
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= digit(c)? << (18 - 6 * i);
        }
        out.push((n >> 16) as u8);
        if chunk.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(n as u8);
        }
    }
    Ok(out)
}

/// A 64-bit integer field under any of `names` (the gateway writes proto names, other
/// marshalers camelCase), given as a JSON string or number. `None` when absent, which the
/// gateway means as zero for fields it omits.
pub fn uint(v: &Value, names: &[&str]) -> Option<u64> {
    names.iter().find_map(|name| match v.get(name)? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    })
}

/// The first key-value of a range response, if the key exists.
pub fn first_kv(range: &Value) -> Option<&Value> {
    range.get("kvs")?.as_array()?.first()
}

/// A key-value's value as text; an omitted `value` is the empty value.
pub fn kv_text(kv: &Value) -> Result<String, String> {
    let Some(encoded) = kv.get("value") else {
        return Ok(String::new());
    };
    let encoded = encoded
        .as_str()
        .ok_or_else(|| format!("a kv's value is not a string: {kv}"))?;
    let bytes = unb64(encoded)?;
    String::from_utf8(bytes).map_err(|_| format!("a kv's value is not UTF-8: {encoded}"))
}

/// A txn response's `succeeded` (omitted when false).
pub fn succeeded(txn: &Value) -> bool {
    txn.get("succeeded").and_then(Value::as_bool) == Some(true)
}

/// The `i`th response of a txn, the inner `response_range` / `response_put` object.
pub fn txn_response<'a>(txn: &'a Value, i: usize, kind: &str) -> Option<&'a Value> {
    let entry = txn.get("responses")?.as_array()?.get(i)?;
    entry.get(kind).or_else(|| entry.get(camel(kind).as_str()))
}

fn camel(snake: &str) -> String {
    let mut out = String::new();
    let mut up = false;
    for c in snake.chars() {
        if c == '_' {
            up = true;
        } else if up {
            out.extend(c.to_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// gRPC codes etcd uses to refuse a request it did not propose, or that applying rejects the
/// same way on every member: InvalidArgument (3; "key is not provided", "request is too large",
/// "duplicate key given in txn request"), NotFound (5), AlreadyExists (6), PermissionDenied
/// (7), ResourceExhausted (8; "too many requests", checked before proposing, and "database
/// space exceeded", rejected when applied), FailedPrecondition (9; "not leader", "lease already
/// exists"), OutOfRange (11; "required revision has been compacted", "future revision"),
/// Unimplemented (12), Unauthenticated (16).
const CERTAIN_CODES: [i64; 9] = [3, 5, 6, 7, 8, 9, 11, 12, 16];

/// Messages that say the request was refused before it reached any log, whatever their code:
/// raft drops a proposal it cannot forward (no leader, or a leadership transfer) and etcd
/// returns the error as is (gRPC code 2, Unknown).
const CERTAIN_MESSAGES: [&str; 1] = ["raft proposal dropped"];

/// The certainty of an HTTP answer from the gateway: `Ok(body)` for a 2xx with a JSON body,
/// else the `Response` to report. `what` names the request in error messages.
pub fn classify(status: u16, body: &[u8], what: &str) -> Result<Value, Response> {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    if (200..300).contains(&status) {
        return json.ok_or_else(|| Response::Info {
            error: format!(
                "{what}: HTTP {status} with a body that is not JSON: {}",
                snippet(body)
            ),
        });
    }
    let code = json
        .as_ref()
        .and_then(|j| j.get("code"))
        .and_then(Value::as_i64);
    let message = json
        .as_ref()
        .and_then(|j| j.get("error").or_else(|| j.get("message")))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| snippet(body));
    let error = match code {
        Some(code) => format!("HTTP {status}: {message} (gRPC code {code}; {what})"),
        None => format!("HTTP {status}: {message} ({what})"),
    };
    let certain = match code {
        Some(code) => {
            CERTAIN_CODES.contains(&code) || CERTAIN_MESSAGES.iter().any(|m| message.contains(m))
        }
        // Not the gRPC layer: the gateway's router refused the request itself (no such path,
        // wrong method, a body it could not parse). Anything else without a code is unknown.
        None => matches!(status, 400 | 404 | 405),
    };
    if certain {
        Err(Response::Fail {
            status: Some(status),
            error,
        })
    } else {
        Err(Response::Info { error })
    }
}

/// A transport error: a connection that could not be made sent nothing (a certain failure,
/// marked `unreachable` so the runner backs off); anything later is unknown.
pub fn transport(addr: &std::net::SocketAddr, what: &str, e: &reqwest::Error) -> Response {
    if e.is_connect() {
        Response::Fail {
            status: None,
            error: format!("{UNREACHABLE}: {addr}: {what}: {}", chain(e)),
        }
    } else {
        Response::Info {
            error: format!("{addr}: {what}: {}", chain(e)),
        }
    }
}

pub use crate::cluster::client::chain;

fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn base64_round_trips_and_matches_the_standard_alphabet() {
        assert_eq!(b64(b"bench-1"), "YmVuY2gtMQ==");
        assert_eq!(b64(b"abc"), "YWJj");
        assert_eq!(b64(b"ab"), "YWI=");
        assert_eq!(b64(b""), "");
        for s in [
            "",
            "a",
            "ab",
            "abc",
            "abcd",
            "k0",
            "1000001",
            "[\"1\",\"2\"]",
        ] {
            assert_eq!(unb64(&b64(s.as_bytes())).unwrap(), s.as_bytes(), "{s}");
        }
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(unb64(&b64(&all)).unwrap(), all);
        assert_eq!(unb64("YWI").unwrap(), b"ab");
        assert!(unb64("Y").is_err());
        assert!(unb64("YW!=").is_err());
    }

    #[test]
    fn integers_come_as_strings_or_numbers_under_either_name() {
        let v = json!({"member_id": "10501334649042878790", "raftTerm": 7, "x": true});
        assert_eq!(
            uint(&v, &["member_id", "memberId"]),
            Some(10_501_334_649_042_878_790)
        );
        assert_eq!(uint(&v, &["raft_term", "raftTerm"]), Some(7));
        assert_eq!(uint(&v, &["leader"]), None);
        assert_eq!(uint(&v, &["x"]), None);
    }

    #[test]
    fn kvs_decode_and_an_omitted_value_is_empty() {
        let range = json!({"kvs": [{"key": "azA=", "value": "NDI=", "mod_revision": "5"}]});
        let kv = first_kv(&range).unwrap();
        assert_eq!(kv_text(kv).unwrap(), "42");
        assert_eq!(kv_text(&json!({"key": "azA="})).unwrap(), "");
        assert_eq!(first_kv(&json!({"header": {}})), None);
        assert!(kv_text(&json!({"value": "/w=="})).is_err(), "not UTF-8");
    }

    #[test]
    fn txn_fields_tolerate_omission_and_either_case() {
        let txn = json!({"responses": [{"response_range": {"count": "1"}}, {"responsePut": {}}]});
        assert!(!succeeded(&txn));
        assert!(succeeded(&json!({"succeeded": true})));
        assert_eq!(
            txn_response(&txn, 0, "response_range"),
            Some(&json!({"count": "1"}))
        );
        assert_eq!(txn_response(&txn, 1, "response_put"), Some(&json!({})));
        assert_eq!(txn_response(&txn, 2, "response_put"), None);
    }

    fn fail(r: Result<Value, Response>) -> String {
        match r {
            Err(Response::Fail { error, .. }) => error,
            other => panic!("expected a certain failure, got {other:?}"),
        }
    }

    fn info(r: Result<Value, Response>) -> String {
        match r {
            Err(Response::Info { error }) => error,
            other => panic!("expected an unknown outcome, got {other:?}"),
        }
    }

    #[test]
    fn answers_map_to_certainty() {
        assert_eq!(classify(200, br#"{"a":1}"#, "put"), Ok(json!({"a": 1})));
        info(classify(200, b"<html>", "put"));
        let gw = |code: i64, msg: &str| {
            serde_json::to_vec(&json!({"error": msg, "message": msg, "code": code})).unwrap()
        };
        // Uncertain: the proposal may be in the log and commit later.
        for (status, code, msg) in [
            (503, 14, "etcdserver: request timed out"),
            (503, 14, "etcdserver: leader changed"),
            (503, 14, "etcdserver: no leader"),
            (503, 14, "etcdserver: server stopped"),
            (504, 4, "context deadline exceeded"),
            (408, 1, "context canceled"),
            (409, 10, "aborted"),
            (500, 2, "some unknown error"),
            (500, 13, "internal"),
            (500, 15, "etcdserver: corrupt cluster"),
        ] {
            let e = info(classify(status, &gw(code, msg), "put k"));
            assert!(
                e.contains(msg) && e.contains(&format!("gRPC code {code}")),
                "{e}"
            );
        }
        // Certain: refused before proposing, or rejected alike by every member.
        for (status, code, msg) in [
            (400, 3, "etcdserver: request is too large"),
            (429, 8, "etcdserver: too many requests"),
            (429, 8, "etcdserver: mvcc: database space exceeded"),
            (403, 7, "etcdserver: permission denied"),
            (
                400,
                11,
                "etcdserver: mvcc: required revision has been compacted",
            ),
            (412, 9, "etcdserver: not leader"),
            (500, 2, "raft proposal dropped"),
        ] {
            let e = fail(classify(status, &gw(code, msg), "put k"));
            assert!(e.starts_with(&format!("HTTP {status}: {msg}")), "{e}");
        }
        // The router's own refusals carry no gRPC code.
        fail(classify(404, b"Not Found", "range"));
        fail(classify(400, b"bad json", "range"));
        info(classify(502, b"bad gateway", "range"));
        info(classify(500, b"", "range"));
    }
}
