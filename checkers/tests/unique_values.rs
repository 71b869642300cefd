//! The polynomial unique-values path ([`checkers::unique`]) must agree with the general search
//! and with the brute-force checker, on many small random histories with crashes whose writes
//! mostly write fresh values (sometimes repeated, sometimes the initial one, so that the
//! undecided case and the fallback are exercised too); and a core it reports must be
//! non-linearizable by itself.

use std::sync::Arc;
use std::time::Duration;

use checkers::brute::brute_force;
use checkers::model::{CasRegister, RegOp};
use checkers::search::{search, Budget, SearchOutcome};
use checkers::unique::{decide, Decision};
use checkers::{check, Limits, Model, OpMeta, Operation, Val, Verdict};
use proptest::prelude::*;

fn register(init: u32) -> CasRegister {
    CasRegister::new(init, Arc::new((0..20).map(Val::Int).collect()))
}

/// Up to 9 operations; op `i` writes the fresh value `i + 1` (a repeat `k` when asked), a cas
/// compares with any value `0..=n` (0 is the initial one), a read names any value `0..=n + 1`
/// (`n + 1`: nobody wrote it). Calls in 0..16, returns 1..8 later, one in four crashed.
fn history() -> impl Strategy<Value = Vec<Operation<RegOp>>> {
    sized(9, 16)
}

/// As [`history`], with up to `max` operations called in `0..span`.
fn sized(max: usize, span: u64) -> impl Strategy<Value = Vec<Operation<RegOp>>> {
    let op = (0u8..10, 0u32..64, 0u8..8, 0u64..span, 1u64..8, 0u8..4);
    prop::collection::vec(op, 1..=max).prop_map(move |v| {
        let n = v.len() as u32;
        v.into_iter()
            .enumerate()
            .map(|(i, (kind, a, repeat, call, d, crash))| {
                let fresh = if repeat == 0 { a % 3 } else { i as u32 + 1 };
                // Long histories run roughly in order and mostly name recent values, so that
                // some are valid; short ones name anything.
                let long = max > 9;
                let recent = |back: u32| (i as u32 + 1).saturating_sub(back);
                let any = |m: u32| if long { recent(a % 5) } else { a % m };
                let call = if long { i as u64 * 2 + call % 8 } else { call };
                let op = match kind {
                    0..=2 => RegOp::Write(fresh),
                    3..=4 => RegOp::Cas(any(n + 1), fresh),
                    5 => RegOp::Cas(any(n + 1), any(n + 1)),
                    6 if repeat < 2 => RegOp::CasFailed(a % (n + 3), fresh),
                    _ => RegOp::Read(any(n + 2)),
                };
                Operation {
                    op,
                    call,
                    ret: (crash != 0).then_some(call + d),
                    meta: OpMeta::default().with_process(i as i64),
                }
            })
            .collect()
    })
}

/// One line per history: `op@call-ret` (`-` crashed).
fn show(ops: &[Operation<RegOp>]) -> String {
    ops.iter()
        .map(|o| match o.ret {
            Some(r) => format!("{:?}@{}-{r}", o.op, o.call),
            None => format!("{:?}@{}-", o.op, o.call),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn general_search(model: &CasRegister, ops: &[Operation<RegOp>]) -> bool {
    let mut ops = ops.to_vec();
    model.reduce(&mut ops);
    match search(model, &ops, &Budget::unlimited()).0 {
        SearchOutcome::Linearizable => true,
        SearchOutcome::NotLinearizable => false,
        other => panic!("no limit was set, yet {other:?}"),
    }
}

fn agree(init: u32, ops: &[Operation<RegOp>]) -> Result<bool, TestCaseError> {
    let model = register(init);
    let expected = brute_force(&model, ops);
    prop_assert_eq!(
        general_search(&model, ops),
        expected,
        "search, ops {}",
        show(ops)
    );
    let mut reduced = ops.to_vec();
    model.reduce(&mut reduced);
    let decided = decide(init, &reduced);
    match &decided {
        None => {}
        Some(Decision::Valid) => prop_assert!(expected, "unique says valid: {}", show(ops)),
        Some(Decision::Invalid { core }) => {
            prop_assert!(!expected, "unique says invalid: {}", show(ops));
            let sub: Vec<_> = core.iter().map(|&i| reduced[i].clone()).collect();
            prop_assert!(!sub.is_empty());
            prop_assert!(
                !brute_force(&model, &sub),
                "core {} of {} is linearizable",
                show(&sub),
                show(ops)
            );
        }
    }
    // And the checker as a whole (which takes the unique path when it can).
    let limits = Limits {
        threads: 1,
        shrink_time: Duration::from_secs(2),
        ..Limits::default()
    };
    let got = check(&model, ops, &limits);
    prop_assert_eq!(
        got == Verdict::Valid,
        expected,
        "check: {:?} on {}",
        got,
        show(ops)
    );
    Ok(decided.is_some())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6000, ..ProptestConfig::default() })]

    #[test]
    fn unique_values_agree_with_search_and_brute_force(ops in history(), init in 0u32..2) {
        agree(init, &ops)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    /// Longer histories (up to 40 operations): too many for brute force, not for the search.
    #[test]
    fn longer_unique_histories_agree_with_the_search(ops in sized(40, 60), init in 0u32..2) {
        let model = register(init);
        let expected = general_search(&model, &ops);
        let mut reduced = ops.clone();
        model.reduce(&mut reduced);
        match decide(init, &reduced) {
            None => {}
            Some(Decision::Valid) => prop_assert!(expected, "unique says valid: {}", show(&ops)),
            Some(Decision::Invalid { core }) => {
                prop_assert!(!expected, "unique says invalid: {}", show(&ops));
                let sub: Vec<_> = core.iter().map(|&i| reduced[i].clone()).collect();
                prop_assert!(!general_search(&model, &sub), "core {} is linearizable", show(&sub));
            }
        }
    }
}

/// The generators above must mostly give histories the unique path decides, both valid and
/// invalid ones, or the properties say little.
#[test]
fn the_unique_path_decides_most_generated_histories() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    for (max, span) in [(9, 16), (40, 60)] {
        let mut runner = TestRunner::deterministic();
        let (mut valid, mut invalid) = (0, 0);
        for _ in 0..2000 {
            let ops = sized(max, span).new_tree(&mut runner).unwrap().current();
            let mut reduced = ops.clone();
            register(0).reduce(&mut reduced);
            match decide(0, &reduced) {
                Some(Decision::Valid) => valid += 1,
                Some(Decision::Invalid { .. }) => invalid += 1,
                None => {}
            }
        }
        assert!(
            valid + invalid > 1000 && valid > 150 && invalid > 150,
            "{max} ops: valid {valid}, invalid {invalid} of 2000"
        );
    }
}
