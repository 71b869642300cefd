//! The Raft type configuration and the commands the key-value state machine applies.

use std::io::Cursor;

use openraft::BasicNode;
use serde::{Deserialize, Serialize};

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
    /// Jepsen list-append micro-operations, applied in order.
    Txn {
        ops: Vec<MicroOp>,
    },
    /// Independent client requests that arrived together, proposed as one entry so they share
    /// one fsync; each is applied in order and answered on its own.
    Batch {
        reqs: Vec<Request>,
    },
}

impl Request {
    /// Roughly the bytes it takes in an AppendEntries body, without encoding it.
    pub fn approx_size(&self) -> usize {
        // Field names, quotes and punctuation of one JSON object.
        const OVERHEAD: usize = 32;
        OVERHEAD
            + match self {
                Request::Put { key, value } => key.len() + value.len(),
                Request::Cas { key, from, to } => {
                    key.len() + from.as_ref().map_or(4, String::len) + to.len()
                }
                Request::Txn { ops } => ops
                    .iter()
                    .map(|op| {
                        OVERHEAD
                            + match op {
                                MicroOp::Append { key, value } => key.len() + value.len(),
                                MicroOp::R { key } => key.len(),
                            }
                    })
                    .sum(),
                Request::Batch { reqs } => reqs.iter().map(Request::approx_size).sum(),
            }
    }
}

/// A list-append micro-operation. Lists live in their own key space, apart from registers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "lowercase")]
pub enum MicroOp {
    Append { key: String, value: String },
    R { key: String },
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
