//! The runner's side of a workload: what to send, what came back, what to record.

use checkers::history::EventType;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One micro-operation of a transaction: list-append's `["append","k1","5"]` and
/// `["r","k1",null]` (lists), rw-register's `["w","k1","5"]` and `["get","k1",null]` (registers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MicroOp {
    Append { key: String, value: String },
    Read { key: String },
    Write { key: String, value: String },
    ReadRegister { key: String },
}

impl MicroOp {
    /// The node's wire form, as in the `/txn` contract.
    pub fn to_wire(&self) -> Value {
        match self {
            MicroOp::Append { key, value } => serde_json::json!(["append", key, value]),
            MicroOp::Read { key } => serde_json::json!(["r", key, null]),
            MicroOp::Write { key, value } => serde_json::json!(["w", key, value]),
            MicroOp::ReadRegister { key } => serde_json::json!(["get", key, null]),
        }
    }

    /// The history's form, Jepsen's: `["append",k,5]`, `["r",k,null]` (a list or register read,
    /// its value filled in on completion), `["w",k,5]`.
    pub fn to_history(&self) -> Value {
        match self {
            MicroOp::Append { key, value } => {
                serde_json::json!(["append", key, value_from_wire(&Value::from(value.as_str()))])
            }
            MicroOp::Read { key } | MicroOp::ReadRegister { key } => {
                serde_json::json!(["r", key, null])
            }
            MicroOp::Write { key, value } => {
                serde_json::json!(["w", key, value_from_wire(&Value::from(value.as_str()))])
            }
        }
    }
}

/// What to ask the node. The client maps each to its HTTP endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `GET /kv/{key}`.
    Read { key: String },
    /// `PUT /kv/{key}` with the raw value.
    Write { key: String, value: String },
    /// `POST /kv/{key}/cas`.
    Cas {
        key: String,
        from: Option<String>,
        to: String,
    },
    /// `POST /txn`.
    Txn { ops: Vec<MicroOp> },
}

/// What the client saw, already sorted by certainty.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// 2xx, with the JSON body.
    Ok(Value),
    /// The operation certainly did not take effect (4xx, 409, `definite: true`, refused connection).
    Fail { status: Option<u16>, error: String },
    /// The outcome is unknown (timeout, connection lost after sending, 5xx without `definite`).
    Info { error: String },
}

/// An operation to invoke: what to record in the history and what to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    pub f: String,
    pub key: Option<String>,
    /// The invoke event's value.
    pub value: Value,
    pub request: Request,
}

/// How an operation ended, ready to record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    pub kind: EventType,
    pub value: Value,
    pub error: Option<String>,
}

impl Completion {
    pub fn ok(value: Value) -> Completion {
        Completion {
            kind: EventType::Ok,
            value,
            error: None,
        }
    }

    /// The generic outcome of a response whose body the workload does not need.
    pub fn from_response(op: &Op, response: Response) -> Completion {
        match response {
            Response::Ok(_) => Completion::ok(op.value.clone()),
            Response::Fail { error, .. } => Completion {
                kind: EventType::Fail,
                value: op.value.clone(),
                error: Some(error),
            },
            Response::Info { error } => Completion::info(op, error),
        }
    }

    /// Unknown outcome: the invoke's value, so checkers see what may have happened.
    pub fn info(op: &Op, error: String) -> Completion {
        Completion {
            kind: EventType::Info,
            value: op.value.clone(),
            error: Some(error),
        }
    }
}

/// Values travel as text on the wire and as integers in histories, where checkers compare them.
pub fn value_from_wire(v: &Value) -> Value {
    match v {
        Value::String(s) => s
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| v.clone()),
        other => other.clone(),
    }
}

/// The unique value `n` of process `process`: unique per key because process ids are never reused.
/// Each process uses at most [`PER_PROCESS`] values.
pub fn unique_value(process: u64, n: u64) -> u64 {
    process * PER_PROCESS + n
}

/// Values available to one process; a process that used them all only reads.
pub const PER_PROCESS: u64 = 1_000_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_values_become_integers_when_they_are() {
        assert_eq!(value_from_wire(&Value::from("42")), Value::from(42));
        assert_eq!(value_from_wire(&Value::from("x")), Value::from("x"));
        assert_eq!(value_from_wire(&Value::Null), Value::Null);
    }

    #[test]
    fn micro_ops_use_the_node_wire_form() {
        let a = MicroOp::Append {
            key: "k1".into(),
            value: "5".into(),
        };
        assert_eq!(a.to_wire(), serde_json::json!(["append", "k1", "5"]));
        let r = MicroOp::Read { key: "k1".into() };
        assert_eq!(r.to_wire(), serde_json::json!(["r", "k1", null]));
    }
}
