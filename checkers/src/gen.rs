//! A seeded generator of register histories, for benchmarks and tests.
//!
//! Construction, as Jepsen workloads behave: `procs` workers issue operations back to back;
//! each operation gets a linearization point inside its interval (a crashed one: after its
//! invocation, or never) and its result is computed from the register's state at that point,
//! so the history is linearizable by construction. With `stale_rate > 0`, some reads instead
//! return a value the register held before a write that had already completed when the read
//! was invoked; with unique values such a read makes the history not linearizable.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::history::{Event, EventType, NemesisTag, Process};

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenConfig {
    pub seed: u64,
    /// Concurrent client workers (a crashed worker continues as a new process id).
    pub procs: usize,
    /// Operations in total, over all keys.
    pub ops: usize,
    pub keys: usize,
    /// Fraction of operations that crash (`info`: unknown outcome).
    pub crash_rate: f64,
    /// Fraction of writes and cas that definitely fail (`fail`: did not happen).
    pub fail_rate: f64,
    /// `None`: every write and cas writes a fresh value; `Some(n)`: values drawn from `0..n`.
    pub values: Option<u32>,
    /// Fraction of reads that return a stale value.
    pub stale_rate: f64,
    /// Whether to issue compare-and-set operations (else a plain register).
    pub cas: bool,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            seed: 1,
            procs: 10,
            ops: 1000,
            keys: 1,
            crash_rate: 0.02,
            fail_rate: 0.02,
            values: Some(5),
            stale_rate: 0.0,
            cas: true,
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum F {
    Read,
    Write,
    Cas,
}

struct GenOp {
    proc: u64,
    key: usize,
    f: F,
    arg: (Option<i64>, Option<i64>),
    inv: f64,
    ret: f64,
    crashed: bool,
    failed: bool,
    lin: Option<f64>,
    result: Option<Option<i64>>,
    cas_ok: bool,
}

/// Generates a history as faultline events (the format `faultline check` reads).
pub fn generate(cfg: &GenConfig) -> Vec<Event> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let procs = cfg.procs.max(1);
    let keys = cfg.keys.max(1);
    let mut clock = vec![0.0f64; procs];
    let mut proc_id: Vec<u64> = (0..procs as u64).collect();
    let mut next_proc = procs as u64;
    let mut fresh = vec![0i64; keys];
    // The register starts absent (null), as faultline's node answers for a missing key.
    let mut written: Vec<Vec<Option<i64>>> = vec![vec![None]; keys];
    let mut ops: Vec<GenOp> = Vec::with_capacity(cfg.ops);
    // Workers become free in time order: the earliest free one next, the lowest-numbered on a
    // tie (a heap of (clock, worker); clocks are never negative, so their bits order as they do).
    let mut free: std::collections::BinaryHeap<std::cmp::Reverse<(u64, usize)>> = (0..procs)
        .map(|w| std::cmp::Reverse((0f64.to_bits(), w)))
        .collect();
    for _ in 0..cfg.ops {
        let w = free.pop().map_or(0, |std::cmp::Reverse((_, w))| w);
        let inv = clock[w] + exp(&mut rng, 2.0);
        let dur = lognormal(&mut rng, 1.0, 0.8);
        let key = rng.gen_range(0..keys);
        let f = match rng.gen_range(0..4) {
            0 | 1 => F::Read,
            2 => F::Write,
            _ if cfg.cas => F::Cas,
            _ => F::Write,
        };
        let mut value = |rng: &mut ChaCha8Rng| match cfg.values {
            Some(n) => Some(i64::from(rng.gen_range(0..n.max(1)))),
            None => {
                fresh[key] += 1;
                Some(fresh[key])
            }
        };
        let arg = match f {
            F::Read => (None, None),
            F::Write => (value(&mut rng), None),
            F::Cas => {
                let from = match cfg.values {
                    Some(_) => value(&mut rng),
                    None => {
                        let w = &written[key];
                        w[w.len() - 1 - rng.gen_range(0..w.len().min(3))]
                    }
                };
                (from, value(&mut rng))
            }
        };
        if f != F::Read {
            written[key].push(if f == F::Write { arg.0 } else { arg.1 });
        }
        let crashed = rng.gen_bool(cfg.crash_rate.clamp(0.0, 1.0));
        let failed = !crashed && f != F::Read && rng.gen_bool(cfg.fail_rate.clamp(0.0, 1.0));
        let lin = if crashed {
            rng.gen_bool(0.5)
                .then(|| inv + rng.gen_range(0.0..dur * 4.0))
        } else if failed {
            None
        } else {
            Some(rng.gen_range(inv..inv + dur))
        };
        ops.push(GenOp {
            proc: proc_id[w],
            key,
            f,
            arg,
            inv,
            ret: inv + dur,
            crashed,
            failed,
            lin,
            result: None,
            cas_ok: false,
        });
        clock[w] = inv + dur;
        free.push(std::cmp::Reverse((clock[w].to_bits(), w)));
        if crashed {
            proc_id[w] = next_proc;
            next_proc += 1;
        }
    }
    apply(cfg, &mut rng, &mut ops);
    events(&ops, keys > 1)
}

fn apply(cfg: &GenConfig, rng: &mut ChaCha8Rng, ops: &mut [GenOp]) {
    let keys = cfg.keys.max(1);
    let mut order: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].lin.is_some()).collect();
    order.sort_by(|&a, &b| {
        ops[a]
            .lin
            .unwrap_or(0.0)
            .total_cmp(&ops[b].lin.unwrap_or(0.0))
    });
    let mut state: Vec<Option<i64>> = vec![None; keys];
    // Per key: (linearization time, completion time, value) of every state change.
    let mut versions: Vec<Vec<(f64, f64, Option<i64>)>> =
        vec![vec![(f64::MIN, f64::MIN, None)]; keys];
    for i in order {
        let o = &mut ops[i];
        let k = o.key;
        match o.f {
            F::Read => {
                o.result = Some(state[k]);
                if cfg.stale_rate > 0.0 && rng.gen_bool(cfg.stale_rate.clamp(0.0, 1.0)) {
                    // The newest version set by an op that completed before this read began;
                    // anything older than it is certainly stale.
                    let v = &versions[k];
                    if let Some(j) = v.iter().rposition(|&(_, done, _)| done < o.inv) {
                        if j > 0 {
                            o.result = Some(v[rng.gen_range(0..j)].2);
                        }
                    }
                }
            }
            F::Write => {
                state[k] = o.arg.0;
                let done = if o.crashed { f64::MAX } else { o.ret };
                versions[k].push((o.lin.unwrap_or(0.0), done, o.arg.0));
            }
            F::Cas => {
                o.cas_ok = state[k] == o.arg.0;
                if o.cas_ok {
                    state[k] = o.arg.1;
                    let done = if o.crashed { f64::MAX } else { o.ret };
                    versions[k].push((o.lin.unwrap_or(0.0), done, o.arg.1));
                }
            }
        }
    }
}

fn events(ops: &[GenOp], keyed: bool) -> Vec<Event> {
    let mut evs: Vec<(f64, u8, usize)> = Vec::with_capacity(ops.len() * 2);
    for (i, o) in ops.iter().enumerate() {
        evs.push((o.inv, 0, i));
        evs.push((o.ret, 1, i));
    }
    evs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let cas_val = |o: &GenOp| serde_json::json!([o.arg.0, o.arg.1]);
    evs.iter()
        .enumerate()
        .map(|(index, &(t, kind, i))| {
            let o = &ops[i];
            let f = match o.f {
                F::Read => "read",
                F::Write => "write",
                F::Cas => "cas",
            };
            let (kind, value) = if kind == 0 {
                let v = match o.f {
                    F::Read => serde_json::Value::Null,
                    F::Write => o.arg.0.into(),
                    F::Cas => cas_val(o),
                };
                (EventType::Invoke, v)
            } else if o.crashed {
                (EventType::Info, serde_json::Value::Null)
            } else if o.failed || (o.f == F::Cas && !o.cas_ok) {
                (
                    EventType::Fail,
                    if o.f == F::Cas {
                        cas_val(o)
                    } else {
                        o.arg.0.into()
                    },
                )
            } else {
                let v = match o.f {
                    F::Read => o
                        .result
                        .flatten()
                        .map_or(serde_json::Value::Null, Into::into),
                    F::Write => o.arg.0.into(),
                    F::Cas => cas_val(o),
                };
                (EventType::Ok, v)
            };
            Event {
                index: index as u64,
                time: (t * 1e6) as u64,
                process: Process::Client(o.proc),
                kind,
                f: f.to_string(),
                key: keyed.then(|| format!("k{}", o.key)),
                value,
                error: (kind == EventType::Info).then(|| "timeout".to_string()),
            }
        })
        .collect()
}

/// Writes events as JSON lines.
pub fn write_jsonl(events: &[Event], out: &mut impl std::io::Write) -> std::io::Result<()> {
    for e in events {
        serde_json::to_writer(&mut *out, e)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// A nemesis event, for histories that exercise the "checkers ignore the nemesis" rule.
pub fn nemesis_event(index: u64, time: u64, f: &str) -> Event {
    Event {
        index,
        time,
        process: Process::Nemesis(NemesisTag::Nemesis),
        kind: EventType::Info,
        f: f.to_string(),
        key: None,
        value: serde_json::Value::Null,
        error: None,
    }
}

fn exp(rng: &mut ChaCha8Rng, mean: f64) -> f64 {
    -mean * (1.0 - rng.gen::<f64>()).ln()
}

fn lognormal(rng: &mut ChaCha8Rng, mu: f64, sigma: f64) -> f64 {
    let (u1, u2): (f64, f64) = (1.0 - rng.gen::<f64>(), rng.gen());
    let n = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    (mu + sigma * n).exp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{self, Format};
    use crate::{check_history, Limits, Verdict};

    fn check(cfg: &GenConfig) -> Verdict {
        let mut buf = Vec::new();
        write_jsonl(&generate(cfg), &mut buf).unwrap();
        let h = parse::parse(&buf, Format::Faultline).unwrap();
        check_history(&h, None, None, &Limits::default())
            .unwrap()
            .verdict
    }

    #[test]
    fn generated_histories_are_valid_by_construction() {
        for seed in 0..20 {
            let cfg = GenConfig {
                seed,
                procs: 8,
                ops: 400,
                keys: 3,
                crash_rate: 0.05,
                ..GenConfig::default()
            };
            assert_eq!(check(&cfg), Verdict::Valid, "seed {seed}");
        }
    }

    #[test]
    fn planted_stale_reads_with_unique_values_are_found() {
        for seed in 0..10 {
            let cfg = GenConfig {
                seed,
                procs: 5,
                ops: 300,
                values: None,
                stale_rate: 0.05,
                ..GenConfig::default()
            };
            assert!(matches!(check(&cfg), Verdict::Invalid(_)), "seed {seed}");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_history() {
        let cfg = GenConfig::default();
        assert_eq!(generate(&cfg), generate(&cfg));
    }
}

#[cfg(test)]
mod resume_tests {
    use super::*;
    use crate::parse::{self, Format};
    use crate::prepare::{prepare, Prepared};
    use crate::search::{search, Budget, Search};
    use crate::Model;

    /// One key's reduced register operations of a generated history.
    fn register_ops(
        cfg: &GenConfig,
    ) -> (
        crate::model::CasRegister,
        Vec<crate::Operation<crate::model::RegOp>>,
    ) {
        let mut buf = Vec::new();
        write_jsonl(&generate(cfg), &mut buf).unwrap();
        let h = parse::parse(&buf, Format::Faultline).unwrap();
        let Ok((_, Prepared::Register(keys))) =
            prepare(&h, None, None, 1, crate::memory::Guard::none())
        else {
            panic!("a register history")
        };
        let k = &keys[0];
        let mut ops = k.ops.clone();
        k.model.reduce(&mut ops);
        (k.model.clone(), ops)
    }

    #[test]
    fn a_hundred_processes_over_five_values_are_decided_in_few_steps() {
        // In call order the search took 11.8 million steps on this history (and more than
        // 256 MB of memo); earliest return first, about 90 steps an operation.
        let cfg = GenConfig {
            procs: 100,
            ops: 10_000,
            crash_rate: 0.05,
            seed: 1,
            ..GenConfig::default()
        };
        let (model, ops) = register_ops(&cfg);
        let budget = Budget {
            max_steps: Some(200 * ops.len() as u64),
            ..Budget::unlimited()
        };
        let (outcome, stats) = search(&model, &ops, &budget);
        assert_eq!(
            outcome,
            crate::search::SearchOutcome::Linearizable,
            "{stats:?} for {} operations",
            ops.len()
        );
    }

    #[test]
    fn a_paused_and_resumed_search_ends_as_a_single_run() {
        for (seed, stale) in [(1, 0.0), (2, 0.0), (3, 0.02), (4, 0.02)] {
            let cfg = GenConfig {
                seed,
                procs: 30,
                ops: 3000,
                values: None,
                stale_rate: stale,
                ..GenConfig::default()
            };
            let (model, ops) = register_ops(&cfg);
            let budget = Budget::unlimited();
            let (once, stats) = search(&model, &ops, &budget);
            let mut s = Search::new(&model, &ops);
            let mut pauses = 0;
            let sliced = loop {
                match s.run(&budget, Some(1)) {
                    Some(o) => break o,
                    None => pauses += 1,
                }
            };
            assert_eq!(once, sliced, "seed {seed}");
            // About one pause per 1024 steps (each resume counts one more step).
            // A valid history takes a step per operation at least, so it pauses.
            if once == crate::search::SearchOutcome::Linearizable {
                assert!(pauses > 0, "seed {seed} never paused");
            }
            assert!(
                pauses as u64 * 1024 + 1024 >= stats.steps,
                "seed {seed}: {pauses} pauses"
            );
        }
    }
}
