//! A small HTTP client for the node API (`/status`, `/kv`), used by `cluster status`, the
//! leader wait and `faultline kv`. Requests go only to the cluster's own node addresses.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `GET /status`, read leniently: a field the node does not send is `None`, never an error.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    #[serde(default)]
    pub id: Option<u64>,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub term: Option<u64>,
    #[serde(default)]
    pub leader: Option<u64>,
    #[serde(default)]
    pub last_log_index: Option<u64>,
    #[serde(default)]
    pub applied_index: Option<u64>,
    #[serde(default)]
    pub nodes: Option<BTreeMap<String, String>>,
}

/// How a key-value request ended, as the node's API defines it.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// 200, with the JSON body.
    Ok(serde_json::Value),
    /// 409 on a compare-and-set: the current value differs.
    CasMismatch { current: serde_json::Value },
    /// Any other error. `definite` means the node is sure the operation was not applied.
    Error { message: String, definite: bool },
}

#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
}

impl Api {
    /// `timeout` bounds each whole request.
    pub fn new(timeout: Duration) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(1)))
            // Only the cluster's own addresses: never a proxy from the environment.
            .no_proxy()
            .build()
            .map_err(|e| anyhow::anyhow!("building the HTTP client: {e}"))?;
        Ok(Api { http })
    }

    pub async fn status(&self, addr: SocketAddr) -> anyhow::Result<NodeStatus> {
        let url = format!("http://{addr}/status");
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("GET {url}: {}", chain(&e)))?;
        if !response.status().is_success() {
            anyhow::bail!("GET {url}: HTTP {}", response.status());
        }
        response
            .json()
            .await
            .map_err(|e| anyhow::anyhow!("GET {url}: unreadable status: {e}"))
    }

    pub async fn get(&self, addr: SocketAddr, key: &str) -> Reply {
        let url = format!("http://{addr}/kv/{}", encode(key));
        self.send(self.http.get(&url), &url).await
    }

    pub async fn put(&self, addr: SocketAddr, key: &str, value: &str) -> Reply {
        let url = format!("http://{addr}/kv/{}", encode(key));
        self.send(self.http.put(&url).body(value.to_string()), &url)
            .await
    }

    pub async fn cas(&self, addr: SocketAddr, key: &str, from: Option<&str>, to: &str) -> Reply {
        let url = format!("http://{addr}/kv/{}/cas", encode(key));
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
        classify(status.as_u16(), body, url)
    }
}

/// Maps a node's answer to a `Reply` following the API's error contract.
fn classify(status: u16, body: serde_json::Value, url: &str) -> Reply {
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
fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}

/// Percent-encodes a key for the URL path, so `a/b` or `a b` stay one key.
fn encode(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_reads_the_documented_shape_and_tolerates_missing_fields() {
        let s: NodeStatus = serde_json::from_value(json!({
            "id": 1, "role": "leader", "term": 3, "leader": 1, "last_log_index": 42,
            "applied_index": 41, "membership": {"voters": [1, 2, 3], "learners": []},
            "nodes": {"1": "10.0.0.11:7000"}
        }))
        .unwrap();
        assert_eq!(s.role.as_deref(), Some("leader"));
        assert_eq!((s.term, s.applied_index), (Some(3), Some(41)));
        let partial: NodeStatus =
            serde_json::from_value(json!({"role": "follower", "leader": null})).unwrap();
        assert_eq!(partial.leader, None);
    }

    #[test]
    fn replies_follow_the_error_contract() {
        assert_eq!(
            classify(200, json!({"value": "v"}), "u"),
            Reply::Ok(json!({"value": "v"}))
        );
        assert_eq!(
            classify(
                409,
                json!({"error": "cas mismatch", "current": "x", "definite": true}),
                "u"
            ),
            Reply::CasMismatch {
                current: json!("x")
            }
        );
        match classify(503, json!({"error": "no leader", "definite": true}), "u") {
            Reply::Error { definite, message } => {
                assert!(definite);
                assert!(message.contains("no leader"));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            classify(504, json!({"error": "timeout"}), "u"),
            Reply::Error {
                definite: false,
                ..
            }
        ));
    }

    #[test]
    fn keys_are_path_encoded() {
        assert_eq!(encode("k1"), "k1");
        assert_eq!(encode("a/b c"), "a%2Fb%20c");
    }
}
