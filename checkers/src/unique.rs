//! A polynomial decision for register keys whose observed values are written once.
//!
//! The general search ([`crate::search`]) is exponential in the number of concurrent
//! operations. But faultline's workloads (and Jepsen's register workloads with independent
//! keys) write every value at most once per key, and then a read names the one write it saw and
//! a successful cas names the one version it replaced: the version order is nearly forced, and
//! what is left is a graph problem (Gibbons and Korach's reads-from checking, extended to cas).
//! [`decide`] answers it in O(n log n), or says it cannot (`None`), and the search is used.
//!
//! # Terms
//! A *producer* of value `v` is a `Write(v)` or a `Cas(f, v)` with `f != v`; the initial value
//! has one more, virtual, producer `INIT` (invoked and completed at -inf). A *reader* of `v` is a
//! completed `Read(v)` or `Cas(v, v)` (legal iff the state is `v`, changes nothing). Crashed
//! reads (and crashed `Cas(v, v)`) are optional and change nothing: dropped. A `CasFailed(f, _)`
//! whose `f` nobody produces is legal in every reachable state (every state is a produced value
//! or the initial one) and changes nothing: dropped; any other `CasFailed` makes the key
//! undecided here (its constraint, "not during `f`'s version", is a disjunction).
//!
//! A value is *needed* when a completed reader or a completed cas (from it) needs the register
//! to hold it, or when it is the `from` of a cas that produces a needed value (the closure).
//!
//! # The algorithm
//! 1. Needed values, by a worklist. A needed value with no producer: **invalid** (no order can
//!    make its reader legal). A needed value with two or more producers (the initial value
//!    counts): **undecided** (`None`): which write a read saw is not known.
//! 2. The *included* operations: every completed operation, plus the (unique) producer of
//!    every needed value. Every other operation is crashed and is left out (see soundness).
//! 3. One *block* per included producer (`INIT` included): the producer and the readers of its
//!    value (only needed values have readers, and they have one producer, so a reader has one
//!    block). `lo` = the earliest return in the block (+inf for a crashed operation, -inf for
//!    `INIT`), `hi` = the latest call. A reader that returned before its producer was invoked:
//!    **invalid**.
//! 4. Cas chains: an included `Cas(f, t)` makes `t`'s block the *successor* of `f`'s block. A
//!    block with two successors: **invalid** (both need the register to hold `f` right before
//!    them, and `f` is held only once). Following successors from the blocks whose producer is
//!    `INIT` or a write gives the chains; a block on no chain lies on a cycle of cas:
//!    **invalid**. Inside a chain, every block must be able to follow every earlier one:
//!    `hi(earlier) <= lo(later)`, else **invalid**. A chain's `lo`/`hi` are its blocks' min/max.
//! 5. Chains must be ordered so that chain `X` precedes chain `Y` only when `hi(X) <= lo(Y)`;
//!    i.e. the graph with an edge `Y -> X` whenever `lo(Y) < hi(X)` must be acyclic. Kahn's
//!    algorithm, with a chain *ready* when `hi` is at most the smallest `lo` of the others: the
//!    ready candidates are only ever the chain of least `hi` and the chain of least `lo`, so each
//!    step is O(log n). Stuck: the two chains of least `lo` each must precede the other:
//!    **invalid**. Otherwise **valid**.
//!
//! # Why it is sound (both ways)
//! *Inclusion.* Any linearization contains the completed operations and, for each needed value,
//! its one producer (nothing else can make the register hold it). Conversely, take a
//! linearization `L` that also contains a crashed producer `p` of a value `v` that is not
//! needed. Then `v` has no reader (a reader would make it needed) and no included cas from it
//! (a completed one would make `v` needed; a crashed one producing a needed value too). Remove
//! `p` and the crashed cas that follow it in `L` taking `v` (and so on down its chain: their
//! values are not needed either, by the same argument). Between them `L` has nothing (nothing
//! reads those values), and what follows is a write or the end (a cas would need one of those
//! values), so every remaining operation sees the state it saw. So a linearization exists iff
//! one of exactly the included operations exists.
//!
//! *Blocks.* In a linearization of the included operations, the state changes exactly at the
//! producers; between two producers every operation is legal in, and keeps, the state: a reader
//! of that value (no `CasFailed` remains). A needed value has one producer, so all its readers
//! sit in one segment right after it: the segments are the blocks, contiguous, in some *version
//! order* starting with `INIT`. A cas runs in the state `f`, so its block comes right after
//! `f`'s: chains are contiguous in the order. Conversely, given a version order of blocks that
//! keeps chains contiguous, the sequence "each block's producer, then its readers by call
//! time" is legal: writes are always legal, a cas finds `f` (its predecessor block), a reader
//! finds its value.
//!
//! *Real time.* That sequence respects real time (`a` completed before `b` was invoked, i.e.
//! `a.ret < b.call`, puts `a` first) iff (i) no reader completed before its producer was
//! invoked (inside a block, readers by call time already respect each other), and (ii) for
//! blocks `B` before `C`, no operation of `C` completed before one of `B` was invoked:
//! `hi(B) <= lo(C)`. Any linearization puts the blocks in some order and so must satisfy the
//! same pairwise conditions. With chains contiguous, (ii) inside a chain is step 4's check, and
//! between chains it is exactly `hi(X) <= lo(Y)` for `X` before `Y`: an order of chains exists
//! iff the "must precede" graph of step 5 is acyclic (a topological order satisfies every pair:
//! a pair with no edge either way allows both orders). `INIT`'s block has `lo = -inf`, so its
//! chain is first in every order, as it must be.
//!
//! *Kahn's candidates.* Chain `i` is ready iff `hi(i) <= min lo(others)`. Let `x` have the least
//! `lo` (`m1`), `x2` the next (`m2`), `y` the least `hi`. A ready chain other than `x` needs
//! `hi <= m1`, and `y` has the least `hi`; `x` needs `hi(x) <= m2`. So if neither `y` nor `x` is
//! ready, none is; and then `lo(x2) < hi(x)` and `lo(x) < hi(x2)`: a 2-cycle, whose two chains
//! are by themselves a non-linearizable core (the same analysis of just their operations finds
//! the same blocks and the same cycle).
//!
//! Every **invalid** comes with a small set of operations that fails by itself (the
//! counterexample is shrunk from it); the property tests check verdicts and cores against the
//! general search and the brute-force checker.

use std::collections::HashMap;

use crate::hash::FxBuild as Fx;
use crate::model::RegOp;
use crate::op::Operation;

/// What [`decide`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Valid,
    /// Not linearizable; `core` indexes operations that are not linearizable by themselves.
    Invalid {
        core: Vec<usize>,
    },
}

const NONE: u32 = u32::MAX;
/// The initial value's virtual producer.
const INIT: u32 = u32::MAX - 1;

#[derive(Clone, Copy)]
struct Value {
    /// The producer (an op index, or `INIT`); meaningful when `producers == 1`.
    producer: u32,
    producers: u32,
    /// The operation that needs this value (`NONE`: not needed).
    needed_by: u32,
    /// Some completed `CasFailed` compares with it.
    failed_from: bool,
}

#[derive(Clone, Copy)]
struct Block {
    producer: u32,
    lo: i128,
    hi: i128,
    /// The next block of its cas chain, and the previous one.
    succ: u32,
    pred: u32,
}

fn call(o: &Operation<RegOp>) -> i128 {
    i128::from(o.call)
}

fn ret(o: &Operation<RegOp>) -> i128 {
    o.ret.map_or(i128::MAX, i128::from)
}

/// Decides one key of a (cas-)register starting at value id `init`, when every value that
/// matters is written once; `None` when it cannot (the search must). `ops` in any order.
pub fn decide(init: u32, ops: &[Operation<RegOp>]) -> Option<Decision> {
    if ops.len() >= INIT as usize {
        return None;
    }
    let mut values: HashMap<u32, Value, Fx> = HashMap::default();
    let blank = Value {
        producer: NONE,
        producers: 0,
        needed_by: NONE,
        failed_from: false,
    };
    let produce = |v: u32, p: u32, values: &mut HashMap<u32, Value, Fx>| {
        let e = values.entry(v).or_insert(blank);
        e.producers += 1;
        e.producer = p;
    };
    produce(init, INIT, &mut values);
    for (i, o) in ops.iter().enumerate() {
        match o.op {
            RegOp::Write(v) => produce(v, i as u32, &mut values),
            RegOp::Cas(f, t) if f != t => produce(t, i as u32, &mut values),
            RegOp::CasFailed(f, _) if o.ret.is_some() => {
                values.entry(f).or_insert(blank).failed_from = true;
            }
            _ => {}
        }
    }
    if values.values().any(|v| v.failed_from && v.producers > 0) {
        return None;
    }

    // 1. Needed values.
    let mut work: Vec<u32> = Vec::new();
    // `Err(Some(core))`: invalid; `Err(None)`: undecided.
    let need = |v: u32, by: u32, values: &mut HashMap<u32, Value, Fx>, work: &mut Vec<u32>| {
        let e = values.entry(v).or_insert(blank);
        if e.producers == 0 {
            e.needed_by = by;
            return Err(Some(v));
        }
        if e.producers > 1 {
            return Err(None);
        }
        if e.needed_by == NONE {
            e.needed_by = by;
            work.push(v);
        }
        Ok(())
    };
    let reader_of = |o: &Operation<RegOp>| match o.op {
        RegOp::Read(v) if o.ret.is_some() => Some(v),
        RegOp::Cas(f, t) if f == t && o.ret.is_some() => Some(f),
        _ => None,
    };
    for (i, o) in ops.iter().enumerate() {
        let v = match o.op {
            _ if o.ret.is_none() => continue,
            RegOp::Read(v) => v,
            RegOp::Cas(f, _) => f,
            _ => continue,
        };
        if let Err(e) = need(v, i as u32, &mut values, &mut work) {
            return e.map(|v| invalid(why_needed(ops, &values, v)));
        }
    }
    while let Some(v) = work.pop() {
        let p = values[&v].producer;
        if p == INIT {
            continue;
        }
        if let RegOp::Cas(f, _) = ops[p as usize].op {
            if let Err(e) = need(f, p, &mut values, &mut work) {
                return e.map(|v| invalid(why_needed(ops, &values, v)));
            }
        }
    }

    // 2 and 3. Blocks: INIT's is block 0.
    let mut block_of_op = vec![NONE; ops.len()];
    let mut blocks = vec![Block {
        producer: INIT,
        lo: i128::MIN,
        hi: i128::MIN,
        succ: NONE,
        pred: NONE,
    }];
    for (i, o) in ops.iter().enumerate() {
        let produced = match o.op {
            RegOp::Write(v) => v,
            RegOp::Cas(f, t) if f != t => t,
            _ => continue,
        };
        if o.ret.is_none() && values[&produced].needed_by == NONE {
            continue;
        }
        block_of_op[i] = blocks.len() as u32;
        blocks.push(Block {
            producer: i as u32,
            lo: ret(o),
            hi: call(o),
            succ: NONE,
            pred: NONE,
        });
    }
    let block_of_value =
        |v: u32, values: &HashMap<u32, Value, Fx>, block_of_op: &[u32]| match values[&v].producer {
            INIT => 0,
            p => block_of_op[p as usize],
        };
    for (i, o) in ops.iter().enumerate() {
        let Some(v) = reader_of(o) else { continue };
        let b = block_of_value(v, &values, &block_of_op);
        block_of_op[i] = b;
        let blk = &mut blocks[b as usize];
        if blk.producer != INIT && ret(o) < call(&ops[blk.producer as usize]) {
            return Some(invalid(vec![blk.producer as usize, i]));
        }
        blk.lo = blk.lo.min(ret(o));
        blk.hi = blk.hi.max(call(o));
    }

    // 4. Cas chains.
    for b in 1..blocks.len() {
        let p = blocks[b].producer as usize;
        let RegOp::Cas(f, _) = ops[p].op else {
            continue;
        };
        let from = block_of_value(f, &values, &block_of_op) as usize;
        if blocks[from].succ != NONE {
            let other = blocks[from].succ as usize;
            let mut core = chain_back(&blocks, from);
            core.extend([b, other]);
            let mut core = ops_of(&block_of_op, &core);
            // A crashed cas is there because something needs its value: that goes too.
            for c in [b, other] {
                let p = blocks[c].producer as usize;
                if let (RegOp::Cas(_, t), None) = (ops[p].op, ops[p].ret) {
                    core.extend(why_needed(ops, &values, t));
                }
            }
            return Some(invalid(core));
        }
        blocks[from].succ = b as u32;
        blocks[b].pred = from as u32;
    }
    struct Chain {
        lo: i128,
        hi: i128,
        start: u32,
    }
    let mut chains: Vec<Chain> = Vec::new();
    let mut on_chain = 0usize;
    for start in 0..blocks.len() {
        if blocks[start].pred != NONE {
            continue;
        }
        let (mut lo, mut hi) = (i128::MAX, i128::MIN);
        let mut b = start as u32;
        while b != NONE {
            let blk = &blocks[b as usize];
            if hi > blk.lo {
                // Some earlier block of the chain was invoked after this one completed.
                let mut core = chain_back(&blocks, b as usize);
                core.push(b as usize);
                return Some(invalid(ops_of(&block_of_op, &core)));
            }
            lo = lo.min(blk.lo);
            hi = hi.max(blk.hi);
            on_chain += 1;
            b = blk.succ;
        }
        chains.push(Chain {
            lo,
            hi,
            start: start as u32,
        });
    }
    if on_chain < blocks.len() {
        // Blocks on a cycle of cas: each needs the one before it first.
        let mut on = vec![false; blocks.len()];
        for c in &chains {
            let mut b = c.start;
            while b != NONE {
                on[b as usize] = true;
                b = blocks[b as usize].succ;
            }
        }
        let cycle: Vec<usize> = (0..blocks.len()).filter(|&b| !on[b]).collect();
        return Some(invalid(ops_of(&block_of_op, &cycle)));
    }

    // 5. An order of the chains: Kahn's algorithm over the two candidates.
    let n = chains.len();
    let mut by_lo: Vec<u32> = (0..n as u32).collect();
    by_lo.sort_unstable_by_key(|&c| chains[c as usize].lo);
    let mut by_hi: Vec<u32> = (0..n as u32).collect();
    by_hi.sort_unstable_by_key(|&c| chains[c as usize].hi);
    let mut removed = vec![false; n];
    let mut skip_lo = Skip::new(n);
    let mut skip_hi = Skip::new(n);
    let mut rank_lo = vec![0u32; n];
    let mut rank_hi = vec![0u32; n];
    for (r, &c) in by_lo.iter().enumerate() {
        rank_lo[c as usize] = r as u32;
    }
    for (r, &c) in by_hi.iter().enumerate() {
        rank_hi[c as usize] = r as u32;
    }
    let mut left = n;
    while left > 0 {
        let r1 = skip_lo.find(0);
        let x = by_lo[r1] as usize;
        let r2 = skip_lo.find(r1 + 1);
        let m1 = chains[x].lo;
        let (x2, m2) = if r2 < n {
            let c = by_lo[r2] as usize;
            (Some(c), chains[c].lo)
        } else {
            (None, i128::MAX)
        };
        let y = by_hi[skip_hi.find(0)] as usize;
        let ready = if y != x && chains[y].hi <= m1 {
            Some(y)
        } else if chains[x].hi <= m2 {
            Some(x)
        } else {
            None
        };
        let Some(c) = ready else {
            let x2 = x2.unwrap_or(x);
            let mut core = Vec::new();
            for s in [chains[x].start, chains[x2].start] {
                let mut b = s;
                while b != NONE {
                    core.push(b as usize);
                    b = blocks[b as usize].succ;
                }
            }
            return Some(invalid(ops_of(&block_of_op, &core)));
        };
        debug_assert!(!removed[c]);
        removed[c] = true;
        skip_lo.remove(rank_lo[c] as usize);
        skip_hi.remove(rank_hi[c] as usize);
        left -= 1;
    }
    Some(Decision::Valid)
}

fn invalid(mut core: Vec<usize>) -> Decision {
    core.sort_unstable();
    core.dedup();
    Decision::Invalid { core }
}

/// The operations that need `v` (which has no producer): the reader or cas, and the crashed cas
/// whose result some reader needed, back to a completed operation.
fn why_needed(ops: &[Operation<RegOp>], values: &HashMap<u32, Value, Fx>, v: u32) -> Vec<usize> {
    let mut core = Vec::new();
    let mut by = values[&v].needed_by;
    while by != NONE && by != INIT && core.len() <= ops.len() {
        core.push(by as usize);
        let o = &ops[by as usize];
        match o.op {
            RegOp::Cas(_, t) if o.ret.is_none() => by = values[&t].needed_by,
            _ => break,
        }
    }
    core
}

/// Block `b` and the blocks before it on its cas chain, back to the chain's start.
fn chain_back(blocks: &[Block], b: usize) -> Vec<usize> {
    let mut out = vec![b];
    let mut c = blocks[b].pred;
    while c != NONE && out.len() <= blocks.len() {
        out.push(c as usize);
        c = blocks[c as usize].pred;
    }
    out
}

/// The operations of the given blocks (producers and readers).
fn ops_of(block_of_op: &[u32], blocks: &[usize]) -> Vec<usize> {
    let mut want = std::collections::HashSet::with_capacity(blocks.len());
    want.extend(blocks.iter().map(|&b| b as u32));
    (0..block_of_op.len())
        .filter(|&i| want.contains(&block_of_op[i]))
        .collect()
}

/// "The next position not removed, from `i`", with path compression (union-find style).
struct Skip {
    next: Vec<u32>,
}

impl Skip {
    fn new(n: usize) -> Self {
        Skip {
            next: (0..=n as u32).collect(),
        }
    }

    fn find(&mut self, i: usize) -> usize {
        let mut r = i;
        while self.next[r] as usize != r {
            r = self.next[r] as usize;
        }
        let mut c = i;
        while self.next[c] as usize != r {
            let n = self.next[c] as usize;
            self.next[c] = r as u32;
            c = n;
        }
        r
    }

    fn remove(&mut self, i: usize) {
        self.next[i] = i as u32 + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(v: u32, c: u64, r: u64) -> Operation<RegOp> {
        Operation::new(RegOp::Write(v), c, r)
    }
    fn rd(v: u32, c: u64, r: u64) -> Operation<RegOp> {
        Operation::new(RegOp::Read(v), c, r)
    }

    #[test]
    fn a_read_of_an_overwritten_value_is_invalid() {
        // write 1, write 2, then read 1 after both completed.
        let ops = vec![w(1, 0, 1), w(2, 2, 3), rd(1, 4, 5)];
        assert!(matches!(decide(0, &ops), Some(Decision::Invalid { .. })));
        // Concurrent with the write of 2, it may go first.
        let ops = vec![w(1, 0, 1), w(2, 2, 5), rd(1, 4, 6)];
        assert_eq!(decide(0, &ops), Some(Decision::Valid));
    }

    #[test]
    fn repeated_observed_values_are_left_to_the_search() {
        let ops = vec![w(1, 0, 1), w(1, 2, 3), rd(1, 4, 5)];
        assert_eq!(decide(0, &ops), None);
        // The initial value counts: a write of it, read, is ambiguous.
        let ops = vec![w(0, 0, 1), rd(0, 4, 5)];
        assert_eq!(decide(0, &ops), None);
        // Unread, repeated writes are fine.
        let ops = vec![w(1, 0, 1), w(1, 2, 3), rd(0, 0, 5)];
        assert_eq!(decide(0, &ops), Some(Decision::Valid));
    }

    #[test]
    fn crashed_writes_count_only_when_observed() {
        let ops = vec![
            Operation::crashed(RegOp::Write(1), 0),
            rd(1, 5, 6),
            Operation::crashed(RegOp::Write(2), 0),
            rd(0, 7, 8),
        ];
        assert!(matches!(decide(0, &ops), Some(Decision::Invalid { .. })));
        let ops = vec![
            Operation::crashed(RegOp::Write(1), 0),
            rd(0, 1, 2),
            rd(1, 5, 6),
            Operation::crashed(RegOp::Write(2), 0),
        ];
        assert_eq!(decide(0, &ops), Some(Decision::Valid));
    }

    #[test]
    fn two_cas_from_one_version_is_invalid() {
        let ops = vec![
            Operation::new(RegOp::Cas(0, 1), 0, 1),
            Operation::new(RegOp::Cas(0, 2), 0, 1),
        ];
        assert!(matches!(decide(0, &ops), Some(Decision::Invalid { .. })));
    }
}
