//! The (cas-)register: one value, read, written, compared-and-set.

use std::sync::Arc;

use super::Model;
use crate::value::Val;

/// A register operation with its observed result. Values are interned: `u32` ids into the
/// model's value table, so states are small `Copy` integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegOp {
    /// A read that returned this value (nil included: it is a real read of "absent").
    Read(u32),
    /// A read whose result is unknown: legal in every state (Knossos' nil read).
    ReadAny,
    Write(u32),
    /// A compare-and-set that succeeded (or, when crashed, that may have).
    Cas(u32, u32),
    /// A compare-and-set that completed and returned false: legal iff the state differs from
    /// `from` (Porcupine's reading of `:fail :cas` in the etcd logs).
    CasFailed(u32, u32),
}

/// A register with compare-and-set over interned values.
#[derive(Debug, Clone)]
pub struct CasRegister {
    /// The initial value's id.
    pub init: u32,
    /// Id -> value, for describing.
    pub values: Arc<Vec<Val>>,
}

impl CasRegister {
    /// A register over `values` (ids are indexes) starting at `values[init]`.
    pub fn new(init: u32, values: Arc<Vec<Val>>) -> Self {
        CasRegister { init, values }
    }

    fn v(&self, id: u32) -> String {
        self.values
            .get(id as usize)
            .map_or_else(|| format!("#{id}"), |v| v.brief(crate::value::BRIEF))
    }
}

impl Model for CasRegister {
    type State = u32;
    type Scratch = ();
    type Op = RegOp;

    fn name(&self) -> &'static str {
        "cas-register"
    }

    fn init(&self) -> u32 {
        self.init
    }

    #[inline]
    fn step(&self, s: &u32, op: &RegOp) -> Option<u32> {
        match *op {
            RegOp::Read(v) => (v == *s).then_some(*s),
            RegOp::ReadAny => Some(*s),
            RegOp::Write(v) => Some(v),
            RegOp::Cas(from, to) => (from == *s).then_some(to),
            RegOp::CasFailed(from, _) => (from != *s).then_some(*s),
        }
    }

    fn describe_op(&self, op: &RegOp) -> String {
        match *op {
            RegOp::Read(v) => format!("read {}", self.v(v)),
            RegOp::ReadAny => "read ?".to_string(),
            RegOp::Write(v) => format!("write {}", self.v(v)),
            RegOp::Cas(f, t) => format!("cas {}->{}", self.v(f), self.v(t)),
            RegOp::CasFailed(f, t) => format!("cas {}->{} failed", self.v(f), self.v(t)),
        }
    }

    fn is_read_only(&self, op: &RegOp) -> bool {
        match *op {
            RegOp::Read(_) | RegOp::ReadAny | RegOp::CasFailed(..) => true,
            RegOp::Cas(from, to) => from == to,
            RegOp::Write(_) => false,
        }
    }

    fn subsumes(&self, a: &RegOp, b: &RegOp) -> bool {
        match (*a, *b) {
            (RegOp::Write(v), RegOp::Cas(_, w)) => v == w,
            _ => a == b,
        }
    }

    /// Every state change resets; so a read is hopeless only when no write or cas can still
    /// come before it (then the state never changes again).
    fn resets(&self, op: &RegOp) -> bool {
        !self.is_read_only(op)
    }

    fn hopeless(&self, _: &u32, _: &RegOp) -> bool {
        true
    }

    const REDUCES: bool = true;

    fn reduce(&self, ops: &mut Vec<crate::op::Operation<RegOp>>) {
        crate::reduce::reduce_register(ops);
    }

    /// The unique-values path first (it decides both ways); when it cannot, a quick
    /// refutation of reads that saw a value certainly overwritten before they began.
    fn decide(
        &self,
        ops: &[crate::op::Operation<RegOp>],
    ) -> Option<(crate::unique::Decision, &'static str)> {
        use crate::check::{OVERWRITTEN, UNIQUE};
        if let Some(d) = crate::unique::decide(self.init, ops) {
            return Some((d, UNIQUE));
        }
        let core = crate::overwritten::refute(self.init, ops)?;
        Some((crate::unique::Decision::Invalid { core }, OVERWRITTEN))
    }

    fn describe_state(&self, s: &u32) -> String {
        self.v(*s)
    }

    fn why_illegal(&self, s: &u32, _: &str, op: &RegOp) -> String {
        match *op {
            RegOp::Read(v) => format!(
                "{} needs the register to hold {} but it holds {}",
                self.describe_op(op),
                self.v(v),
                self.v(*s)
            ),
            RegOp::Cas(f, _) => format!(
                "{} needs the register to hold {} but it holds {}",
                self.describe_op(op),
                self.v(f),
                self.v(*s)
            ),
            RegOp::CasFailed(f, _) => format!(
                "{} needs the register to differ from {} but it holds {}",
                self.describe_op(op),
                self.v(f),
                self.v(*s)
            ),
            _ => format!("{} is always possible", self.describe_op(op)),
        }
    }
}
