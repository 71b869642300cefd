//! The one client of the node's HTTP API (`/kv`, `/txn`, `/status`): workload requests with the
//! mapping from HTTP outcomes to certainty, status probes, and the plain key-value calls of
//! `faultline kv`. Requests go only to the cluster's own node addresses, never through a proxy.
//!
//! Certainty: 2xx is ok; 4xx or `"definite": true` is a certain failure; timeouts, connections
//! lost after sending and 5xx without `"definite": true` are unknown (`info`). A refused
//! connection sent nothing, so it is a certain failure.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use workloads::{Request, Response};

/// The node's `GET /status`: who it is, its role and term, whom it follows; the log fields are
/// `None` when a node does not send them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub id: u64,
    pub role: String,
    pub term: u64,
    pub leader: Option<u64>,
    #[serde(default)]
    pub last_log_index: Option<u64>,
    #[serde(default)]
    pub applied_index: Option<u64>,
    #[serde(default)]
    pub nodes: Option<BTreeMap<String, String>>,
    /// The node's wall clock (ms since the Unix epoch), when it reports one.
    #[serde(default)]
    pub time_ms: Option<u64>,
    /// The Raft configuration as this node has it, when it reports one.
    #[serde(default)]
    pub membership: Option<MembershipView>,
    /// Snapshots this node installed from a leader since it started, when it reports it.
    #[serde(default)]
    pub snapshots_installed: Option<u64>,
}

/// A node's Raft configuration: who votes, who only learns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipView {
    pub voters: Vec<u64>,
    #[serde(default)]
    pub learners: Vec<u64>,
}

/// How a plain key-value request (`faultline kv`) ended, as the node's API defines it.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// 200, with the JSON body.
    Ok(serde_json::Value),
    /// 409 on a compare-and-set: the current value differs.
    CasMismatch { current: serde_json::Value },
    /// Any other error. `definite` means the node is sure the operation was not applied.
    Error { message: String, definite: bool },
}

/// Sends workload requests and status probes: the adapter between the workloads and a
/// system's protocol. [`HttpClient`] speaks faultline's node, `system::etcd::EtcdClient` etcd's
/// v3 gateway, and tests use fakes. To test a system with a protocol of its own, implement it in
/// your crate and run a campaign with it:
///
/// ```no_run
/// use std::net::SocketAddr;
/// use faultline::cluster::client::{Client, NodeStatus};
/// use faultline::runner::{campaign, launch, validate};
/// use workloads::{Request, Response};
///
/// /// A client of some store's own protocol (here, a sketch).
/// #[derive(Clone)]
/// struct MyClient;
///
/// impl Client for MyClient {
///     async fn call(&self, addr: SocketAddr, request: &Request) -> Response {
///         match request {
///             // Ok carries what the workload reads back: `{"value": ..}` for a read.
///             Request::Read { key } => Response::Ok(serde_json::json!({ "value": null })),
///             // Fail only when the operation certainly did not happen; anything uncertain
///             // (a timeout, a connection lost after sending) is Info.
///             _ => Response::Info { error: format!("{addr}: not implemented") },
///         }
///     }
///
///     async fn status(&self, addr: SocketAddr) -> Result<NodeStatus, String> {
///         // Who this node is, its role ("leader" or not) and term: the leader is the node that
///         // says it leads in the highest term.
///         Ok(NodeStatus { id: 1, role: "leader".into(), term: 1, ..NodeStatus::default() })
///     }
/// }
///
/// # async fn run() -> anyhow::Result<()> {
/// let path = std::path::Path::new("my-campaign.yaml");
/// let (c, text) = campaign::load(path)?;
/// let plan = validate::validate(&c, &text, path, &validate::Overrides::default())?;
/// let dir = launch::create_run_dir(&plan)?;
/// let (_stop, interrupted) = tokio::sync::watch::channel(false);
/// let outcome =
///     launch::run_with_client(&plan, &dir, &launch::Launch::default(), MyClient, interrupted)
///         .await?;
/// println!("{}", outcome.results.valid);
/// # Ok(())
/// # }
/// ```
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
        let (http, probe) = http_clients(timeout)?;
        Ok(HttpClient { http, probe })
    }
}

/// The HTTP clients of a system's client, for requests and for status probes: `timeout` bounds
/// each request, a probe at most 500 ms (a paused node is seen quickly), a connection at most
/// 1 s; never through a proxy (only the cluster's own addresses are dialled).
pub fn http_clients(timeout: Duration) -> anyhow::Result<(reqwest::Client, reqwest::Client)> {
    let build = |timeout: Duration| {
        reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(1)))
            .no_proxy()
            .build()
            .context("building the HTTP client")
    };
    Ok((
        build(timeout)?,
        build(timeout.min(Duration::from_millis(500)))?,
    ))
}

/// The plain key-value calls of `faultline kv`.
impl HttpClient {
    pub async fn get(&self, addr: SocketAddr, key: &str) -> Reply {
        let url = format!("http://{addr}/kv/{}", escape(key));
        self.send(self.http.get(&url), &url).await
    }

    pub async fn put(&self, addr: SocketAddr, key: &str, value: &str) -> Reply {
        let url = format!("http://{addr}/kv/{}", escape(key));
        self.send(self.http.put(&url).body(value.to_string()), &url)
            .await
    }

    pub async fn cas(&self, addr: SocketAddr, key: &str, from: Option<&str>, to: &str) -> Reply {
        let url = format!("http://{addr}/kv/{}/cas", escape(key));
        let body = serde_json::json!({ "from": from, "to": to });
        self.send(self.http.post(&url).json(&body), &url).await
    }

    async fn send(&self, request: reqwest::RequestBuilder, url: &str) -> Reply {
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                // A refused connection never reached the node: certainly not applied.
                let definite = e.is_connect();
                return Reply::Error {
                    message: format!("{url}: {}", chain(&e)),
                    definite,
                };
            }
        };
        let status = response.status();
        let body: serde_json::Value = match response.json().await {
            Ok(v) => v,
            Err(e) => {
                return Reply::Error {
                    message: format!("{url}: HTTP {status} with an unreadable body: {e}"),
                    definite: false,
                }
            }
        };
        classify_reply(status.as_u16(), body, url)
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

/// Maps a node's answer to a `Reply` following the API's error contract.
fn classify_reply(status: u16, body: serde_json::Value, url: &str) -> Reply {
    match status {
        200 => Reply::Ok(body),
        409 => Reply::CasMismatch {
            current: body.get("current").cloned().unwrap_or_default(),
        },
        _ => Reply::Error {
            message: format!(
                "{url}: HTTP {status}: {}",
                body.get("error")
                    .and_then(|e| e.as_str())
                    .unwrap_or("no error message")
            ),
            definite: body
                .get("definite")
                .and_then(|d| d.as_bool())
                .unwrap_or(false),
        },
    }
}

/// An error with its causes: reqwest's own message ("error sending request") hides the useful
/// part ("connection refused").
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
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
    fn status_reads_the_documented_shape_and_tolerates_missing_fields() {
        let s: NodeStatus = serde_json::from_value(json!({
            "id": 1, "role": "leader", "term": 3, "leader": 1, "last_log_index": 42,
            "applied_index": 41, "membership": {"voters": [1, 2, 3], "learners": []},
            "nodes": {"1": "10.0.0.11:7000"}
        }))
        .unwrap();
        assert_eq!(s.role, "leader");
        assert_eq!((s.term, s.applied_index), (3, Some(41)));
        let partial: NodeStatus =
            serde_json::from_value(json!({"id": 2, "role": "follower", "term": 3, "leader": null}))
                .unwrap();
        assert_eq!((partial.leader, partial.applied_index), (None, None));
    }

    #[test]
    fn replies_follow_the_error_contract() {
        assert_eq!(
            classify_reply(200, json!({"value": "v"}), "u"),
            Reply::Ok(json!({"value": "v"}))
        );
        assert_eq!(
            classify_reply(
                409,
                json!({"error": "cas mismatch", "current": "x", "definite": true}),
                "u"
            ),
            Reply::CasMismatch {
                current: json!("x")
            }
        );
        match classify_reply(503, json!({"error": "no leader", "definite": true}), "u") {
            Reply::Error { definite, message } => {
                assert!(definite);
                assert!(message.contains("no leader"));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            classify_reply(504, json!({"error": "timeout"}), "u"),
            Reply::Error {
                definite: false,
                ..
            }
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
