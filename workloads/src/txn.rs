//! What the transactional workloads (list-append, rw-register) share: a transaction as an
//! operation, a random transaction of a given shape, and reading the node's reply.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::op::{unique_value, Completion, MicroOp, Op, Request, Response, PER_PROCESS};
use crate::workload::key_name;

/// A transaction: `f: txn`, its micro-ops as the history records them, and the request.
pub fn txn(ops: Vec<MicroOp>) -> Op {
    Op {
        f: "txn".into(),
        key: None,
        value: Value::Array(ops.iter().map(MicroOp::to_history).collect()),
        request: Request::Txn { ops },
    }
}

/// How random transactions look: at most `max_len` micro-ops over `keys` keys, reads and writes
/// weighted `read` to `write`.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub max_len: u32,
    pub keys: u32,
    pub read: u32,
    pub write: u32,
}

/// One random transaction: each micro-op reads a random key, or writes the process's next
/// unique value there (`written` counts them; once the process has used its unique values, it
/// only reads).
pub fn random(
    rng: &mut ChaCha8Rng,
    shape: Shape,
    process: u64,
    written: &mut u64,
    read: impl Fn(String) -> MicroOp,
    write: impl Fn(String, String) -> MicroOp,
) -> Op {
    let len = rng.gen_range(1..=shape.max_len.max(1));
    let total = (shape.read + shape.write).max(1);
    let ops = (0..len)
        .map(|_| {
            let key = key_name(rng.gen_range(0..shape.keys.max(1)));
            let is_read = rng.gen_range(0..total) < shape.read;
            if is_read || *written >= PER_PROCESS {
                read(key)
            } else {
                *written += 1;
                write(key, unique_value(process, *written).to_string())
            }
        })
        .collect();
    txn(ops)
}

/// A transaction's completion: ok with the value `result` reads from the reply, unknown when the
/// reply does not answer the request's micro-ops.
pub fn complete(
    op: &Op,
    response: Response,
    result: impl Fn(&Op, &Value) -> Option<Value>,
) -> Completion {
    match response {
        Response::Ok(body) => match result(op, &body) {
            Some(v) => Completion::ok(v),
            None => Completion::info(op, format!("txn reply does not match the request: {body}")),
        },
        other => Completion::from_response(op, other),
    }
}
