//! The client of a `kind: http` system: each workload request becomes the campaign's request,
//! and its answer an outcome by the campaign's status mapping. Certainty follows the rule every
//! system's client keeps: `ok` for the codes named ok, `fail` only for those named fail (and a
//! connection refused before anything was sent), `info` for anything else.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use workloads::{MicroOp, Request, Response};

use super::template::{self, url_encode};
use super::{HttpSpec, LeaderNames, OpSpec};
use crate::cluster::client::{chain, http_clients, Client, NodeStatus, UNREACHABLE};

#[derive(Clone)]
pub struct HttpSystemClient {
    http: reqwest::Client,
    probe: reqwest::Client,
    spec: Arc<HttpSpec>,
}

impl HttpSystemClient {
    pub fn new(spec: &HttpSpec, timeout: Duration) -> anyhow::Result<HttpSystemClient> {
        let (http, probe) = http_clients(timeout)?;
        Ok(HttpSystemClient {
            http,
            probe,
            spec: Arc::new(spec.clone()),
        })
    }

    async fn send(
        &self,
        client: &reqwest::Client,
        addr: SocketAddr,
        op: &OpSpec,
        values: &BTreeMap<&str, String>,
        absent_from: bool,
    ) -> Result<(u16, Vec<u8>), Response> {
        let path = template::render(&op.path, values, url_encode);
        let url = format!("http://{addr}{path}");
        let method = reqwest::Method::from_bytes(op.method.to_uppercase().as_bytes())
            .unwrap_or(reqwest::Method::GET);
        let mut request = client.request(method, &url);
        if let Some(body) = &op.body {
            request = request.body(template::render(body, values, str::to_string));
        } else if let Some(form) = &op.form {
            let form: BTreeMap<&str, String> = form
                .iter()
                .map(|(k, v)| (k.as_str(), template::render(v, values, str::to_string)))
                .collect();
            request = request.form(&form);
        } else if let Some(json) = &op.json {
            request = request.json(&fill_json(json, values, absent_from));
        }
        let response = request.send().await.map_err(|e| transport(addr, &e))?;
        let status = response.status().as_u16();
        match response.bytes().await {
            Ok(body) => Ok((status, body.to_vec())),
            // The node answered: whatever it did may have happened.
            Err(e) => Err(Response::Info {
                error: format!("{addr}: reading the answer: {}", chain(&e)),
            }),
        }
    }

    async fn run(&self, addr: SocketAddr, request: &Request) -> Response {
        let ops = &self.spec.operations;
        let mut values = BTreeMap::new();
        let chosen = match request {
            Request::Read { key } => {
                values.insert("key", key.clone());
                described("read", ops.read.as_ref()).map(|op| (op, false, Reads::Value))
            }
            Request::Write { key, value } => {
                values.insert("key", key.clone());
                values.insert("value", value.clone());
                described("write", ops.write.as_ref()).map(|op| (op, false, Reads::Nothing))
            }
            Request::Cas { key, from, to } => {
                values.insert("key", key.clone());
                values.insert("to", to.clone());
                values.insert("from", from.clone().unwrap_or_default());
                match (from, &ops.cas_absent, &ops.cas) {
                    (None, Some(op), _) => Ok((op, true, Reads::Nothing)),
                    (_, _, cas) => described("cas", cas.as_ref())
                        .map(|op| (op, from.is_none(), Reads::Nothing)),
                }
            }
            // The set workload's one-micro-op transactions; anything larger is list-append,
            // which validation refuses for this kind.
            Request::Txn { ops: micro } => match micro.as_slice() {
                [MicroOp::Append { key, value }] => {
                    values.insert("key", key.clone());
                    values.insert("value", value.clone());
                    described("add", ops.add.as_ref()).map(|op| (op, false, Reads::Nothing))
                }
                [MicroOp::Read { key }] => {
                    values.insert("key", key.clone());
                    described("read_set", ops.read_set.as_ref())
                        .map(|op| (op, false, Reads::Set(key.clone())))
                }
                _ => Err(Response::Fail {
                    status: None,
                    error: "kind: http sends one request per operation; a multi-key transaction \
                            cannot be described"
                        .into(),
                }),
            },
        };
        let (op, absent_from, reads) = match chosen {
            Ok(chosen) => chosen,
            Err(refused) => return refused,
        };
        let (status, body) = match self.send(&self.http, addr, op, &values, absent_from).await {
            Ok(answer) => answer,
            Err(outcome) => return outcome,
        };
        classify(op, &reads, status, &body)
    }
}

/// The operation's request, or a refusal when the campaign does not describe it (validation
/// refuses such campaigns; this is for a Rust user's own spec).
fn described<'a>(op: &str, spec: Option<&'a OpSpec>) -> Result<&'a OpSpec, Response> {
    spec.ok_or_else(|| Response::Fail {
        status: None,
        error: format!("this system's campaign describes no {op} operation"),
    })
}

/// What an answer carries back to the workload.
enum Reads {
    Nothing,
    /// A register's value, as `{"value": ..}`.
    Value,
    /// A whole set, as the one-read transaction's reply `{"ops": [["r", key, [..]]]}`.
    Set(String),
}

/// The outcome of an answer, by the operation's status mapping.
fn classify(op: &OpSpec, reads: &Reads, status: u16, body: &[u8]) -> Response {
    let text = || {
        String::from_utf8_lossy(body)
            .chars()
            .take(200)
            .collect::<String>()
    };
    if op.absent.contains(&status) {
        return Response::Ok(read_reply(reads, Value::Null));
    }
    if op.ok.contains(&status) {
        if matches!(reads, Reads::Nothing) {
            return Response::Ok(json!({}));
        }
        let value = match &op.value {
            None => Some(Value::String(String::from_utf8_lossy(body).into_owned())),
            Some(path) => serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| at(&v, path).cloned()),
        };
        return match value {
            Some(v) if set_shaped(reads, &v) => Response::Ok(read_reply(reads, v)),
            // A 2xx we cannot read may still have been a real read: unknown, never ok.
            _ => Response::Info {
                error: format!(
                    "HTTP {status} without a {} at {:?}: {}",
                    match reads {
                        Reads::Set(_) => "list of elements",
                        _ => "value",
                    },
                    op.value,
                    text()
                ),
            },
        };
    }
    if op.fail.contains(&status) {
        return Response::Fail {
            status: Some(status),
            error: format!("HTTP {status}: {}", text()),
        };
    }
    Response::Info {
        error: format!("HTTP {status} (not mapped by the campaign): {}", text()),
    }
}

/// A set is an array, or `null` for an absent one; a register's value is anything.
fn set_shaped(reads: &Reads, v: &Value) -> bool {
    !matches!(reads, Reads::Set(_)) || matches!(v, Value::Array(_) | Value::Null)
}

/// A read's answer in the shape its workload reads.
fn read_reply(reads: &Reads, v: Value) -> Value {
    match reads {
        Reads::Set(key) => json!({ "ops": [["r", key, v]] }),
        _ => json!({ "value": v }),
    }
}

/// The value at a dotted path (`node.value`, `kvs.0.value`) of a JSON answer.
fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, step| match v {
        Value::Array(a) => a.get(step.parse::<usize>().ok()?),
        _ => v.get(step),
    })
}

/// A JSON body template filled in: string leaves are templates; a leaf that is exactly
/// `"{from}"` is null when the cas is from absent.
fn fill_json(v: &Value, values: &BTreeMap<&str, String>, absent_from: bool) -> Value {
    match v {
        Value::String(s) if absent_from && s == "{from}" => Value::Null,
        Value::String(s) => Value::String(template::render(s, values, str::to_string)),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| fill_json(x, values, absent_from))
                .collect(),
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), fill_json(x, values, absent_from)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A transport error: failing to connect means nothing was sent; anything later is unknown.
fn transport(addr: SocketAddr, e: &reqwest::Error) -> Response {
    if e.is_connect() {
        Response::Fail {
            status: None,
            error: format!("{UNREACHABLE}: {addr}: {}", chain(e)),
        }
    } else {
        Response::Info {
            error: format!("{addr}: {}", chain(e)),
        }
    }
}

/// The node id of the address a node was dialled at (its cluster address or published port).
fn node_id(addr: SocketAddr) -> u64 {
    crate::cluster::reach::node_id_at(addr).unwrap_or(0)
}

impl Client for HttpSystemClient {
    async fn call(&self, addr: SocketAddr, request: &Request) -> Response {
        self.run(addr, request).await
    }

    /// The node's own id (from its address), the leader it names (by id or name), and its
    /// term when the campaign says where it is.
    async fn status(&self, addr: SocketAddr) -> Result<NodeStatus, String> {
        let leader = &self.spec.leader;
        let probe = OpSpec {
            method: leader.method.clone(),
            path: leader.path.clone(),
            json: None,
            form: None,
            body: None,
            ok: (200..300).collect(),
            fail: Vec::new(),
            absent: Vec::new(),
            value: None,
        };
        let (status, body) = self
            .send(&self.probe, addr, &probe, &BTreeMap::new(), false)
            .await
            .map_err(|r| match r {
                Response::Fail { error, .. } | Response::Info { error } => error,
                Response::Ok(_) => format!("{addr}{}: no answer", leader.path),
            })?;
        if !(200..300).contains(&status) {
            return Err(format!("{addr}{}: HTTP {status}", leader.path));
        }
        let answer: Value = serde_json::from_slice(&body)
            .map_err(|e| format!("{addr}{}: not JSON: {e}", leader.path))?;
        let named = leader
            .field
            .as_ref()
            .and_then(|f| at(&answer, f))
            .filter(|v| !v.is_null());
        let leader_id = named.and_then(|v| match (leader.names, v) {
            (LeaderNames::Id, Value::Number(n)) => n.as_u64(),
            (LeaderNames::Id, Value::String(s)) => s.parse().ok(),
            (LeaderNames::Name, Value::String(s)) => crate::cluster::names::node_id(s),
            _ => None,
        });
        let id = node_id(addr);
        let term = leader
            .term
            .as_ref()
            .and_then(|t| at(&answer, t))
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
            .unwrap_or(0);
        // A node that names its own role is believed about itself; otherwise it leads when the
        // leader it names is itself.
        let says_it_leads = match (&leader.role, &leader.leads) {
            (Some(role), Some(leads)) => at(&answer, role).is_some_and(|v| match v {
                Value::String(s) => s == leads,
                // A number or a boolean: compared as the text it is written as.
                other => serde_json::from_str::<Value>(leads).is_ok_and(|l| l == *other),
            }),
            _ => leader_id == Some(id),
        };
        Ok(NodeStatus {
            id,
            role: if says_it_leads { "leader" } else { "follower" }.into(),
            term,
            leader: leader_id.or(says_it_leads.then_some(id)),
            ..NodeStatus::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(ok: &[u16], fail: &[u16], absent: &[u16], value: Option<&str>) -> OpSpec {
        OpSpec {
            method: "GET".into(),
            path: "/k/{key}".into(),
            json: None,
            form: None,
            body: None,
            ok: ok.to_vec(),
            fail: fail.to_vec(),
            absent: absent.to_vec(),
            value: value.map(String::from),
        }
    }

    #[test]
    fn answers_map_to_certainty_by_the_campaign() {
        let read = op(&[200], &[], &[404], Some("node.value"));
        assert_eq!(
            classify(&read, &Reads::Value, 200, br#"{"node":{"value":"7"}}"#),
            Response::Ok(json!({"value": "7"}))
        );
        assert_eq!(
            classify(&read, &Reads::Value, 404, b"{}"),
            Response::Ok(json!({"value": null}))
        );
        assert!(matches!(
            classify(&read, &Reads::Value, 200, b"{}"),
            Response::Info { .. }
        ));
        assert!(matches!(
            classify(&read, &Reads::Value, 503, b""),
            Response::Info { .. }
        ));
        let cas = op(&[200], &[412], &[], None);
        assert!(matches!(
            classify(&cas, &Reads::Nothing, 412, b""),
            Response::Fail {
                status: Some(412),
                ..
            }
        ));
        assert_eq!(
            classify(&cas, &Reads::Nothing, 200, b""),
            Response::Ok(json!({}))
        );
    }

    /// A set read answers in the shape the set workload reads (`{"ops":[["r",k,[..]]]}`); an
    /// absent set is empty (null); an answer that is not a list is unknown, never a read.
    #[test]
    fn set_reads_answer_as_one_read_transactions() {
        let set = Reads::Set("k".into());
        let read = op(&[200], &[], &[404], Some("ops.0.2"));
        assert_eq!(
            classify(&read, &set, 200, br#"{"ops":[["r","k",["1","2"]]]}"#),
            Response::Ok(json!({"ops": [["r", "k", ["1", "2"]]]}))
        );
        assert_eq!(
            classify(&read, &set, 200, br#"{"ops":[["r","k",null]]}"#),
            Response::Ok(json!({"ops": [["r", "k", null]]}))
        );
        assert_eq!(
            classify(&read, &set, 404, b""),
            Response::Ok(json!({"ops": [["r", "k", null]]}))
        );
        assert!(matches!(
            classify(&read, &set, 200, br#"{"ops":[["r","k","12"]]}"#),
            Response::Info { .. }
        ));
    }

    #[test]
    fn json_bodies_fill_in_and_null_an_absent_from() {
        let t = json!({"from": "{from}", "to": "{to}", "n": 1});
        let values = BTreeMap::from([("from", String::new()), ("to", "b".to_string())]);
        assert_eq!(
            fill_json(&t, &values, true),
            json!({"from": null, "to": "b", "n": 1})
        );
        let values = BTreeMap::from([("from", "a".to_string()), ("to", "b".to_string())]);
        assert_eq!(
            fill_json(&t, &values, false),
            json!({"from": "a", "to": "b", "n": 1})
        );
        assert_eq!(at(&json!({"a": [{"b": 3}]}), "a.0.b"), Some(&json!(3)));
    }
}
