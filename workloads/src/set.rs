//! Adds of unique elements, then one final read per key. Adds are single-append transactions,
//! so the node's `/txn` keeps each key's elements as a list.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::op::{
    unique_value, value_from_wire, Completion, MicroOp, Op, Request, Response, PER_PROCESS,
};
use crate::workload::{key_name, ProcessGen};
use crate::Error;

/// Settings of the set workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SetConfig {
    /// Independent sets.
    pub keys: u32,
}

impl Default for SetConfig {
    fn default() -> Self {
        SetConfig { keys: 2 }
    }
}

impl SetConfig {
    pub fn validate(&self) -> Result<(), Error> {
        if self.keys == 0 {
            return Err(Error::TooSmall {
                field: "keys",
                min: 1,
                got: 0,
            });
        }
        Ok(())
    }
}

/// The final read of one set.
pub fn read(key: String) -> Op {
    Op {
        f: "read".into(),
        key: Some(key.clone()),
        value: Value::Null,
        request: Request::Txn {
            ops: vec![MicroOp::Read { key }],
        },
    }
}

pub struct SetGen {
    config: SetConfig,
    process: u64,
    rng: ChaCha8Rng,
    added: u64,
}

impl SetGen {
    pub fn new(config: SetConfig, process: u64, rng: ChaCha8Rng) -> SetGen {
        SetGen {
            config,
            process,
            rng,
            added: 0,
        }
    }
}

impl ProcessGen for SetGen {
    fn next_op(&mut self) -> Op {
        let key = key_name(self.rng.gen_range(0..self.config.keys));
        if self.added >= PER_PROCESS {
            return read(key);
        }
        self.added += 1;
        let element = unique_value(self.process, self.added);
        Op {
            f: "add".into(),
            key: Some(key.clone()),
            value: json!(element),
            request: Request::Txn {
                ops: vec![MicroOp::Append {
                    key,
                    value: element.to_string(),
                }],
            },
        }
    }

    fn complete(&mut self, op: &Op, response: Response) -> Completion {
        match (op.f.as_str(), response) {
            ("read", Response::Ok(body)) => match read_result(&body) {
                Some(elements) => Completion::ok(elements),
                None => Completion::info(op, format!("txn reply without a read result: {body}")),
            },
            (_, other) => Completion::from_response(op, other),
        }
    }
}

/// The list of a one-read transaction's reply, `{"ops":[["r","k",[..]|null]]}`; absent is empty.
fn read_result(body: &Value) -> Option<Value> {
    let micro = body.get("ops")?.as_array()?.first()?.as_array()?;
    match micro.get(2)? {
        Value::Null => Some(json!([])),
        Value::Array(items) => Some(Value::Array(items.iter().map(value_from_wire).collect())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use checkers::history::EventType;
    use rand::SeedableRng;

    #[test]
    fn adds_are_unique_appends() {
        let mut g = SetGen::new(SetConfig::default(), 4, ChaCha8Rng::seed_from_u64(0));
        let a = g.next_op();
        let b = g.next_op();
        assert_eq!(a.f, "add");
        assert_ne!(a.value, b.value);
        assert!(matches!(&a.request, Request::Txn { ops } if ops.len() == 1));
    }

    #[test]
    fn final_read_parses_the_list() {
        let mut g = SetGen::new(SetConfig::default(), 4, ChaCha8Rng::seed_from_u64(0));
        let r = read("k0".into());
        let done = g.complete(&r, Response::Ok(json!({"ops": [["r", "k0", ["1", "2"]]]})));
        assert_eq!(done, Completion::ok(json!([1, 2])));
        let empty = g.complete(&r, Response::Ok(json!({"ops": [["r", "k0", null]]})));
        assert_eq!(empty, Completion::ok(json!([])));
        let bad = g.complete(&r, Response::Ok(json!({"ops": []})));
        assert_eq!(bad.kind, EventType::Info);
    }
}
