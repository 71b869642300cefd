//! The key-value data and the pure rules for applying a command to it. No I/O here: the Raft
//! state machine wraps this, and unit tests exercise it directly.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::types::{MicroOp, MicroResult, Request, Response};

/// Registers (`/kv/{key}`, and `w`/`get` in a `/txn`) and lists (`append`/`r` in a `/txn`) are
/// separate key spaces, so a register workload and a list-append workload never see each
/// other's values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvData {
    pub registers: BTreeMap<String, String>,
    pub lists: BTreeMap<String, Vec<String>>,
}

impl KvData {
    pub fn apply(&mut self, req: &Request) -> Response {
        match req {
            Request::Put { key, value } => {
                self.registers.insert(key.clone(), value.clone());
                Response::Done
            }
            Request::Cas { key, from, to } => self.cas(key, from.as_deref(), to),
            Request::Txn { ops } => Response::Txn {
                ops: ops.iter().map(|op| self.micro(op)).collect(),
            },
            Request::Batch { reqs } => Response::Batch {
                resps: reqs.iter().map(|r| self.apply(r)).collect(),
            },
        }
    }

    pub fn read(&self, key: &str) -> Option<String> {
        self.registers.get(key).cloned()
    }

    /// The comparison and the store happen in one step of the single-threaded apply loop, which
    /// is what makes cas atomic.
    fn cas(&mut self, key: &str, from: Option<&str>, to: &str) -> Response {
        let current = self.registers.get(key).map(String::as_str);
        if current != from {
            return Response::CasMismatch {
                current: current.map(str::to_owned),
            };
        }
        self.registers.insert(key.to_owned(), to.to_owned());
        Response::Done
    }

    fn micro(&mut self, op: &MicroOp) -> MicroResult {
        match op {
            MicroOp::Append { key, value } => {
                self.lists
                    .entry(key.clone())
                    .or_default()
                    .push(value.clone());
                MicroResult::Append {
                    key: key.clone(),
                    value: value.clone(),
                }
            }
            MicroOp::R { key } => MicroResult::R {
                key: key.clone(),
                value: self.lists.get(key).cloned(),
            },
            MicroOp::W { key, value } => {
                self.registers.insert(key.clone(), value.clone());
                MicroResult::W {
                    key: key.clone(),
                    value: value.clone(),
                }
            }
            MicroOp::Get { key } => MicroResult::Get {
                key: key.clone(),
                value: self.registers.get(key).cloned(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cas(key: &str, from: Option<&str>, to: &str) -> Request {
        Request::Cas {
            key: key.into(),
            from: from.map(Into::into),
            to: to.into(),
        }
    }

    #[test]
    fn cas_applies_only_when_from_matches() {
        let mut kv = KvData::default();
        assert_eq!(kv.apply(&cas("k", None, "a")), Response::Done);
        assert_eq!(
            kv.apply(&cas("k", None, "b")),
            Response::CasMismatch {
                current: Some("a".into())
            }
        );
        assert_eq!(kv.apply(&cas("k", Some("a"), "c")), Response::Done);
        assert_eq!(kv.read("k").as_deref(), Some("c"));
    }

    #[test]
    fn txn_reads_see_earlier_appends_in_the_same_txn() {
        let mut kv = KvData::default();
        let req = Request::Txn {
            ops: vec![
                MicroOp::R { key: "x".into() },
                MicroOp::Append {
                    key: "x".into(),
                    value: "1".into(),
                },
                MicroOp::R { key: "x".into() },
            ],
        };
        let Response::Txn { ops } = kv.apply(&req) else {
            panic!("txn must answer with micro results");
        };
        assert_eq!(
            ops[0],
            MicroResult::R {
                key: "x".into(),
                value: None
            }
        );
        assert_eq!(
            ops[2],
            MicroResult::R {
                key: "x".into(),
                value: Some(vec!["1".into()])
            }
        );
        assert_eq!(kv.read("x"), None, "lists and registers are separate");
    }
}
