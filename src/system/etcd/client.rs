//! The workload client for etcd: register reads, writes and compare-and-sets, and list-append
//! transactions, over etcd's v3 JSON gateway (plain HTTP, never through a proxy), answering in
//! the JSON shapes the workloads read from faultline's node, so they need no change:
//! reads `{"value": "..." | null}`, writes and cas `{"ok": true}`, transactions
//! `{"ops": [["append", k, v], ["r", k, [...] | null], ...]}`.
//!
//! - Read: `/v3/kv/range`, linearizable unless the client reads `serializable` (then any
//!   member answers from its own state, possibly stale).
//! - Write: `/v3/kv/put`.
//! - Cas: one `/v3/kv/txn` comparing the key's value with `from` (or, from absent, its
//!   `create_revision` with 0: etcd's value compare on a missing key is always false); a failed
//!   compare is a certain failure, like the node's 409.
//! - Txn: see `append`.
//!
//! What each answer means for certainty is in `gateway`.
//! Status: `/v3/maintenance/status`; [`EtcdClient::leader_name`] adds `/v3/cluster/member/list`
//! to turn etcd's member ids (hashes) into the members' names (`n<i>`).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use workloads::{Request, Response};

use super::append;
use super::gateway::{self, b64, first_kv, kv_text, succeeded, txn_response, uint};
use crate::cluster::client::{Client, NodeStatus};

/// How reads are served.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reads {
    /// Through Raft (a read index): what the register workload's linearizability check needs.
    #[default]
    Linearizable,
    /// From the member's local state, which may be stale: a check that finds stale reads then
    /// finds what etcd documents.
    Serializable,
}

#[derive(Clone)]
pub struct EtcdClient {
    http: reqwest::Client,
    probe: reqwest::Client,
    reads: Reads,
}

/// A member as `/v3/cluster/member/list` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: u64,
    /// `n<i>`; empty for a member that was added but never started.
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
}

impl EtcdClient {
    /// `timeout` bounds each request (etcd's own gives up after 5 s plus two election timeouts);
    /// status probes use a shorter one so a paused member is seen quickly.
    pub fn new(timeout: Duration, reads: Reads) -> anyhow::Result<EtcdClient> {
        let (http, probe) = crate::cluster::client::http_clients(timeout)?;
        Ok(EtcdClient { http, probe, reads })
    }

    pub fn reads(&self) -> Reads {
        self.reads
    }

    /// POSTs `body` to the gateway's `path`: the answer's JSON, or how the request ended.
    pub(super) async fn post(
        &self,
        addr: SocketAddr,
        path: &str,
        body: &Value,
        what: &str,
    ) -> Result<Value, Response> {
        send(&self.http, addr, path, body, what).await
    }

    async fn read(&self, addr: SocketAddr, key: &str) -> Response {
        let mut body = json!({ "key": b64(key.as_bytes()) });
        if self.reads == Reads::Serializable {
            body["serializable"] = json!(true);
        }
        let what = format!("range {key}");
        match self.post(addr, "/v3/kv/range", &body, &what).await {
            Ok(answer) => match first_kv(&answer).map(kv_text) {
                None => Response::Ok(json!({ "value": null })),
                Some(Ok(value)) => Response::Ok(json!({ "value": value })),
                // The read happened; what it saw is unknown.
                Some(Err(e)) => Response::Info {
                    error: format!("{addr}: {what}: {e}"),
                },
            },
            Err(outcome) => outcome,
        }
    }

    async fn write(&self, addr: SocketAddr, key: &str, value: &str) -> Response {
        let body = json!({ "key": b64(key.as_bytes()), "value": b64(value.as_bytes()) });
        match self
            .post(addr, "/v3/kv/put", &body, &format!("put {key}"))
            .await
        {
            Ok(_) => Response::Ok(json!({ "ok": true })),
            Err(outcome) => outcome,
        }
    }

    async fn cas(&self, addr: SocketAddr, key: &str, from: Option<&str>, to: &str) -> Response {
        let what = format!("cas {key}");
        match self
            .post(addr, "/v3/kv/txn", &cas_body(key, from, to), &what)
            .await
        {
            Ok(answer) => cas_outcome(&answer, from),
            Err(outcome) => outcome,
        }
    }

    /// The member's view: its id, whom it follows, its term and log positions. `role` is
    /// `leader` when the member leads, else `follower` (etcd does not report candidates).
    pub async fn member_status(&self, addr: SocketAddr) -> Result<NodeStatus, String> {
        let answer = send(
            &self.probe,
            addr,
            "/v3/maintenance/status",
            &json!({}),
            "status",
        )
        .await
        .map_err(|r| describe(&r))?;
        node_status(&answer).map_err(|e| format!("{addr}: status: {e}"))
    }

    /// The cluster's members as `addr` knows them.
    pub async fn members(&self, addr: SocketAddr) -> anyhow::Result<Vec<Member>> {
        let answer = send(
            &self.probe,
            addr,
            "/v3/cluster/member/list",
            &json!({}),
            "member list",
        )
        .await
        .map_err(|r| anyhow::anyhow!(describe(&r)))?;
        parse_members(&answer).with_context(|| format!("{addr}: member list: {answer}"))
    }

    /// The name (`n<i>`) of the member that says it leads in the highest term among those that
    /// answer at `addrs`, or `None` when none does. A follower may still name a leader that is
    /// gone (killed, isolated); only a member's claim about itself counts. Fails when no member
    /// answers at all.
    pub async fn leader_name(&self, addrs: &[SocketAddr]) -> anyhow::Result<Option<String>> {
        let statuses =
            futures::future::join_all(addrs.iter().map(|&a| self.member_status(a))).await;
        let mut errors = Vec::new();
        let mut best: Option<(SocketAddr, NodeStatus)> = None;
        for (addr, status) in addrs.iter().zip(statuses) {
            match status {
                Ok(s) if s.role == "leader" => {
                    if best.as_ref().is_none_or(|(_, b)| s.term > b.term) {
                        best = Some((*addr, s));
                    }
                }
                Ok(_) => {}
                Err(e) => errors.push(e),
            }
        }
        if errors.len() == addrs.len() {
            bail!("no etcd member answered: {}", errors.join("; "));
        }
        let Some((addr, leader)) = best else {
            return Ok(None);
        };
        let members = self.members(addr).await?;
        match members.iter().find(|m| m.id == leader.id) {
            Some(m) if !m.name.is_empty() => Ok(Some(m.name.clone())),
            _ => bail!(
                "{addr} leads as member {:x} but its member list does not name it: {members:?}",
                leader.id
            ),
        }
    }
}

impl Client for EtcdClient {
    async fn call(&self, addr: SocketAddr, request: &Request) -> Response {
        match request {
            Request::Read { key } => self.read(addr, key).await,
            Request::Write { key, value } => self.write(addr, key, value).await,
            Request::Cas { key, from, to } => self.cas(addr, key, from.as_deref(), to).await,
            Request::Txn { ops } => append::txn(self, addr, ops).await,
        }
    }

    async fn status(&self, addr: SocketAddr) -> Result<NodeStatus, String> {
        self.member_status(addr).await
    }
}

async fn send(
    http: &reqwest::Client,
    addr: SocketAddr,
    path: &str,
    body: &Value,
    what: &str,
) -> Result<Value, Response> {
    let url = format!("http://{addr}{path}");
    let response = http
        .post(&url)
        .json(body)
        .send()
        .await
        .map_err(|e| gateway::transport(&addr, what, &e))?;
    let status = response.status().as_u16();
    // The request reached etcd: losing the answer now leaves its outcome unknown.
    let bytes = response.bytes().await.map_err(|e| Response::Info {
        error: format!(
            "{addr}: {what}: HTTP {status}, then reading the answer failed: {}",
            gateway::chain(&e)
        ),
    })?;
    gateway::classify(status, &bytes, what).map_err(|r| match r {
        Response::Fail { status, error } => Response::Fail {
            status,
            error: format!("{error} at {addr}"),
        },
        Response::Info { error } => Response::Info {
            error: format!("{error} at {addr}"),
        },
        ok => ok,
    })
}

fn describe(r: &Response) -> String {
    match r {
        Response::Ok(v) => format!("unexpected answer {v}"),
        Response::Fail { error, .. } | Response::Info { error } => error.clone(),
    }
}

/// The txn of a compare-and-set: put `to` if the value is `from` (or the key absent); when the
/// compare fails, read the key so the failure can say what it found.
fn cas_body(key: &str, from: Option<&str>, to: &str) -> Value {
    let k = b64(key.as_bytes());
    let compare = match from {
        Some(from) => json!({
            "key": k, "result": "EQUAL", "target": "VALUE", "value": b64(from.as_bytes())
        }),
        None => json!({ "key": k, "result": "EQUAL", "target": "CREATE", "create_revision": "0" }),
    };
    json!({
        "compare": [compare],
        "success": [{ "request_put": { "key": k, "value": b64(to.as_bytes()) } }],
        "failure": [{ "request_range": { "key": k } }],
    })
}

fn cas_outcome(answer: &Value, from: Option<&str>) -> Response {
    if succeeded(answer) {
        return Response::Ok(json!({ "ok": true }));
    }
    let found = match txn_response(answer, 0, "response_range").map(first_kv) {
        Some(None) => "the key is absent".to_string(),
        Some(Some(kv)) => match kv_text(kv) {
            Ok(v) => format!("the current value is {v:?}"),
            Err(e) => e,
        },
        None => "no read of the current value came back".to_string(),
    };
    let expected = match from {
        Some(from) => format!("expected {from:?}"),
        None => "expected the key absent".to_string(),
    };
    // The compare and the put are one txn: a failed compare applied nothing.
    Response::Fail {
        status: None,
        error: format!("cas mismatch: {expected}, {found}"),
    }
}

/// `/v3/maintenance/status` as a `NodeStatus` (ids are etcd's member ids).
fn node_status(answer: &Value) -> Result<NodeStatus, String> {
    let header = answer.get("header").unwrap_or(&Value::Null);
    let id = uint(header, &["member_id", "memberId"])
        .ok_or_else(|| format!("no header.member_id in {answer}"))?;
    let leader = uint(answer, &["leader"]).filter(|&l| l != 0);
    let term = uint(answer, &["raft_term", "raftTerm"])
        .or_else(|| uint(header, &["raft_term", "raftTerm"]))
        .unwrap_or(0);
    Ok(NodeStatus {
        id,
        role: if leader == Some(id) {
            "leader"
        } else {
            "follower"
        }
        .to_string(),
        term,
        leader,
        last_log_index: uint(answer, &["raft_index", "raftIndex"]),
        applied_index: uint(answer, &["raft_applied_index", "raftAppliedIndex"]),
        nodes: None,
        time_ms: None,
        membership: None,
        snapshots_installed: None,
    })
}

fn parse_members(answer: &Value) -> anyhow::Result<Vec<Member>> {
    let urls = |m: &Value, names: [&str; 2]| -> Vec<String> {
        names
            .iter()
            .find_map(|n| m.get(n)?.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    answer
        .get("members")
        .and_then(Value::as_array)
        .context("no members")?
        .iter()
        .map(|m| {
            Ok(Member {
                id: uint(m, &["ID", "id"])
                    .with_context(|| format!("a member without an ID: {m}"))?,
                name: m
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                peer_urls: urls(m, ["peerURLs", "peer_urls"]),
                client_urls: urls(m, ["clientURLs", "client_urls"]),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn cas_compares_the_value_or_absence_and_reads_on_failure() {
        let body = cas_body("k0", Some("5"), "7");
        assert_eq!(
            body["compare"][0],
            json!({"key": "azA=", "result": "EQUAL", "target": "VALUE", "value": "NQ=="})
        );
        assert_eq!(
            body["success"][0]["request_put"],
            json!({"key": "azA=", "value": "Nw=="})
        );
        assert_eq!(body["failure"][0]["request_range"], json!({"key": "azA="}));
        let absent = cas_body("k0", None, "7");
        assert_eq!(absent["compare"][0]["target"], "CREATE");
        assert_eq!(absent["compare"][0]["create_revision"], "0");
    }

    #[test]
    fn a_failed_compare_is_a_certain_failure_saying_what_was_found() {
        assert_eq!(
            cas_outcome(&json!({"succeeded": true, "responses": [{}]}), Some("1")),
            Response::Ok(json!({"ok": true}))
        );
        // `succeeded: false` is omitted by the gateway.
        let found =
            json!({"responses": [{"response_range": {"kvs": [{"key": "azA=", "value": "Mg=="}]}}]});
        match cas_outcome(&found, Some("1")) {
            Response::Fail { error, .. } => {
                assert_eq!(
                    error,
                    "cas mismatch: expected \"1\", the current value is \"2\""
                )
            }
            other => panic!("{other:?}"),
        }
        let absent = json!({"responses": [{"response_range": {"header": {}}}]});
        match cas_outcome(&absent, Some("1")) {
            Response::Fail { error, .. } => {
                assert!(error.ends_with("the key is absent"), "{error}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn status_maps_member_ids_terms_and_leadership() {
        let leader = json!({
            "header": {"cluster_id": "1", "member_id": "10501334649042878790", "revision": "5", "raft_term": "3"},
            "version": "3.4.23", "leader": "10501334649042878790",
            "raftIndex": "12", "raftTerm": "3", "raftAppliedIndex": "12"
        });
        let s = node_status(&leader).unwrap();
        assert_eq!(s.id, 10_501_334_649_042_878_790);
        assert_eq!((s.role.as_str(), s.term), ("leader", 3));
        assert_eq!(s.leader, Some(s.id));
        assert_eq!((s.last_log_index, s.applied_index), (Some(12), Some(12)));

        let follower =
            json!({"header": {"member_id": "7", "raft_term": "4"}, "leader": "9", "raft_term": 4});
        let s = node_status(&follower).unwrap();
        assert_eq!(
            (s.role.as_str(), s.term, s.leader),
            ("follower", 4, Some(9))
        );

        let lost = json!({"header": {"member_id": "7"}, "leader": "0"});
        let s = node_status(&lost).unwrap();
        assert_eq!((s.role.as_str(), s.leader), ("follower", None));
        assert!(node_status(&json!({"leader": "1"})).is_err());
    }

    #[test]
    fn member_lists_read_ids_names_and_urls() {
        let answer = json!({"members": [
            {"ID": "10501334649042878790", "name": "n1", "peerURLs": ["http://10.77.0.11:2380"],
             "clientURLs": ["http://10.77.0.11:2379"]},
            {"ID": "42", "peerURLs": ["http://10.77.0.12:2380"]}
        ]});
        let members = parse_members(&answer).unwrap();
        assert_eq!(members[0].id, 10_501_334_649_042_878_790);
        assert_eq!(members[0].name, "n1");
        assert_eq!(members[0].client_urls, vec!["http://10.77.0.11:2379"]);
        assert_eq!((members[1].id, members[1].name.as_str()), (42, ""));
        assert!(parse_members(&json!({"header": {}})).is_err());
    }

    #[tokio::test]
    async fn refused_connections_fail_and_silent_servers_are_info() {
        let client = EtcdClient::new(Duration::from_millis(300), Reads::Linearizable).unwrap();
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let write = Request::Write {
            key: "k".into(),
            value: "1".into(),
        };
        match client.call(addr, &write).await {
            Response::Fail {
                status: None,
                error,
            } => {
                assert!(
                    error.starts_with(crate::cluster::client::UNREACHABLE),
                    "{error}"
                )
            }
            other => panic!("{other:?}"),
        }

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let silent = client.call(addr, &write).await;
        assert!(matches!(silent, Response::Info { .. }), "{silent:?}");
        assert!(client.status(addr).await.is_err());
        drop(listener);
    }
}
