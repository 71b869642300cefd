//! Several registers read and written atomically by transactions (Knossos' multi-register).

use std::sync::Arc;

use super::Model;
use crate::value::Val;

/// One step of a transaction on register `reg` (an index into the model's register names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MicroOp {
    /// Read: `Some(v)` must equal the register, `None` is an unknown read (always legal).
    Read(u16, Option<u32>),
    Write(u16, u32),
}

/// The registers' values, by register index (value ids).
pub type MultiState = Box<[u32]>;

/// Registers named by `names`, all starting at `init`, with values interned in `values`.
#[derive(Debug, Clone)]
pub struct MultiRegister {
    pub names: Arc<Vec<Val>>,
    pub values: Arc<Vec<Val>>,
    pub init: u32,
}

impl MultiRegister {
    fn v(&self, id: u32) -> String {
        self.values
            .get(id as usize)
            .map_or_else(|| format!("#{id}"), |v| v.to_string())
    }

    fn r(&self, reg: u16) -> String {
        self.names.get(reg as usize).map_or_else(
            || format!("r{reg}"),
            |v| v.as_name().map_or_else(|| v.to_string(), str::to_string),
        )
    }
}

impl Model for MultiRegister {
    type State = MultiState;
    type Op = Vec<MicroOp>;

    fn name(&self) -> &'static str {
        "multi-register"
    }

    fn init(&self) -> MultiState {
        vec![self.init; self.names.len()].into_boxed_slice()
    }

    fn step(&self, s: &MultiState, op: &Vec<MicroOp>) -> Option<MultiState> {
        let mut next: Option<MultiState> = None;
        for m in op {
            let cur = next.as_deref().unwrap_or(s);
            match *m {
                MicroOp::Read(r, Some(v)) => {
                    if cur.get(r as usize) != Some(&v) {
                        return None;
                    }
                }
                MicroOp::Read(_, None) => {}
                MicroOp::Write(r, v) => {
                    let n = next.get_or_insert_with(|| s.clone());
                    *n.get_mut(r as usize)? = v;
                }
            }
        }
        Some(next.unwrap_or_else(|| s.clone()))
    }

    fn is_read_only(&self, op: &Vec<MicroOp>) -> bool {
        op.iter().all(|m| matches!(m, MicroOp::Read(..)))
    }

    fn describe_op(&self, op: &Vec<MicroOp>) -> String {
        let parts: Vec<String> = op
            .iter()
            .map(|m| match *m {
                MicroOp::Read(r, Some(v)) => format!("read {} {}", self.r(r), self.v(v)),
                MicroOp::Read(r, None) => format!("read {} ?", self.r(r)),
                MicroOp::Write(r, v) => format!("write {} {}", self.r(r), self.v(v)),
            })
            .collect();
        format!("txn [{}]", parts.join(", "))
    }

    fn describe_state(&self, s: &MultiState) -> String {
        let parts: Vec<String> = s
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{} {}", self.r(i as u16), self.v(*v)))
            .collect();
        format!("{{{}}}", parts.join(", "))
    }
}
