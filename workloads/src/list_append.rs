//! Jepsen's list-append: transactions of appends and reads over a few keys. Appended values are
//! unique per key, so a read's list tells which appends it saw and in which order.

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::op::{value_from_wire, Completion, MicroOp, Op, Response};
use crate::txn::{self, txn};
use crate::workload::ProcessGen;
use crate::Error;

/// Settings of the list-append workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListAppendConfig {
    /// Keys the transactions touch.
    pub keys: u32,
    /// Micro-operations per transaction, at most (each has at least one).
    pub max_txn_len: u32,
    /// Relative weights of reads and appends inside a transaction.
    pub read: u32,
    pub append: u32,
}

impl Default for ListAppendConfig {
    fn default() -> Self {
        ListAppendConfig {
            keys: 3,
            max_txn_len: 4,
            read: 1,
            append: 1,
        }
    }
}

impl ListAppendConfig {
    pub fn validate(&self) -> Result<(), Error> {
        if self.keys == 0 {
            return Err(Error::TooSmall {
                field: "keys",
                min: 1,
                got: 0,
            });
        }
        if self.max_txn_len == 0 {
            return Err(Error::TooSmall {
                field: "max_txn_len",
                min: 1,
                got: 0,
            });
        }
        if self.read + self.append == 0 {
            return Err(Error::NoWeight("read/append"));
        }
        Ok(())
    }
}

/// One transaction reading every key (the final read).
pub fn read_all(keys: &[String]) -> Op {
    let ops: Vec<MicroOp> = keys
        .iter()
        .map(|k| MicroOp::Read { key: k.clone() })
        .collect();
    txn(ops)
}

pub struct ListAppendGen {
    config: ListAppendConfig,
    process: u64,
    rng: ChaCha8Rng,
    appended: u64,
}

impl ListAppendGen {
    pub fn new(config: ListAppendConfig, process: u64, rng: ChaCha8Rng) -> ListAppendGen {
        ListAppendGen {
            config,
            process,
            rng,
            appended: 0,
        }
    }
}

impl ProcessGen for ListAppendGen {
    fn next_op(&mut self) -> Op {
        let shape = txn::Shape {
            max_len: self.config.max_txn_len,
            keys: self.config.keys,
            read: self.config.read,
            write: self.config.append,
        };
        txn::random(
            &mut self.rng,
            shape,
            self.process,
            &mut self.appended,
            |key| MicroOp::Read { key },
            |key, value| MicroOp::Append { key, value },
        )
    }

    fn complete(&mut self, op: &Op, response: Response) -> Completion {
        txn::complete(op, response, txn_result)
    }
}

/// The completed transaction: the invoke's micro-ops with each read's list filled in. The reply
/// must have the same micro-ops in the same order, or we cannot say what happened.
fn txn_result(op: &Op, body: &Value) -> Option<Value> {
    let invoked = op.value.as_array()?;
    let replied = body.get("ops")?.as_array()?;
    if invoked.len() != replied.len() {
        return None;
    }
    let mut out = Vec::with_capacity(invoked.len());
    for (mine, theirs) in invoked.iter().zip(replied) {
        let theirs = theirs.as_array()?;
        if mine[0] != theirs[0] || mine[1] != theirs[1] {
            return None;
        }
        if mine[0] == "r" {
            let read = match &theirs[2] {
                Value::Null => Value::Null,
                Value::Array(items) => Value::Array(items.iter().map(value_from_wire).collect()),
                _ => return None,
            };
            out.push(json!(["r", mine[1], read]));
        } else {
            out.push(mine.clone());
        }
    }
    Some(Value::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Request;
    use checkers::history::EventType;
    use rand::SeedableRng;

    fn gen() -> ListAppendGen {
        ListAppendGen::new(ListAppendConfig::default(), 2, ChaCha8Rng::seed_from_u64(3))
    }

    #[test]
    fn transactions_stay_within_bounds() {
        let mut g = gen();
        for _ in 0..200 {
            let op = g.next_op();
            let Request::Txn { ops } = &op.request else {
                panic!("list-append sends transactions")
            };
            assert!((1..=4).contains(&ops.len()));
            assert_eq!(op.value.as_array().unwrap().len(), ops.len());
        }
    }

    #[test]
    fn reply_fills_in_reads() {
        let mut g = gen();
        let op = txn(vec![
            MicroOp::Append {
                key: "k1".into(),
                value: "5".into(),
            },
            MicroOp::Read { key: "k1".into() },
        ]);
        assert_eq!(op.value, json!([["append", "k1", 5], ["r", "k1", null]]));
        let done = g.complete(
            &op,
            Response::Ok(json!({"ops": [["append", "k1", "5"], ["r", "k1", ["1", "5"]]]})),
        );
        assert_eq!(
            done,
            Completion::ok(json!([["append", "k1", 5], ["r", "k1", [1, 5]]]))
        );
        let mismatched = g.complete(&op, Response::Ok(json!({"ops": [["r", "k1", null]]})));
        assert_eq!(mismatched.kind, EventType::Info);
    }
}
