//! History events as faultline records them (`history.jsonl`, one JSON object per line).
//!
//! This is the contract between the runner (which writes it), the checkers (which read it)
//! and the reports. Field names follow Jepsen's op maps so that conversion to EDN is direct.
//!
//! ```json
//! {"index":0,"time":1200,"process":3,"type":"invoke","f":"write","key":"k1","value":5}
//! {"index":1,"time":9100,"process":3,"type":"ok","f":"write","key":"k1","value":5}
//! {"index":2,"time":9900,"process":"nemesis","type":"info","f":"kill","value":{"targets":["n1"]}}
//! ```

use serde::{Deserialize, Serialize};

/// Who issued an event: a client process (a logical thread of the workload) or the nemesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Process {
    Client(u64),
    Nemesis(NemesisTag),
}

/// The literal string `"nemesis"` in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NemesisTag {
    Nemesis,
}

/// Jepsen's event types. `Fail` means the operation certainly did not take effect;
/// `Info` means its outcome is unknown (it may take effect at any later time, or never).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Invoke,
    Ok,
    Fail,
    Info,
}

/// One line of `history.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the history, 0-based and dense.
    pub index: u64,
    /// Nanoseconds since the start of the run (monotonic clock).
    pub time: u64,
    pub process: Process,
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The operation: `read`, `write`, `cas`, `txn`, `add`, `append`, ... or a nemesis fault name.
    pub f: String,
    /// The key for keyed workloads (independent keys are checked independently).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The argument on `invoke`, the result on `ok` (a read's value, a cas's `[from, to]`, ...).
    #[serde(default)]
    pub value: serde_json::Value,
    /// Why an operation failed or is indeterminate, for people; never used by checkers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
