//! The fast search (with its reductions, forced reads and dominance pruning) must agree with a
//! brute-force search over every order, on thousands of small random histories with crashes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use checkers::brute::brute_force;
use checkers::model::{CasRegister, Kv, KvOp, MicroOp, MultiRegister, Mutex, MutexOp, RegOp};
use checkers::{check, Limits, Model, Operation, Val, Verdict};
use proptest::prelude::*;

fn limits() -> Limits {
    Limits {
        threads: 1,
        shrink_time: Duration::ZERO,
        ..Limits::default()
    }
}

/// An interval: call in 0..16, then a return 1..8 later, or a crash (no return) one time in 4.
fn interval() -> impl Strategy<Value = (u64, Option<u64>)> {
    (0u64..16, 1u64..8, 0u8..4).prop_map(|(c, d, crash)| (c, (crash != 0).then_some(c + d)))
}

fn ops<O: std::fmt::Debug + Clone>(
    op: impl Strategy<Value = O>,
) -> impl Strategy<Value = Vec<Operation<O>>> {
    prop::collection::vec((op, interval()), 1..=8).prop_map(operations)
}

/// Operations from (op, interval) pairs, one process each.
fn operations<O>(v: Vec<(O, (u64, Option<u64>))>) -> Vec<Operation<O>> {
    v.into_iter()
        .enumerate()
        .map(|(p, (op, (call, ret)))| Operation {
            op,
            call,
            ret,
            meta: checkers::OpMeta::default().with_process(p as i64),
        })
        .collect()
}

fn reg_op() -> impl Strategy<Value = RegOp> {
    prop_oneof![
        (0u32..3).prop_map(RegOp::Read),
        Just(RegOp::ReadAny),
        (0u32..3).prop_map(RegOp::Write),
        (0u32..3, 0u32..3).prop_map(|(a, b)| RegOp::Cas(a, b)),
        (0u32..3, 0u32..3).prop_map(|(a, b)| RegOp::CasFailed(a, b)),
    ]
}

/// Checks the fast verdict against brute force, and that a counterexample core fails too.
fn agree<M: Model>(model: &M, ops: &[Operation<M::Op>]) -> Result<(), TestCaseError> {
    let expected = brute_force(model, ops);
    let got = check(model, ops, &limits());
    prop_assert!(
        !matches!(got, Verdict::Unknown(_)),
        "no limit was set, yet: {got:?}"
    );
    prop_assert_eq!(got == Verdict::Valid, expected, "ops: {:#?}", ops);
    if !expected {
        let (core, _) =
            checkers::explain::shrink(model, ops, Instant::now() + Duration::from_secs(5));
        prop_assert!(!core.is_empty());
        prop_assert!(
            !brute_force(model, &core),
            "core {:#?} of {:#?} is linearizable",
            core,
            ops
        );
    }
    Ok(())
}

fn register() -> CasRegister {
    CasRegister::new(0, Arc::new(vec![Val::Int(0), Val::Int(1), Val::Int(2)]))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn cas_register_agrees(ops in ops(reg_op())) {
        agree(&register(), &ops)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn mutex_agrees(ops in ops(prop_oneof![Just(MutexOp::Acquire), Just(MutexOp::Release)])) {
        agree(&Mutex, &ops)?;
    }

    #[test]
    fn kv_agrees(ops in ops(prop_oneof![
        (0usize..6).prop_map(|i| (0u8, i)),
        Just((1u8, 0usize)),
        (0usize..2).prop_map(|i| (2u8, i)),
        (0usize..3).prop_map(|i| (3u8, i)),
    ])) {
        // Gets name strings the appends can build ("ab"), overshoot ("aba" needs three) or
        // never reach ("ba" after a put of "b" only); appends include one that is no get's
        // prefix ("c"), so states die and revive with a put.
        let gets = ["", "a", "ab", "b", "aba", "ba"];
        let puts = ["a", "b"];
        let appends = ["a", "b", "c"];
        let kv = Kv::new("", gets.iter().chain(&puts).chain(&appends).copied());
        let id = |s: &str| kv.id(s).expect("every string was given to the model");
        let ops: Vec<Operation<(KvOp, NaiveOp)>> = ops
            .into_iter()
            .map(|o| Operation {
                op: match o.op {
                    (0, i) => (KvOp::Get(id(gets[i])), NaiveOp::Get(gets[i])),
                    (1, _) => (KvOp::GetAny, NaiveOp::GetAny),
                    (2, i) => (KvOp::Put(id(puts[i])), NaiveOp::Put(puts[i])),
                    (_, i) => (KvOp::Append(id(appends[i])), NaiveOp::Append(appends[i])),
                },
                call: o.call,
                ret: o.ret,
                meta: o.meta,
            })
            .collect();
        let fast: Vec<Operation<KvOp>> = ops.iter().map(|o| with_op(o, o.op.0)).collect();
        let naive: Vec<Operation<NaiveOp>> = ops.iter().map(|o| with_op(o, o.op.1)).collect();
        // The fast model merges strings; brute force over plain strings is the reference.
        let expected = brute_force(&NaiveKv, &naive);
        let got = check(&kv, &fast, &limits());
        prop_assert_eq!(
            matches!(got, Verdict::Valid),
            expected,
            "kv: fast {:?}, plain strings by brute force {}",
            got,
            expected
        );
        agree(&kv, &fast)?;
    }

    #[test]
    fn multi_register_agrees(ops in ops(prop::collection::vec(prop_oneof![
        (0u16..2, prop::option::of(0u32..5)).prop_map(|(r, v)| MicroOp::Read(r, v)),
        (0u16..2, 0u32..3).prop_map(|(r, v)| MicroOp::Write(r, v)),
        (0u16..2, 1u32..3).prop_map(|(r, v)| MicroOp::Append(r, v)),
    ], 1..3))) {
        let m = MultiRegister::new(vec![Val::Kw("x".into()), Val::Kw("y".into())], &Val::Nil);
        // Value ids: 0 nil, 1 and 2 the integers, 3 the list [1], 4 the list [1 2].
        let values = [
            Val::Nil,
            Val::Int(1),
            Val::Int(2),
            Val::List(vec![Val::Int(1)].into()),
            Val::List(vec![Val::Int(1), Val::Int(2)].into()),
        ];
        for (id, v) in values.iter().enumerate() {
            assert_eq!(m.intern(v), id as u32);
        }
        agree(&m, &ops)?;
    }
}

#[test]
fn reductions_drop_unobserved_crashed_writes_only() {
    let mut ops = vec![
        Operation::new(RegOp::Write(1), 0, 1),
        Operation::crashed(RegOp::Write(2), 2),
        Operation::crashed(RegOp::Cas(1, 2), 3),
        Operation::crashed(RegOp::Write(1), 4),
        Operation::new(RegOp::ReadAny, 5, 6),
        Operation::new(RegOp::Read(1), 7, 8),
    ];
    let dropped = checkers::reduce::reduce_register(&mut ops);
    // Nobody reads 2 or compares with it: both writes of 2 go, and the read of nothing.
    assert_eq!(dropped, 3);
    assert!(ops
        .iter()
        .all(|o| !matches!(o.op, RegOp::Write(2) | RegOp::Cas(1, 2) | RegOp::ReadAny)));
}

fn with_op<A, B>(o: &Operation<A>, op: B) -> Operation<B> {
    Operation {
        op,
        call: o.call,
        ret: o.ret,
        meta: o.meta.clone(),
    }
}

/// The kv model the obvious way: the state is the string itself.
#[derive(Clone)]
struct NaiveKv;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum NaiveOp {
    Get(&'static str),
    GetAny,
    Put(&'static str),
    Append(&'static str),
}

impl Model for NaiveKv {
    type State = String;
    type Scratch = ();
    type Op = NaiveOp;

    fn name(&self) -> &'static str {
        "naive-kv"
    }

    fn init(&self) -> String {
        String::new()
    }

    fn step(&self, s: &String, op: &NaiveOp) -> Option<String> {
        match *op {
            NaiveOp::Get(v) => (s == v).then(|| s.clone()),
            NaiveOp::GetAny => Some(s.clone()),
            NaiveOp::Put(v) => Some(v.to_string()),
            NaiveOp::Append(v) => Some(format!("{s}{v}")),
        }
    }

    fn describe_op(&self, op: &NaiveOp) -> String {
        format!("{op:?}")
    }

    fn describe_state(&self, s: &String) -> String {
        format!("{s:?}")
    }
}

/// Up to ten operations, half of them crashed: the search alone (no reduction, no polynomial
/// path in front of it) against brute force, where crashed operations and their order matter.
fn crash_heavy<O: std::fmt::Debug + Clone>(
    op: impl Strategy<Value = O>,
) -> impl Strategy<Value = Vec<Operation<O>>> {
    let interval =
        (0u64..12, 1u64..6, any::<bool>()).prop_map(|(c, d, crash)| (c, (!crash).then_some(c + d)));
    prop::collection::vec((op, interval), 1..=10).prop_map(operations)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn the_search_alone_agrees_on_crash_heavy_histories(ops in crash_heavy(reg_op())) {
        let model = register();
        let (outcome, _) =
            checkers::search::search(&model, &ops, &checkers::search::Budget::unlimited());
        let expected = brute_force(&model, &ops);
        prop_assert_eq!(
            outcome == checkers::search::SearchOutcome::Linearizable,
            expected,
            "{:?} for {:#?}",
            outcome,
            ops
        );
    }
}
