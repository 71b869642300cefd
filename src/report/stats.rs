//! Numbers a person reads first: counts by outcome, throughput, latency percentiles overall and
//! inside each fault window.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::run_data::{FaultWindow, Op, Outcome};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Latency {
    pub count: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    /// Latencies of the operations that completed, in nanoseconds.
    pub fn of(mut ns: Vec<u64>) -> Latency {
        if ns.is_empty() {
            return Latency::default();
        }
        ns.sort_unstable();
        let at = |q: f64| {
            // Nearest-rank percentile: the smallest value with at least q of the data at or below it.
            let rank = ((q * ns.len() as f64).ceil() as usize).clamp(1, ns.len());
            ns[rank - 1] as f64 / 1e6
        };
        Latency {
            count: ns.len(),
            p50_ms: at(0.50),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            max_ms: *ns.last().unwrap_or(&0) as f64 / 1e6,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Stats {
    pub ops: usize,
    pub by_outcome: BTreeMap<String, usize>,
    /// `f` → outcome → count.
    pub by_f: BTreeMap<String, BTreeMap<String, usize>>,
    pub duration_s: f64,
    pub throughput_ops_s: f64,
    pub latency: Latency,
    pub windows: Vec<WindowStats>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WindowStats {
    pub fault: String,
    pub detail: String,
    pub start_s: f64,
    pub end_s: Option<f64>,
    pub ops: usize,
    pub by_outcome: BTreeMap<String, usize>,
    pub latency: Latency,
}

pub fn compute(ops: &[Op], windows: &[FaultWindow], end_ns: u64) -> Stats {
    let mut by_outcome = BTreeMap::new();
    let mut by_f: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for op in ops {
        *by_outcome.entry(op.outcome.name().to_owned()).or_insert(0) += 1;
        *by_f
            .entry(op.f.clone())
            .or_default()
            .entry(op.outcome.name().to_owned())
            .or_insert(0) += 1;
    }
    let start_ns = ops.first().map(|o| o.invoke_ns).unwrap_or(0);
    let duration_s = end_ns.saturating_sub(start_ns) as f64 / 1e9;
    let ok = by_outcome.get("ok").copied().unwrap_or(0);
    let windows = windows
        .iter()
        .map(|w| {
            let end = w.end_ns.unwrap_or(end_ns);
            let inside: Vec<&Op> = ops
                .iter()
                .filter(|o| o.invoke_ns >= w.start_ns && o.invoke_ns < end)
                .collect();
            let mut counts = BTreeMap::new();
            for o in &inside {
                *counts.entry(o.outcome.name().to_owned()).or_insert(0) += 1;
            }
            WindowStats {
                fault: w.fault.clone(),
                detail: w.detail.clone(),
                start_s: w.start_ns as f64 / 1e9,
                end_s: w.end_ns.map(|e| e as f64 / 1e9),
                ops: inside.len(),
                by_outcome: counts,
                latency: Latency::of(ok_latencies(inside.into_iter())),
            }
        })
        .collect();
    Stats {
        ops: ops.len(),
        by_outcome,
        by_f,
        duration_s,
        throughput_ops_s: if duration_s > 0.0 {
            ok as f64 / duration_s
        } else {
            0.0
        },
        latency: Latency::of(ok_latencies(ops.iter())),
        windows,
    }
}

fn ok_latencies<'a>(ops: impl Iterator<Item = &'a Op>) -> Vec<u64> {
    ops.filter(|o| o.outcome == Outcome::Ok)
        .filter_map(Op::latency_ns)
        .collect()
}

/// Completions per time bin, by outcome: `(bin start in seconds, ok, fail, info)`.
pub fn throughput(ops: &[Op], end_ns: u64, bin_ns: u64) -> Vec<(f64, usize, usize, usize)> {
    let bins = (end_ns / bin_ns.max(1)) as usize + 1;
    let mut out: Vec<(f64, usize, usize, usize)> = (0..bins)
        .map(|i| ((i as u64 * bin_ns) as f64 / 1e9, 0, 0, 0))
        .collect();
    for op in ops {
        let t = op.complete_ns.unwrap_or(op.invoke_ns);
        let b = ((t / bin_ns.max(1)) as usize).min(bins - 1);
        match op.outcome {
            Outcome::Ok => out[b].1 += 1,
            Outcome::Fail => out[b].2 += 1,
            Outcome::Info => out[b].3 += 1,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let l = Latency::of((1..=100).map(|i| i * 1_000_000).collect());
        assert_eq!(l.count, 100);
        assert_eq!(l.p50_ms, 50.0);
        assert_eq!(l.p95_ms, 95.0);
        assert_eq!(l.p99_ms, 99.0);
        assert_eq!(l.max_ms, 100.0);
        assert_eq!(Latency::of(vec![]), Latency::default());
    }

    fn op(invoke: u64, complete: Option<u64>, outcome: Outcome) -> Op {
        Op {
            index: 0,
            process: 0,
            f: "read".into(),
            key: None,
            invoke_ns: invoke,
            complete_ns: complete,
            outcome,
            call: serde_json::Value::Null,
            result: serde_json::Value::Null,
        }
    }

    #[test]
    fn windows_count_ops_invoked_inside() {
        let ops = vec![
            op(0, Some(10), Outcome::Ok),
            op(1_000, Some(1_500), Outcome::Info),
            op(2_000, Some(2_100), Outcome::Ok),
        ];
        let w = FaultWindow {
            fault: "kill".into(),
            detail: "n1".into(),
            start_ns: 900,
            end_ns: Some(1_900),
        };
        let s = compute(&ops, &[w], 3_000);
        assert_eq!(s.ops, 3);
        assert_eq!(s.by_outcome["ok"], 2);
        assert_eq!(s.windows[0].ops, 1);
        assert_eq!(s.windows[0].by_outcome["info"], 1);
        let t = throughput(&ops, 3_000, 1_000);
        assert_eq!(t.len(), 4);
        assert_eq!((t[0].1, t[1].3, t[2].1), (1, 1, 1));
    }
}
