//! A quick refutation of register keys: a read (or successful cas) that needs a value every
//! producer of which was certainly overwritten before the read began.
//!
//! The search ([`crate::search`]) proves a key not linearizable only by exhausting every order
//! up to the offending read, and with repeated values and crashed operations that is
//! exponential: a stale read 4,000 operations into a 100,000-operation history at ten processes
//! was not refuted in a minute. Most stale reads that real systems produce (a deposed leader
//! serving its old state, a follower read) are refuted by one necessary condition instead, which
//! [`refute`] checks for every reader in O(n log n). When no reader fails it, nothing is
//! concluded and the key goes to the search (or to the unique-values path, which runs first).
//!
//! # The condition
//! A *reader* of `v` is a completed `Read(v)` or `Cas(v, _)`: the register holds `v` right
//! before it. A *setter* of `u` is a completed `Write(u)` or `Cas(_, u)`: the register holds `u`
//! right after it. A *producer* of `v` is any `Write(v)` or `Cas(f, v)` with `f != v`, completed
//! or crashed (a crashed one returns at +inf), plus a virtual one for the initial value
//! (returning at -inf). `a` precedes `b` in real time when `a.ret < b.call` (equal positions
//! are concurrent, as in the search).
//!
//! For a reader `r` of `v`, let `x` be the setter of some value other than `v` that precedes
//! `r` and was invoked last (`M = x.call`). `r` is refuted when every producer `p` of `v` that
//! does not follow `r` (`p.call <= r.ret`) returned before `M` (`p.ret < M`).
//!
//! # Why it is sound
//! Take any linearization. The register holds `v` right before `r`, so some producer of `v` is
//! the last operation before `r` that sets the state: call it `L` (or the initial value, when
//! none is). `L` is before `r`, so `L.call <= r.ret`. `x` is completed, so it is in the
//! linearization, and before `r` (it precedes `r` in real time); it sets the state to a value
//! other than `v`, so it is before `L` too, and `L` cannot precede `x` in real time: `L.ret >=
//! x.call = M`. The initial value's producer returns at -inf < `M`: it is never `L` once such an
//! `x` exists. So some producer has `p.call <= r.ret` and `p.ret >= M`; when none has, there is
//! no linearization.
//!
//! The core handed to the counterexample is `{p, x, r}` with `p` an eligible producer and `x`
//! such a setter, both writes (see [`core`] for when they cannot be): the same argument,
//! restricted to those operations, shows that the core alone is not linearizable.

use std::collections::HashMap;

use crate::hash::FxBuild as Fx;
use crate::model::RegOp;
use crate::op::Operation;

/// The latest-invoked setter seen so far, and the latest-invoked one of another value, so that
/// "the latest setter of a value other than `v`" is one comparison for any `v`.
#[derive(Clone, Copy, Default)]
struct Latest {
    best: Option<Setter>,
    other: Option<Setter>,
}

#[derive(Clone, Copy)]
struct Setter {
    call: u64,
    value: u32,
    op: usize,
}

impl Latest {
    fn push(&mut self, s: Setter) {
        match self.best {
            Some(b) if s.call <= b.call => {
                if s.value != b.value && self.other.is_none_or(|o| s.call > o.call) {
                    self.other = Some(s);
                }
            }
            Some(b) => {
                if b.value != s.value {
                    self.other = Some(b);
                }
                self.best = Some(s);
            }
            None => self.best = Some(s),
        }
    }

    /// The latest-invoked setter of a value other than `v`.
    fn excluding(&self, v: u32) -> Option<Setter> {
        match self.best {
            Some(b) if b.value != v => Some(b),
            _ => self.other,
        }
    }
}

/// The producers of one value, by call, with the running maximum of their returns.
#[derive(Default)]
struct Producers {
    /// (call, ret or +inf, op index), sorted by call.
    by_call: Vec<(u64, u64, usize)>,
    /// `max_ret[i]`: the latest return among `by_call[..=i]`, and whose it is.
    max_ret: Vec<(u64, usize)>,
}

impl Producers {
    /// Sorts by call and computes the running maximum of returns.
    fn finish(&mut self) {
        self.by_call.sort_unstable();
        let mut best = (0, usize::MAX);
        self.max_ret = self
            .by_call
            .iter()
            .map(|&(_, ret, op)| {
                if best.1 == usize::MAX || ret > best.0 {
                    best = (ret, op);
                }
                best
            })
            .collect();
    }

    /// The latest-returning producer invoked no later than `pos`.
    fn latest_return_by(&self, pos: u64) -> Option<(u64, usize)> {
        let n = self.by_call.partition_point(|&(call, _, _)| call <= pos);
        n.checked_sub(1).map(|i| self.max_ret[i])
    }
}

/// The core of the refuted reader that returned first (op indexes into `ops`), or `None` when
/// every reader passes the condition (which proves nothing). `init` is the initial value's id.
/// See [`core`].
pub fn refute(init: u32, ops: &[Operation<RegOp>]) -> Option<Vec<usize>> {
    // Every producer of each value, and the writes among them (for the core).
    let mut producers: HashMap<u32, Producers, Fx> = HashMap::default();
    let mut writes_of: HashMap<u32, Producers, Fx> = HashMap::default();
    let mut setters: Vec<(u64, Setter)> = Vec::new();
    let mut readers: Vec<(u64, u64, u32, usize)> = Vec::new();
    for (i, o) in ops.iter().enumerate() {
        let (produces, needs, sets) = match o.op {
            RegOp::Write(v) => (Some(v), None, Some(v)),
            RegOp::Cas(f, t) => ((f != t).then_some(t), Some(f), Some(t)),
            RegOp::Read(v) => (None, Some(v), None),
            RegOp::ReadAny | RegOp::CasFailed(..) => (None, None, None),
        };
        if let Some(v) = produces {
            let entry = (o.call, o.ret.unwrap_or(u64::MAX), i);
            producers.entry(v).or_default().by_call.push(entry);
            if matches!(o.op, RegOp::Write(_)) {
                writes_of.entry(v).or_default().by_call.push(entry);
            }
        }
        let Some(ret) = o.ret else { continue };
        if let Some(v) = needs {
            readers.push((o.call, ret, v, i));
        }
        if let Some(value) = sets {
            let s = Setter {
                call: o.call,
                value,
                op: i,
            };
            setters.push((ret, s));
        }
    }
    for p in producers.values_mut().chain(writes_of.values_mut()) {
        p.finish();
    }
    setters.sort_unstable_by_key(|&(ret, s)| (ret, s.op));
    readers.sort_unstable();

    // The refuted reader that returned first: the shortest prefix of the history that already
    // fails (as the shrinker and online checking see it), and its core.
    let mut first: Option<(u64, Vec<usize>)> = None;
    let (mut any, mut writes) = (Latest::default(), Latest::default());
    let mut next = 0;
    for &(call, ret, v, r) in &readers {
        if first.as_ref().is_some_and(|(best, _)| call > *best) {
            break; // every later reader returns later still
        }
        while next < setters.len() && setters[next].0 < call {
            let s = setters[next].1;
            any.push(s);
            if matches!(ops[s.op].op, RegOp::Write(_)) {
                writes.push(s);
            }
            next += 1;
        }
        if first.as_ref().is_some_and(|(best, _)| ret >= *best) {
            continue;
        }
        let producer = producers.get(&v).and_then(|p| p.latest_return_by(ret));
        let Some(x) = any.excluding(v) else {
            if producer.is_none() && v != init {
                // Nothing produces `v` early enough: `r` alone is not linearizable.
                first = Some((ret, vec![r]));
            }
            continue;
        };
        // The initial value's producer returns at -inf: it never reaches `M`.
        if producer.is_some_and(|(p_ret, _)| p_ret >= x.call) {
            continue;
        }
        let write = writes_of.get(&v).and_then(|p| p.latest_return_by(ret));
        first = Some((ret, core(ops, r, producer, write, writes.excluding(v))));
    }
    first.map(|(_, core)| core)
}

/// The operations to explain a refuted reader `r` with: `{p, x, r}` when the last-returning
/// eligible producer can be a write `p` (or there is none: the initial value) and `x` can be a
/// write. Writes need nothing, so the core fails only for the reason of the proof; with a cas
/// in it, the counterexample shrinker would cut the core down to "this cas needs a value nobody
/// wrote", true but beside the point. Otherwise every operation invoked before `r` returned
/// (they fail by the same proof), for the shrinker to cut from.
fn core(
    ops: &[Operation<RegOp>],
    r: usize,
    producer: Option<(u64, usize)>,
    write: Option<(u64, usize)>,
    x: Option<Setter>,
) -> Vec<usize> {
    // The proof needs `p.ret < x.call` for the chosen `p` only, and the latest-returning
    // producer's return bounds every other's.
    let bound = producer.map(|(p_ret, _)| p_ret);
    let x = x.filter(|w| bound.is_none_or(|b| b < w.call));
    let p = match (producer, write) {
        (None, _) => Some(None),
        (Some(_), Some((_, w))) => Some(Some(w)),
        (Some(_), None) => None,
    };
    if let (Some(p), Some(x)) = (p, x) {
        let mut core: Vec<usize> = p.into_iter().chain([x.op, r]).collect();
        core.sort_unstable();
        return core;
    }
    let end = ops[r].ret.unwrap_or(u64::MAX);
    (0..ops.len()).filter(|&i| ops[i].call <= end).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CasRegister;
    use crate::search::{search, Budget, SearchOutcome};
    use crate::value::Val;
    use std::sync::Arc;

    fn model() -> CasRegister {
        CasRegister::new(0, Arc::new((0..6).map(Val::Int).collect()))
    }

    fn linearizable(ops: &[Operation<RegOp>]) -> bool {
        search(&model(), ops, &Budget::unlimited()).0 == SearchOutcome::Linearizable
    }

    #[test]
    fn a_read_of_an_overwritten_value_is_refuted_with_a_three_operation_core() {
        let ops = vec![
            Operation::new(RegOp::Write(1), 0, 1),
            Operation::new(RegOp::Write(1), 2, 3),
            Operation::new(RegOp::Write(2), 4, 5),
            Operation::new(RegOp::Read(1), 6, 7),
        ];
        assert_eq!(refute(0, &ops), Some(vec![1, 2, 3]));
        assert!(!linearizable(&ops));
    }

    #[test]
    fn a_concurrent_or_crashed_producer_saves_the_read() {
        let mut ops = vec![
            Operation::new(RegOp::Write(1), 0, 1),
            Operation::new(RegOp::Write(2), 2, 3),
            Operation::new(RegOp::Read(1), 6, 7),
        ];
        // A write of 1 concurrent with the write of 2 (returns at its call).
        ops.push(Operation::new(RegOp::Write(1), 1, 2));
        assert_eq!(refute(0, &ops), None);
        assert!(linearizable(&ops));
        ops.pop();
        ops.push(Operation::crashed(RegOp::Write(1), 5));
        assert_eq!(refute(0, &ops), None);
        assert!(linearizable(&ops));
        ops.pop();
        assert!(refute(0, &ops).is_some());
    }

    #[test]
    fn the_initial_value_is_overwritten_by_any_completed_setter_before_the_read() {
        let ops = vec![
            Operation::new(RegOp::Cas(0, 3), 0, 1),
            Operation::new(RegOp::Read(0), 2, 3),
        ];
        assert_eq!(refute(0, &ops), Some(vec![0, 1]));
        let read_first = vec![Operation::new(RegOp::Read(0), 0, 1)];
        assert_eq!(refute(0, &read_first), None);
    }

    /// Through `check_keys`: a long history with repeated values (so not the unique-values
    /// path) and one stale read deep inside is refuted here, before any search, and the
    /// counterexample is the three operations of the proof.
    #[test]
    fn check_refutes_a_deep_stale_read_without_searching() {
        let mut ops = Vec::new();
        for i in 0..3000u64 {
            // Two interleaved writers cycling through three values, each read back.
            let v = (i % 3) as u32;
            ops.push(Operation::new(RegOp::Write(v), 4 * i, 4 * i + 2).with_process(0));
            ops.push(Operation::new(RegOp::Read(v), 4 * i + 3, 4 * i + 4).with_process(1));
        }
        // The read after the 2,000th write (of 2) returns 1: the write of 1 before it was
        // overwritten, and the next write of 1 starts after the read returned.
        ops[4001].op = RegOp::Read(1);
        let keys = [crate::prepare::KeyOps {
            key: None,
            model: model(),
            ops,
        }];
        let (verdict, results) = crate::check::check_keys(&keys, &crate::check::Limits::default());
        assert_eq!(results[0].path, crate::check::OVERWRITTEN);
        assert_eq!(results[0].steps, 0, "it searched");
        let crate::check::Verdict::Invalid(cx) = verdict else {
            panic!("not refuted: {verdict:?}");
        };
        assert_eq!(cx.ops.len(), 3, "{cx:?}");
        assert!(cx.explanation.contains("read 1"), "{}", cx.explanation);
    }

    /// Up to 8 operations over the values 0..3 (so repeated), roughly in call order, one in
    /// four crashed.
    fn random_history(seed: u64) -> Vec<Operation<RegOp>> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let n = rng.gen_range(1..=8u64);
        (0..n)
            .map(|i| {
                let v = |rng: &mut rand_chacha::ChaCha8Rng| rng.gen_range(0..3u32);
                let op = match rng.gen_range(0..7) {
                    0 | 1 => RegOp::Write(v(&mut rng)),
                    2 => RegOp::Cas(v(&mut rng), v(&mut rng)),
                    3 => RegOp::CasFailed(v(&mut rng), v(&mut rng)),
                    _ => RegOp::Read(v(&mut rng)),
                };
                let call = 2 * i + rng.gen_range(0..4);
                if rng.gen_range(0..4) == 0 {
                    Operation::crashed(op, call)
                } else {
                    Operation::new(op, call, call + rng.gen_range(1..5))
                }
            })
            .collect()
    }

    /// Against the search on random small histories with repeated values and crashes: every
    /// refutation is of a history the search finds not linearizable, and its core fails alone.
    #[test]
    fn every_refutation_is_confirmed_by_the_search() {
        let mut refuted = 0;
        for seed in 0..3000u64 {
            let ops = random_history(seed);
            if let Some(core) = refute(0, &ops) {
                refuted += 1;
                assert!(!linearizable(&ops), "seed {seed}: {ops:?}");
                let sub: Vec<_> = core.iter().map(|&i| ops[i].clone()).collect();
                assert!(!linearizable(&sub), "seed {seed}: core {sub:?}");
            }
        }
        assert!(
            refuted > 100,
            "only {refuted} refutations: the test checks too little"
        );
    }
}
