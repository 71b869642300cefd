//! Jepsen's rw-register: transactions of register writes and reads over a few keys, on the
//! node's `/txn` (`w` and `get` micro-ops). Written values are unique per key, so a read tells
//! which write it saw; the transactional checker infers what it can from that (Elle's
//! rw-register).

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::op::{value_from_wire, Completion, MicroOp, Op, Request, Response};
use crate::txn::{self, txn};
use crate::workload::ProcessGen;
use crate::Error;

/// Settings of the rw-register workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RwRegisterConfig {
    /// Keys the transactions touch.
    pub keys: u32,
    /// Micro-operations per transaction, at most (each has at least one).
    pub max_txn_len: u32,
    /// Relative weights of reads and writes inside a transaction.
    pub read: u32,
    pub write: u32,
}

impl Default for RwRegisterConfig {
    fn default() -> Self {
        RwRegisterConfig {
            keys: 3,
            max_txn_len: 4,
            read: 1,
            write: 1,
        }
    }
}

impl RwRegisterConfig {
    pub fn validate(&self) -> Result<(), Error> {
        for (field, v) in [("keys", self.keys), ("max_txn_len", self.max_txn_len)] {
            if v == 0 {
                return Err(Error::TooSmall {
                    field,
                    min: 1,
                    got: 0,
                });
            }
        }
        if self.read + self.write == 0 {
            return Err(Error::NoWeight("read/write"));
        }
        Ok(())
    }
}

/// One transaction reading every key (the final read).
pub fn read_all(keys: &[String]) -> Op {
    txn(keys
        .iter()
        .map(|k| MicroOp::ReadRegister { key: k.clone() })
        .collect())
}

pub struct RwRegisterGen {
    config: RwRegisterConfig,
    process: u64,
    rng: ChaCha8Rng,
    written: u64,
}

impl RwRegisterGen {
    pub fn new(config: RwRegisterConfig, process: u64, rng: ChaCha8Rng) -> RwRegisterGen {
        RwRegisterGen {
            config,
            process,
            rng,
            written: 0,
        }
    }
}

impl ProcessGen for RwRegisterGen {
    fn next_op(&mut self) -> Op {
        let shape = txn::Shape {
            max_len: self.config.max_txn_len,
            keys: self.config.keys,
            read: self.config.read,
            write: self.config.write,
        };
        txn::random(
            &mut self.rng,
            shape,
            self.process,
            &mut self.written,
            |key| MicroOp::ReadRegister { key },
            |key, value| MicroOp::Write { key, value },
        )
    }

    fn complete(&mut self, op: &Op, response: Response) -> Completion {
        txn::complete(op, response, txn_result)
    }
}

/// The completed transaction: the invocation's micro-ops with each read's value filled in. The
/// reply must answer the same micro-ops in the same order, or we cannot say what happened.
fn txn_result(op: &Op, body: &Value) -> Option<Value> {
    let Request::Txn { ops } = &op.request else {
        return None;
    };
    let replied = body.get("ops")?.as_array()?;
    if ops.len() != replied.len() {
        return None;
    }
    let mut out = Vec::with_capacity(ops.len());
    for (mine, theirs) in ops.iter().zip(replied) {
        let theirs = theirs.as_array()?;
        let wire = mine.to_wire();
        if wire[0] != theirs[0] || wire[1] != theirs[1] {
            return None;
        }
        match mine {
            MicroOp::ReadRegister { key } => {
                let value = match &theirs[2] {
                    Value::Null => Value::Null,
                    v @ Value::String(_) => value_from_wire(v),
                    _ => return None,
                };
                out.push(json!(["r", key, value]));
            }
            other => out.push(other.to_history()),
        }
    }
    Some(Value::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use checkers::history::EventType;
    use rand::SeedableRng;

    #[test]
    fn reply_fills_in_reads_in_jepsens_form() {
        let mut g =
            RwRegisterGen::new(RwRegisterConfig::default(), 2, ChaCha8Rng::seed_from_u64(3));
        let op = txn(vec![
            MicroOp::Write {
                key: "k1".into(),
                value: "5".into(),
            },
            MicroOp::ReadRegister { key: "k2".into() },
        ]);
        assert_eq!(op.value, json!([["w", "k1", 5], ["r", "k2", null]]));
        let done = g.complete(
            &op,
            Response::Ok(json!({"ops": [["w", "k1", "5"], ["get", "k2", "7"]]})),
        );
        assert_eq!(
            done,
            Completion::ok(json!([["w", "k1", 5], ["r", "k2", 7]]))
        );
        let mismatched = g.complete(&op, Response::Ok(json!({"ops": [["get", "k1", null]]})));
        assert_eq!(mismatched.kind, EventType::Info);
        for _ in 0..100 {
            let op = g.next_op();
            let Request::Txn { ops } = &op.request else {
                panic!("rw-register sends transactions")
            };
            assert!((1..=4).contains(&ops.len()));
        }
    }
}
