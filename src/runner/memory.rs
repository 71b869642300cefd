//! An in-process store that answers requests as a node would, with no network: drives the
//! runner's own hot path (workers, workloads, recorder) for `faultline bench runner`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde_json::json;
use workloads::{MicroOp, Request, Response};

use crate::cluster::client::{Client, NodeStatus};

#[derive(Clone, Default)]
pub struct MemoryClient {
    store: Arc<Mutex<Store>>,
}

/// A key-value store and its lists, answering requests atomically as a correct node would.
#[derive(Default)]
pub struct Store {
    pub kv: HashMap<String, String>,
    pub lists: HashMap<String, Vec<String>>,
}

impl Store {
    /// Applies one request. With `lose_appends`, appends are acknowledged but not kept: a store
    /// that loses acknowledged writes, for tests that the checkers catch it.
    pub fn apply(&mut self, request: &Request, lose_appends: bool) -> Response {
        match request {
            Request::Read { key } => Response::Ok(json!({ "value": self.kv.get(key) })),
            Request::Write { key, value } => {
                self.kv.insert(key.clone(), value.clone());
                Response::Ok(json!({"ok": true}))
            }
            Request::Cas { key, from, to } => {
                if self.kv.get(key) == from.as_ref() {
                    self.kv.insert(key.clone(), to.clone());
                    Response::Ok(json!({"ok": true}))
                } else {
                    Response::Fail {
                        status: Some(409),
                        error: "cas mismatch".into(),
                    }
                }
            }
            Request::Txn { ops } => {
                let out: Vec<_> = ops
                    .iter()
                    .map(|m| match m {
                        MicroOp::Append { key, value } => {
                            if !lose_appends {
                                self.lists
                                    .entry(key.clone())
                                    .or_default()
                                    .push(value.clone());
                            }
                            json!(["append", key, value])
                        }
                        MicroOp::Read { key } => json!(["r", key, self.lists.get(key)]),
                        MicroOp::Write { key, value } => {
                            self.kv.insert(key.clone(), value.clone());
                            json!(["w", key, value])
                        }
                        MicroOp::ReadRegister { key } => json!(["get", key, self.kv.get(key)]),
                    })
                    .collect();
                Response::Ok(json!({ "ops": out }))
            }
        }
    }
}

impl Client for MemoryClient {
    async fn call(&self, _addr: SocketAddr, request: &Request) -> Response {
        // Give other clients their turn, as a network round trip would.
        tokio::task::yield_now().await;
        let mut s = self.store.lock().unwrap_or_else(|p| p.into_inner());
        s.apply(request, false)
    }

    async fn status(&self, _addr: SocketAddr) -> Result<NodeStatus, String> {
        Ok(NodeStatus {
            id: 1,
            role: "leader".into(),
            term: 1,
            leader: Some(1),
            ..NodeStatus::default()
        })
    }
}
