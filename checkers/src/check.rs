//! Checking: per key (in parallel), combined by priority, with time and memory limits.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::Result;
use crate::explain::{counterexample, Counterexample};

use crate::model::{Model, ModelKind};
use crate::op::Operation;
use crate::parse::History;
use crate::prepare::{prepare, KeyOps, Prepared};
use crate::search::{search, Budget, Search, SearchOutcome, SearchStats};
use crate::unique::Decision;
use crate::value::Val;
use crate::Validity;

/// Limits and parallelism of a check.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Stop with [`Verdict::Unknown`] after this long (none by default).
    pub time_limit: Option<Duration>,
    /// Stop with [`Verdict::Unknown`] when the searches' caches hold this many bytes.
    pub memory_limit: Option<usize>,
    /// Keys checked at once.
    pub threads: usize,
    /// Time allowed for shrinking a counterexample (after the verdict is known); zero turns
    /// counterexamples off.
    pub shrink_time: Duration,
}

/// The cores this process may use, asked of the system once: the answer takes a dozen system
/// calls (cgroup quotas) and would otherwise be asked again by each parse and each `Limits`.
pub fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

impl Default for Limits {
    /// No time limit, 4 GiB of cache, one thread per core, 10 s of shrinking.
    fn default() -> Self {
        Limits {
            time_limit: None,
            memory_limit: Some(4 << 30),
            threads: cores(),
            shrink_time: Duration::from_secs(10),
        }
    }
}

/// The result of a check: invalid beats unknown beats valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    Invalid(Box<Counterexample>),
    /// No verdict: a limit was hit. The reason says which.
    Unknown(String),
}

impl Verdict {
    /// `valid`, `invalid` or `unknown`.
    pub fn label(&self) -> &'static str {
        self.validity().label()
    }

    /// The verdict without its counterexample or reason.
    pub fn validity(&self) -> Validity {
        match self {
            Verdict::Valid => Validity::Valid,
            Verdict::Unknown(_) => Validity::Unknown,
            Verdict::Invalid(_) => Validity::Invalid,
        }
    }

    /// The worse of two verdicts (the first one on a tie).
    pub fn worst(self, other: Verdict) -> Verdict {
        if other.validity() > self.validity() {
            other
        } else {
            self
        }
    }
}

/// One key's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyResult {
    pub key: Option<String>,
    /// Operations of this key, and how many the reductions set aside before searching.
    pub ops: usize,
    pub reduced: usize,
    /// Written as a label: `"valid"`, `"invalid"` or `"unknown"`.
    #[serde(serialize_with = "crate::validity::as_label::serialize")]
    pub valid: Validity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub millis: f64,
    /// What decided the key: `"unique-values"` (the polynomial path of [`crate::unique`]),
    /// `"overwritten-read"` (a read refuted by [`crate::overwritten`]) or `"search"` (the
    /// general search; also a key not decided).
    pub path: &'static str,
    pub steps: u64,
    pub cache_entries: usize,
    /// How far the search got: the most completed operations it linearized in one order, and
    /// the longest prefix (by invocation) of completed operations it linearized in one order.
    /// The unique-values path decides without searching: both are the key's completed ops.
    pub linearized: u64,
    pub prefix: u64,
    /// Completed operations of the key (what `linearized` and `prefix` count towards).
    pub completed: u64,
}

/// The outcome of checking a whole history.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    pub model: ModelKind,
    pub verdict: Verdict,
    pub keys: Vec<KeyResult>,
    pub ops: usize,
    /// Checking, after preparing.
    pub elapsed: Duration,
    /// Preparing: pairing events into operations and splitting them by key.
    pub prepared_in: Duration,
}

/// Checks one key's operations against `model`: the reductions of [`Model::reduce`], then the
/// search, then (when invalid) a shrunk counterexample.
///
/// ```
/// use checkers::{check, Limits, Operation, Verdict};
/// use checkers::model::{CasRegister, RegOp};
/// use checkers::Val;
/// use std::sync::Arc;
///
/// // Values are interned: id 0 is nil, 1 is 1, 2 is 2.
/// let reg = CasRegister::new(0, Arc::new(vec![Val::Nil, Val::Int(1), Val::Int(2)]));
/// // p0 writes 1 (events 0..1), then p1 reads 2 (events 2..3): nobody ever wrote 2.
/// let ops = vec![
///     Operation::new(RegOp::Write(1), 0, 1).with_process(0),
///     Operation::new(RegOp::Read(2), 2, 3).with_process(1),
/// ];
/// match check(&reg, &ops, &Limits::default()) {
///     Verdict::Invalid(cx) => assert!(cx.explanation.contains("read 2")),
///     other => panic!("expected invalid, got {other:?}"),
/// }
/// // With a crashed write of 2, the read can be explained.
/// let mut ops = ops;
/// ops.push(Operation::crashed(RegOp::Write(2), 1).with_process(2));
/// assert_eq!(check(&reg, &ops, &Limits::default()), Verdict::Valid);
/// ```
pub fn check<M: Model>(model: &M, ops: &[Operation<M::Op>], limits: &Limits) -> Verdict {
    let keys = [KeyOps {
        key: None,
        model: model.clone(),
        ops: ops.to_vec(),
    }];
    check_keys(&keys, limits).0
}

/// How long the calling thread checks alone before helper threads join it.
const SOLO: Duration = Duration::from_millis(1);

/// Locks a mutex that nothing panics while holding (a poisoned one is still consistent).
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Checks every key (in parallel, `limits.threads` at a time) and combines the verdicts.
/// The counterexample is that of the first invalid key (in key order among those found).
///
/// Keys are searched in slices of steps from one queue: a key that does not finish within its
/// slice goes to the back with a slice twice as long, and resumes where it stopped. So one key
/// that is cheap to refute is found before an expensive key is exhausted, and no work is
/// repeated; the first invalid key stops the others, which are then reported as not checked.
pub fn check_keys<M: Model>(keys: &[KeyOps<M>], limits: &Limits) -> (Verdict, Vec<KeyResult>) {
    let sizes = keys.iter().map(KeySize::of).collect();
    let reduced = keys
        .iter()
        .map(|k| {
            if M::REDUCES {
                let mut ops = k.ops.clone();
                k.model.reduce(&mut ops);
                ops.into()
            } else {
                k.ops[..].into()
            }
        })
        .collect();
    check_reduced(keys, reduced, sizes, limits)
}

/// [`check_keys`] on keys it may reduce in place: no second copy of every key's operations
/// (on 10M operations, 1.2 GB at the check's peak). The keys hold their reduced operations
/// afterwards.
pub fn check_keys_owned<M: Model>(
    keys: &mut [KeyOps<M>],
    limits: &Limits,
) -> (Verdict, Vec<KeyResult>) {
    let sizes = keys.iter().map(KeySize::of).collect();
    if M::REDUCES {
        for k in keys.iter_mut() {
            k.model.reduce(&mut k.ops);
        }
    }
    let reduced = keys.iter().map(|k| k.ops[..].into()).collect();
    check_reduced(keys, reduced, sizes, limits)
}

/// A key's operations before reduction, for its report.
struct KeySize {
    ops: usize,
    completed: u64,
}

impl KeySize {
    fn of<M: Model>(k: &KeyOps<M>) -> Self {
        KeySize {
            ops: k.ops.len(),
            completed: k.ops.iter().filter(|o| o.ret.is_some()).count() as u64,
        }
    }
}

/// Checks `keys` whose operations, reduced, are `reduced` (the keys' own operations serve only
/// for names and models).
fn check_reduced<M: Model>(
    keys: &[KeyOps<M>],
    reduced: Vec<std::borrow::Cow<'_, [Operation<M::Op>]>>,
    sizes: Vec<KeySize>,
    limits: &Limits,
) -> (Verdict, Vec<KeyResult>) {
    let start = Instant::now();
    let threads = limits.threads.clamp(1, keys.len().max(1));
    // Most keys need a few steps per operation and finish in their first slice, so few searches
    // are paused at once (each keeps its memo); a slice of 4 steps an operation rather than 10
    // reaches a key that is cheap to refute sooner (c50-bad: 8% fewer instructions), and the
    // 1M-operation, 1,000-key history peaked at the same memory.
    let largest = reduced.iter().map(|r| r.len()).max().unwrap_or(0) as u64;
    let first_slice = (keys.len() > 1).then_some((4 * largest).max(1024));
    // One budget for all slices: paused searches keep their memo, which stays accounted.
    let budget = Budget {
        deadline: limits.time_limit.map(|t| start + t),
        memory_limit: limits.memory_limit,
        ..Budget::unlimited()
    };
    let queue: std::sync::Mutex<std::collections::VecDeque<(usize, Option<u64>)>> =
        std::sync::Mutex::new((0..keys.len()).map(|i| (i, first_slice)).collect());
    // Each key's paused search, and the milliseconds spent on it so far; only the worker that
    // popped the key from the queue touches its slot.
    type Slot<'a, M> = std::sync::Mutex<Option<(Search<'a, M>, f64)>>;
    let slots: Vec<Slot<'_, M>> = (0..keys.len())
        .map(|_| std::sync::Mutex::new(None))
        .collect();
    // Parsing and preparing already took the process past its memory limit: nothing is checked.
    let before = limits.memory_limit.and_then(|limit| {
        crate::memory::over(limit, 0).map(|rss| {
            format!(
                "{}, before checking (parsing and preparing the history)",
                crate::memory::reason(limit, rss)
            )
        })
    });
    // The core found by the polynomial path of an invalid key.
    let cores: Vec<std::sync::Mutex<Option<Vec<usize>>>> = (0..keys.len())
        .map(|_| std::sync::Mutex::new(None))
        .collect();
    // What each worker saw finish.
    let worker = |until: Option<Instant>| {
        let mut done = Vec::new();
        loop {
            if until.is_some_and(|t| Instant::now() >= t) {
                break;
            }
            let Some((i, slice)) = lock(&queue).pop_front() else {
                break;
            };
            let mut slot = lock(&slots[i]);
            if let Some(why) = &before {
                done.push(Done {
                    key: i,
                    outcome: SearchOutcome::Stopped(why.clone()),
                    stats: Default::default(),
                    ms: 0.0,
                    path: SEARCH,
                });
                continue;
            }
            if budget.cancel.load(Ordering::Relaxed) {
                // Another key is already not linearizable: this one is not checked (and a
                // search not yet begun is not built).
                let (stats, ms) = slot
                    .take()
                    .map_or((Default::default(), 0.0), |(s, ms)| (s.stats(), ms));
                done.push(Done {
                    key: i,
                    outcome: SearchOutcome::Stopped("cancelled".into()),
                    stats,
                    ms,
                    path: SEARCH,
                });
                continue;
            }
            let (mut s, ms) = match slot.take() {
                Some(paused) => paused,
                None => {
                    // First time: the polynomial path, when the model has one for this key.
                    let t0 = Instant::now();
                    if let Some((d, path)) = keys[i].model.decide(&reduced[i]) {
                        let ms = t0.elapsed().as_secs_f64() * 1e3;
                        let outcome = match d {
                            Decision::Valid => SearchOutcome::Linearizable,
                            Decision::Invalid { ref core } => {
                                budget.cancel.store(true, Ordering::Relaxed);
                                *lock(&cores[i]) = Some(core.clone());
                                SearchOutcome::NotLinearizable
                            }
                        };
                        done.push(Done {
                            key: i,
                            outcome,
                            stats: Default::default(),
                            ms,
                            path,
                        });
                        continue;
                    }
                    let ms = t0.elapsed().as_secs_f64() * 1e3;
                    (Search::new(&keys[i].model, &reduced[i]), ms)
                }
            };
            let t0 = Instant::now();
            let outcome = s.run(&budget, slice);
            let ms = ms + t0.elapsed().as_secs_f64() * 1e3;
            match outcome {
                None | Some(SearchOutcome::StepLimit) => {
                    *slot = Some((s, ms));
                    drop(slot);
                    lock(&queue).push_back((i, slice.map(|n| n.saturating_mul(2))));
                }
                Some(outcome) => {
                    if outcome == SearchOutcome::NotLinearizable {
                        budget.cancel.store(true, Ordering::Relaxed);
                    }
                    done.push(Done {
                        key: i,
                        outcome,
                        stats: s.stats(),
                        ms,
                        path: SEARCH,
                    });
                }
            }
        }
        done
    };
    // Starting a thread costs a fraction of a millisecond, more than most multi-key checks
    // take: the calling thread starts alone, and helpers join only when the check outlasts that.
    let mut finished = worker((threads > 1).then(|| start + SOLO));
    if threads > 1 && !lock(&queue).is_empty() {
        std::thread::scope(|s| {
            let handles: Vec<_> = (1..threads).map(|_| s.spawn(|| worker(None))).collect();
            finished.extend(worker(None));
            for h in handles {
                // A panic in a worker is a bug; re-raise it rather than report a verdict.
                finished.extend(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
            }
        });
    }
    let mut results: Vec<Option<KeyResult>> = (0..keys.len()).map(|_| None).collect();
    let first_invalid = finished
        .iter()
        .filter(|d| d.outcome == SearchOutcome::NotLinearizable)
        .map(|d| d.key)
        .min();
    for Done {
        key: i,
        outcome,
        stats,
        ms,
        path,
    } in finished
    {
        let completed = sizes[i].completed;
        let (linearized, prefix) = if path == UNIQUE && outcome == SearchOutcome::Linearizable {
            (completed, completed)
        } else {
            (stats.max_linearized, stats.max_prefix)
        };
        let (valid, reason) = match outcome {
            SearchOutcome::Linearizable => (Validity::Valid, None),
            SearchOutcome::NotLinearizable => (Validity::Invalid, None),
            SearchOutcome::Stopped(r) if r == "cancelled" => (
                Validity::Unknown,
                Some(format!(
                    "not checked: key {} is already not linearizable",
                    first_invalid
                        .and_then(|f| keys[f].key.as_deref())
                        .unwrap_or("-")
                )),
            ),
            SearchOutcome::Stopped(r) => (Validity::Unknown, Some(r)),
            SearchOutcome::StepLimit => (Validity::Unknown, Some("step limit reached".into())),
        };
        results[i] = Some(KeyResult {
            key: keys[i].key.clone(),
            ops: sizes[i].ops,
            reduced: sizes[i].ops - reduced[i].len(),
            valid,
            reason,
            millis: ms,
            path,
            linearized,
            prefix,
            completed,
            steps: if valid == Validity::Unknown && first_invalid.is_some() {
                0
            } else {
                stats.steps
            },
            cache_entries: stats.cache_entries,
        });
    }
    let mut verdict = Verdict::Valid;
    for r in results.iter().flatten() {
        if r.valid == Validity::Unknown && first_invalid.is_none() {
            verdict = verdict.worst(Verdict::Unknown(format!(
                "{}{}",
                r.key
                    .as_ref()
                    .map(|k| format!("key {k}: "))
                    .unwrap_or_default(),
                r.reason.clone().unwrap_or_default()
            )));
        }
    }
    if let Some(f) = first_invalid {
        verdict = Verdict::Invalid(Box::new(if limits.shrink_time.is_zero() {
            Counterexample {
                key: keys[f].key.clone(),
                model: keys[f].model.name().to_string(),
                ops: Vec::new(),
                explanation: "not explained (counterexamples were turned off)".into(),
                minimal: false,
            }
        } else {
            let deadline = Instant::now() + limits.shrink_time;
            let core = lock(&cores[f]).take();
            let ops = core_ops(&keys[f].model, &reduced[f], core, deadline);
            counterexample(&keys[f].model, keys[f].key.clone(), &ops, deadline)
        }));
    }
    (verdict, results.into_iter().flatten().collect())
}

/// The path labels of [`KeyResult::path`].
pub const UNIQUE: &str = "unique-values";
pub const OVERWRITTEN: &str = "overwritten-read";
pub const SEARCH: &str = "search";

/// What a worker saw finish: the key, its outcome, the search's statistics, the milliseconds
/// spent on it in all slices, and which path decided it.
struct Done {
    key: usize,
    outcome: SearchOutcome,
    stats: SearchStats,
    ms: f64,
    path: &'static str,
}

/// The operations to shrink a counterexample from: the polynomial path's core when it has one
/// and the search confirms it fails by itself (else, which would be a bug, all of them).
fn core_ops<'a, M: Model>(
    model: &M,
    ops: &'a [Operation<M::Op>],
    core: Option<Vec<usize>>,
    deadline: Instant,
) -> std::borrow::Cow<'a, [Operation<M::Op>]> {
    let Some(core) = core else {
        return ops.into();
    };
    let sub: Vec<Operation<M::Op>> = core.iter().map(|&i| ops[i].clone()).collect();
    let mut budget = Budget::unlimited();
    budget.deadline = Some(deadline);
    budget.max_steps = Some(2_000_000);
    match search(model, &sub, &budget).0 {
        SearchOutcome::Linearizable => {
            debug_assert!(false, "the unique-values core is linearizable: {sub:?}");
            ops.into()
        }
        _ => sub.into(),
    }
}

/// Checks a prepared history.
/// The prepared operations are reduced in place (see [`check_keys_owned`]).
pub fn check_prepared(model: ModelKind, p: &mut Prepared, limits: &Limits) -> CheckResult {
    let start = Instant::now();
    let ops = p.total_ops();
    let (mut verdict, keys) = match p {
        Prepared::Register(k) => check_keys_owned(k, limits),
        Prepared::MultiRegister(k) => check_keys_owned(k, limits),
        Prepared::Mutex(k) => check_keys_owned(k, limits),
        Prepared::Kv(k) => check_keys_owned(k, limits),
    };
    if let Verdict::Invalid(cx) = &mut verdict {
        // The register model also serves plain registers; name the one the user sees.
        cx.model = model.name().to_string();
    }
    CheckResult {
        model,
        verdict,
        keys,
        ops,
        elapsed: start.elapsed(),
        prepared_in: Duration::ZERO,
    }
}

/// Checks a parsed history: applies its format's semantics, infers the model unless `model`
/// is given, and checks every key. `initial` overrides the model's initial value.
pub fn check_history(
    h: &History,
    model: Option<ModelKind>,
    initial: Option<&Val>,
    limits: &Limits,
) -> Result<CheckResult> {
    let start = Instant::now();
    let guard = crate::memory::Guard::new(limits.memory_limit);
    let (kind, mut prepared) = prepare(h, model, initial, limits.threads, guard)?;
    let prepared_in = start.elapsed();
    let mut result = check_prepared(kind, &mut prepared, limits);
    result.prepared_in = prepared_in;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_beats_unknown_beats_valid() {
        let invalid = || {
            Verdict::Invalid(Box::new(Counterexample {
                key: None,
                model: "m".into(),
                ops: Vec::new(),
                explanation: String::new(),
                minimal: true,
            }))
        };
        let unknown = || Verdict::Unknown("time limit reached".into());
        assert_eq!(Verdict::Valid.worst(unknown()), unknown());
        assert_eq!(unknown().worst(invalid()), invalid());
        assert_eq!(invalid().worst(unknown()), invalid());
        assert_eq!(Verdict::Valid.worst(Verdict::Valid), Verdict::Valid);
    }

    /// Many keys, one of them refuted: the verdict names it whatever the number of workers,
    /// every key has a result, and the keys left unchecked say why.
    #[test]
    fn one_invalid_key_among_many_is_found_and_named() {
        use crate::model::{CasRegister, RegOp};
        use std::sync::Arc;
        let model = CasRegister::new(0, Arc::new(vec![Val::Nil, Val::Int(1), Val::Int(2)]));
        let key = |k: usize, bad: bool| {
            // Writes of 1 and 2, each overlapping a read of it.
            let mut ops = Vec::new();
            for j in 0..400u64 {
                let t = 4 * j;
                let v = 1 + (j % 2) as u32;
                ops.push(Operation::new(RegOp::Write(v), t, t + 2).with_process(0));
                ops.push(Operation::new(RegOp::Read(v), t + 1, t + 3).with_process(1));
            }
            if bad {
                // A read of 1 long after the last write (of 2) completed.
                ops.push(Operation::new(RegOp::Read(1), 5000, 5001).with_process(2));
            }
            KeyOps {
                key: Some(format!("k{k}")),
                model: model.clone(),
                ops,
            }
        };
        let keys: Vec<_> = (0..12).map(|k| key(k, k == 7)).collect();
        for threads in [1, 2, 4] {
            let limits = Limits {
                threads,
                shrink_time: Duration::ZERO,
                ..Limits::default()
            };
            let (verdict, results) = check_keys(&keys, &limits);
            match verdict {
                Verdict::Invalid(cx) => assert_eq!(cx.key.as_deref(), Some("k7")),
                other => panic!("{threads} threads: {other:?}"),
            }
            assert_eq!(results.len(), 12);
            assert_eq!(
                results
                    .iter()
                    .filter(|r| r.valid == Validity::Invalid)
                    .count(),
                1,
                "{threads} threads"
            );
            for r in results.iter().filter(|r| r.valid == Validity::Unknown) {
                let why = r.reason.as_deref().unwrap_or_default();
                assert!(why.contains("key k7 is already not linearizable"), "{why}");
            }
        }
        let valid: Vec<_> = (0..6).map(|k| key(k, false)).collect();
        let limits = Limits {
            threads: 2,
            ..Limits::default()
        };
        let (verdict, results) = check_keys(&valid, &limits);
        assert_eq!(verdict, Verdict::Valid);
        assert!(results
            .iter()
            .all(|r| r.valid == Validity::Valid && r.steps > 0));
    }

    /// Reducing the keys in place reports what reducing a copy does: the same verdicts, and
    /// each key's operations and dropped operations counted before the reduction.
    #[test]
    fn keys_reduced_in_place_report_as_keys_reduced_on_a_copy() {
        use crate::model::{CasRegister, RegOp};
        use std::sync::Arc;
        let model = CasRegister::new(0, Arc::new(vec![Val::Nil, Val::Int(1), Val::Int(2)]));
        let key = |k: u64| {
            let ops = vec![
                Operation::new(RegOp::Write(1), 0, 2).with_process(0),
                Operation::new(RegOp::ReadAny, 1, 3).with_process(1),
                Operation::crashed(RegOp::Read(1), 4).with_process(2),
                Operation::crashed(RegOp::Write(2), 5).with_process(3),
                Operation::new(RegOp::Read(1 + (k % 2) as u32), 6, 7).with_process(4),
            ];
            KeyOps {
                key: Some(format!("k{k}")),
                model: model.clone(),
                ops,
            }
        };
        let keys: Vec<_> = (0..4).map(key).collect();
        let limits = Limits {
            shrink_time: Duration::ZERO,
            ..Limits::default()
        };
        let (copy_verdict, copy) = check_keys(&keys, &limits);
        let mut owned = keys.clone();
        let (own_verdict, own) = check_keys_owned(&mut owned, &limits);
        assert_eq!(copy_verdict, own_verdict);
        assert_eq!(copy.len(), own.len());
        for (a, b) in copy.iter().zip(&own) {
            assert_eq!(
                (&a.key, a.valid, a.ops, a.reduced, a.completed),
                (&b.key, b.valid, b.ops, b.reduced, b.completed)
            );
            assert_eq!((a.ops, a.completed), (5, 3), "{a:?}");
        }
        // Dropped everywhere: the unknown read and the crashed read. Keys k1 and k3 read 2,
        // which only the crashed write gives, so it stays; in k0 and k2 nobody observes 2.
        let dropped: Vec<usize> = copy.iter().map(|r| r.reduced).collect();
        assert_eq!(dropped, vec![3, 2, 3, 2]);
        assert!(copy.iter().all(|r| r.valid == Validity::Valid), "{copy:?}");
        let left: Vec<usize> = owned.iter().map(|k| k.ops.len()).collect();
        assert_eq!(left, vec![2, 3, 2, 3], "reduced in place");
    }

    /// Preparing stops at the memory limit (a limit below what the process holds stops it at
    /// its first look), with the reason, and without the limit the same history checks.
    #[test]
    fn preparing_stops_at_the_memory_limit() {
        let src = "{:process 0, :type :invoke, :f :write, :value 1}\n\
                   {:process 0, :type :ok, :f :write, :value 1}\n";
        let h = crate::parse::parse(src.as_bytes(), crate::parse::Format::Edn).unwrap();
        let tight = Limits {
            memory_limit: Some(1),
            ..Limits::default()
        };
        match check_history(&h, None, None, &tight) {
            Err(crate::Error::MemoryLimit(why)) => {
                assert!(
                    why.contains("while pairing the operations of line 1"),
                    "{why}"
                )
            }
            other => panic!("expected the memory limit, got {other:?}"),
        }
        let r = check_history(&h, None, None, &Limits::default()).unwrap();
        assert_eq!(r.verdict, Verdict::Valid);
    }
}
