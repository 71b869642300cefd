//! The Raft type configuration and the commands the key-value state machine applies.

use std::io::Cursor;

use openraft::BasicNode;
use serde::{Deserialize, Serialize};

use super::limits::json_str_len;

openraft::declare_raft_types!(
    /// faultline's Raft: string commands, `u64` node ids, nodes known by their HTTP address.
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = u64,
        Node = BasicNode,
        SnapshotData = Cursor<Vec<u8>>,
);

pub type NodeId = u64;
pub type Raft = openraft::Raft<TypeConfig>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type StoredMembership = openraft::StoredMembership<NodeId, BasicNode>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, BasicNode>;
pub type Snapshot = openraft::Snapshot<TypeConfig>;

/// One command, replicated as one Raft entry and applied atomically.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Request {
    Put {
        key: String,
        value: String,
    },
    /// Compare-and-set: `from: None` means "only if the key is absent".
    Cas {
        key: String,
        from: Option<String>,
        to: String,
    },
    /// Jepsen list-append and rw-register micro-operations, applied in order.
    Txn {
        ops: Vec<MicroOp>,
    },
    /// Independent client requests that arrived together, proposed as one entry so they share
    /// one fsync; each is applied in order and answered on its own.
    Batch {
        reqs: Vec<Request>,
    },
}

/// JSON punctuation and field names of one command object besides its strings, rounded up:
/// `{"op":"cas","key":,"from":,"to":}`, the largest, is 33 bytes.
const OBJECT_BYTES: usize = 40;

impl Request {
    /// An upper bound of this command's size as JSON in a log entry, computed without encoding
    /// it. Exact for strings (escapes included): the size limits between nodes rest on it.
    pub fn encoded_len(&self) -> usize {
        OBJECT_BYTES
            + match self {
                Request::Put { key, value } => json_str_len(key) + json_str_len(value),
                Request::Cas { key, from, to } => {
                    json_str_len(key) + from.as_deref().map_or(4, json_str_len) + json_str_len(to)
                }
                // Each element plus its comma.
                Request::Txn { ops } => ops.iter().map(|op| op.encoded_len() + 1).sum(),
                Request::Batch { reqs } => reqs.iter().map(|r| r.encoded_len() + 1).sum(),
            }
    }

    /// What one more command adds to a [`Request::Batch`]'s [`Request::encoded_len`].
    pub fn batched_len(len: usize) -> usize {
        len + 1
    }

    /// [`Request::encoded_len`] of an empty [`Request::Batch`].
    pub const EMPTY_BATCH_LEN: usize = OBJECT_BYTES;
}

/// A transaction's micro-operation: list-append's `append` and `r` on the lists (their own key
/// space, apart from registers), rw-register's `w` and `get` on the registers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "lowercase")]
pub enum MicroOp {
    Append { key: String, value: String },
    R { key: String },
    W { key: String, value: String },
    Get { key: String },
}

impl MicroOp {
    fn encoded_len(&self) -> usize {
        OBJECT_BYTES
            + match self {
                MicroOp::Append { key, value } | MicroOp::W { key, value } => {
                    json_str_len(key) + json_str_len(value)
                }
                MicroOp::R { key } | MicroOp::Get { key } => json_str_len(key),
            }
    }
}

/// The result of a micro-operation: an append echoes its value, a read returns the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "lowercase")]
pub enum MicroResult {
    Append {
        key: String,
        value: String,
    },
    R {
        key: String,
        value: Option<Vec<String>>,
    },
    /// A register write echoes its value; a register read returns it (null when absent).
    W {
        key: String,
        value: String,
    },
    Get {
        key: String,
        value: Option<String>,
    },
}

/// What applying a [`Request`] produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    /// Nothing to report (blank and membership entries, puts, successful cas).
    Done,
    /// The cas did not apply: the key held `current`, not `from`.
    CasMismatch {
        current: Option<String>,
    },
    Txn {
        ops: Vec<MicroResult>,
    },
    Batch {
        resps: Vec<Response>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worst(n: usize) -> String {
        "\u{1}\"\\ü".repeat(n)
    }

    #[test]
    fn encoded_len_bounds_the_json_tightly() {
        let put = |k: &str, v: &str| Request::Put {
            key: k.into(),
            value: v.into(),
        };
        let reqs = vec![
            put("k", "v"),
            put(&worst(3), &worst(1000)),
            Request::Cas {
                key: worst(2),
                from: None,
                to: worst(5),
            },
            Request::Cas {
                key: "k".into(),
                from: Some(worst(4)),
                to: String::new(),
            },
            Request::Txn {
                ops: vec![
                    MicroOp::Append {
                        key: worst(1),
                        value: worst(7),
                    },
                    MicroOp::R { key: worst(2) },
                    MicroOp::W {
                        key: worst(3),
                        value: worst(4),
                    },
                    MicroOp::Get { key: worst(5) },
                ],
            },
            Request::Batch {
                reqs: vec![put("a", &worst(9)), put("b", "c")],
            },
            Request::Batch { reqs: vec![] },
        ];
        for r in reqs {
            let actual = serde_json::to_vec(&r).unwrap().len();
            let bound = r.encoded_len();
            assert!(bound >= actual, "{bound} < {actual} for {r:?}");
            assert!(
                bound <= actual + 4 * OBJECT_BYTES,
                "{bound} is loose for {actual}: {r:?}"
            );
        }
        assert_eq!(
            Request::Batch { reqs: vec![] }.encoded_len(),
            Request::EMPTY_BATCH_LEN
        );
    }
}
