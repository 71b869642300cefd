//! The HTTP client against the node API, and the mapping from HTTP outcomes to certainty:
//! 2xx is ok; 4xx or `"definite": true` is a certain failure; timeouts, connections lost after
//! sending and 5xx without `"definite": true` are unknown (`info`). A refused connection sent
//! nothing, so it is a certain failure.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;
use serde_json::{json, Value};
use workloads::{Request, Response};

/// The node's `/status`, as far as the runner reads it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NodeStatus {
    pub id: u64,
    pub role: String,
    pub term: u64,
    pub leader: Option<u64>,
}

/// Sends workload requests and status probes. `HttpClient` is the real one; tests use fakes.
pub trait Client: Clone + Send + Sync + 'static {
    fn call(&self, addr: SocketAddr, request: &Request) -> impl Future<Output = Response> + Send;
    fn status(&self, addr: SocketAddr) -> impl Future<Output = Result<NodeStatus, String>> + Send;
}

#[derive(Clone)]
pub struct HttpClient {
    http: reqwest::Client,
    probe: reqwest::Client,
}

impl HttpClient {
    /// `timeout` bounds each request; status probes use a shorter one so a paused node is seen
    /// quickly.
    pub fn new(timeout: Duration) -> anyhow::Result<HttpClient> {
        let build = |timeout: Duration| {
            reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout.min(Duration::from_secs(1)))
                .no_proxy()
                .build()
                .context("building the HTTP client")
        };
        Ok(HttpClient {
            http: build(timeout)?,
            probe: build(timeout.min(Duration::from_millis(500)))?,
        })
    }
}

fn url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

/// Keys go into URL paths; escape everything but unreserved characters.
fn escape(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Client for HttpClient {
    async fn call(&self, addr: SocketAddr, request: &Request) -> Response {
        let builder = match request {
            Request::Read { key } => self.http.get(url(addr, &format!("/kv/{}", escape(key)))),
            Request::Write { key, value } => self
                .http
                .put(url(addr, &format!("/kv/{}", escape(key))))
                .body(value.clone()),
            Request::Cas { key, from, to } => self
                .http
                .post(url(addr, &format!("/kv/{}/cas", escape(key))))
                .json(&json!({"from": from, "to": to})),
            Request::Txn { ops } => self.http.post(url(addr, "/txn")).json(&json!({
                "ops": ops.iter().map(|m| m.to_wire()).collect::<Vec<_>>()
            })),
        };
        match builder.send().await {
            Err(e) => classify_error(addr, &e),
            Ok(resp) => {
                let status = resp.status().as_u16();
                match resp.bytes().await {
                    Ok(body) => classify(status, &body),
                    // The node answered, so the operation may have happened.
                    Err(e) if resp_ok(status) => Response::Info {
                        error: format!("{addr}: reading the reply failed: {e}"),
                    },
                    Err(e) => classify_error(addr, &e),
                }
            }
        }
    }

    async fn status(&self, addr: SocketAddr) -> Result<NodeStatus, String> {
        let resp = self
            .probe
            .get(url(addr, "/status"))
            .send()
            .await
            .map_err(|e| format!("{addr}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("{addr}: /status answered {}", resp.status()));
        }
        resp.json()
            .await
            .map_err(|e| format!("{addr}: bad /status reply: {e}"))
    }
}

fn resp_ok(status: u16) -> bool {
    (200..300).contains(&status)
}

/// The certainty of an HTTP answer.
pub fn classify(status: u16, body: &[u8]) -> Response {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if resp_ok(status) {
        return Response::Ok(json);
    }
    let message = json
        .get("error")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect());
    let error = format!("HTTP {status}: {message}");
    let definite = json.get("definite").and_then(Value::as_bool);
    match (status, definite) {
        // An explicit "not sure" wins: info is always safe for the checker, fail is not.
        (_, Some(false)) => Response::Info { error },
        (400..=499, _) | (_, Some(true)) => Response::Fail {
            status: Some(status),
            error,
        },
        _ => Response::Info { error },
    }
}

/// Starts the error of a connection that could not be made (nothing was sent).
pub const UNREACHABLE: &str = "unreachable";

/// A transport error: failing to connect means nothing was sent; anything later is unknown.
fn classify_error(addr: SocketAddr, e: &reqwest::Error) -> Response {
    if e.is_connect() {
        Response::Fail {
            status: None,
            error: format!("{UNREACHABLE}: {addr}: {e}"),
        }
    } else {
        Response::Info {
            error: format!("{addr}: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use workloads::MicroOp;

    #[test]
    fn statuses_map_to_certainty() {
        assert_eq!(
            classify(200, br#"{"value":"1"}"#),
            Response::Ok(json!({"value": "1"}))
        );
        assert!(matches!(
            classify(409, br#"{"error":"cas mismatch","current":"2","definite":true}"#),
            Response::Fail { status: Some(409), ref error } if error.contains("cas mismatch")
        ));
        assert!(matches!(classify(400, b"bad"), Response::Fail { .. }));
        assert!(matches!(
            classify(503, br#"{"error":"no leader","definite":true}"#),
            Response::Fail { .. }
        ));
        assert!(matches!(
            classify(500, br#"{"error":"timeout","definite":false}"#),
            Response::Info { .. }
        ));
        assert!(matches!(classify(502, b""), Response::Info { .. }));
        assert!(matches!(
            classify(404, br#"{"error":"lost","definite":false}"#),
            Response::Info { .. }
        ));
    }

    #[test]
    fn keys_are_escaped_in_paths() {
        assert_eq!(escape("k1"), "k1");
        assert_eq!(escape("a/b c"), "a%2Fb%20c");
    }

    #[tokio::test]
    async fn refused_connections_fail_and_silent_servers_are_info() {
        let client = HttpClient::new(Duration::from_millis(300)).unwrap();
        // A port nobody listens on: bind, learn the port, close.
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let refused = client.call(addr, &Request::Read { key: "k".into() }).await;
        assert!(
            matches!(refused, Response::Fail { status: None, .. }),
            "{refused:?}"
        );

        // A server that accepts and never answers: the request was sent, so the outcome is unknown.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let txn = Request::Txn {
            ops: vec![MicroOp::Read { key: "k".into() }],
        };
        let silent = client.call(addr, &txn).await;
        assert!(matches!(silent, Response::Info { .. }), "{silent:?}");
        drop(listener);
    }
}
