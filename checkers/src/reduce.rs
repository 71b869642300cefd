//! Sound reductions applied before the search, for registers.
//!
//! Crashed operations (`ret == None`) stay open to the end of the history and are what makes a
//! search explode: at every node each of them may be linearized or not. These rewrites remove
//! operations that provably cannot change the verdict. Each preserves linearizability in both
//! directions; the property tests check them against [`crate::brute::brute_force`].
//!
//! 1. **Operations that never change the state and are legal in every state** (`ReadAny`) are
//!    dropped, crashed or not: given a linearization without one, put it anywhere inside its
//!    interval; given one with it, take it out. Neither changes any other operation's state.
//! 2. **Crashed operations that never change the state** (a crashed `Read(v)`, `CasFailed`) are
//!    dropped: a linearization may always leave a crashed operation out, and leaving out one
//!    that does not change the state changes nothing else.
//! 3. **Crashed writes of an unobserved value.** Call `v` *observed* when some read returns `v`
//!    or some compare-and-set (completed or crashed) compares with `v`. If no completed
//!    `CasFailed` is present, a crashed `Write(v)` or `Cas(_, v)` with `v` unobserved is
//!    dropped. Proof: a linearization of the history without it is one of the history (the op
//!    never took effect). Conversely take a linearization `L` where it takes effect at point
//!    `c`; the register holds `v` from `c` until the next state-changing operation `w`. Every
//!    operation between them is legal in state `v` without changing it: a `Read(v)` (none: `v`
//!    is unobserved), a `Cas(v, v)` (none, same reason), or a `CasFailed` (none by assumption);
//!    so there is none, and `w` is not a `Cas(v, _)` either, so it is a `Write` or there is no
//!    `w`. Removing the operation from `L` leaves every other operation's state unchanged.
//!    Dropping a crashed cas can make its `from` unobserved, so this runs to a fixpoint.
//!
//! The search adds a fourth, generic, one: crashed operations with equal `Op`s are
//! interchangeable, so only the earliest-invoked unlinearized one of each class is tried. Proof:
//! take a linearization using `k` members of a class at positions `p1 < .. < pk`; the first `k`
//! members by call have calls no later than the used members' sorted calls, so each fits the
//! same position, and the sequence of `Op`s, hence every state, is the same.

use std::collections::HashSet;

use crate::model::RegOp;
use crate::op::Operation;

/// Applies reductions 1–3 to one key's register operations; returns how many were dropped.
pub fn reduce_register(ops: &mut Vec<Operation<RegOp>>) -> usize {
    let before = ops.len();
    ops.retain(|o| match o.op {
        RegOp::ReadAny => false,
        RegOp::Read(_) | RegOp::CasFailed(..) => o.ret.is_some(),
        _ => true,
    });
    let has_failed_cas = ops.iter().any(|o| matches!(o.op, RegOp::CasFailed(..)));
    if !has_failed_cas {
        loop {
            let mut observed = HashSet::new();
            for o in ops.iter() {
                match o.op {
                    RegOp::Read(v) | RegOp::Cas(v, _) => {
                        observed.insert(v);
                    }
                    _ => {}
                }
            }
            let len = ops.len();
            ops.retain(|o| {
                o.ret.is_some()
                    || match o.op {
                        RegOp::Write(v) | RegOp::Cas(_, v) => observed.contains(&v),
                        _ => true,
                    }
            });
            if ops.len() == len {
                break;
            }
        }
    }
    before - ops.len()
}
