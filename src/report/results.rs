//! `results.json`: the verdict, per-checker results, statistics, fault windows, coverage and
//! phase timings of one run. Written once, typed, by the store; read back through it.

use std::collections::BTreeMap;

use nemesis::Action;
use serde::{Deserialize, Serialize};

pub use checkers::analysis::CheckerResult;
pub use checkers::Validity;

use super::stats::Stats as Analysis;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub ops: u64,
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
    /// Client processes used (each `info` retires one).
    pub processes: u64,
    pub run_ms: u64,
    pub ops_per_sec: f64,
    pub history_events: u64,
    pub history_bytes: u64,
}

/// How a fault window went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultStatus {
    /// In effect (the executor said so).
    Applied,
    /// Not attempted: its targets could not be resolved (e.g. no leader at that moment).
    Skipped,
    /// The executor returned an error.
    Failed,
    /// The run ended before the window's start.
    NotReached,
}

/// One fault window as it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRecord {
    pub window: usize,
    pub kind: String,
    /// Planned offset and length, from the schedule.
    pub at_ms: u64,
    pub duration_ms: u64,
    /// When it really started and ended (history time, ns), for shading windows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_ns: Option<u64>,
    /// The concrete step, targets resolved (what `--replay` repeats).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    pub status: FaultStatus,
    /// Whether its effect was seen (killed node down, paused node silent, partition changed
    /// leadership or terms); `None` when it was not applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Its modes: whom it hit (`kill-leader`, `pause-follower`), where a partition left the
    /// leader (`partition-leader-minority`) and its pattern (`partition-halves`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modes: Vec<String>,
}

/// Per mode: how many windows of it were applied, and seen to take effect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeCoverage {
    pub applied: u64,
    pub observed: u64,
}

/// Per fault kind: how often it was scheduled, applied and seen to take effect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    pub scheduled: u64,
    pub applied: u64,
    pub observed: u64,
    pub skipped: u64,
    pub failed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseTiming {
    pub phase: String,
    pub ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The whole of `results.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub campaign: String,
    pub seed: u64,
    /// Directory name of the run (UTC timestamp).
    pub run: String,
    pub target: String,
    pub valid: Validity,
    /// Why the verdict is not simply the checkers' (interrupted, faults not observed, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub interrupted: bool,
    pub checkers: Vec<CheckerResult>,
    pub stats: Stats,
    pub faults: Vec<FaultRecord>,
    pub coverage: BTreeMap<String, Coverage>,
    /// Coverage per mode (see [`FaultRecord::modes`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub modes: BTreeMap<String, ModeCoverage>,
    /// What the campaign required the run to cover: every kind it asks for, and the modes of
    /// `nemesis.require`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_coverage: Vec<String>,
    /// What the campaign required and the run did not cover; the verdict is then unknown.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_coverage: Vec<String>,
    pub phases: Vec<PhaseTiming>,
    /// The faultline that wrote the results.
    #[serde(default)]
    pub faultline_version: String,
    /// When the run started (its directory's UTC timestamp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// The verdict before `faultline analyze` re-checked the run, to compare.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Previous>,
    /// What only the whole history tells: latency percentiles overall and per fault window,
    /// operations by `f` and outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<Analysis>,
    /// The first violation the online checker found while the run went (register workloads;
    /// see `runner::online`). The verdict is still the check of the whole history after the
    /// run, which a violation found online never contradicts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_violation: Option<FirstViolation>,
    /// What the online checker did (absent when it did not run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online: Option<OnlineStats>,
}

/// A violation found while the run went: the key, when its history stopped being
/// linearizable, the operation whose completion did it, and the checker's core and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FirstViolation {
    /// The checker that found it (`linearizability`).
    pub checker: String,
    pub key: String,
    /// Seconds from the run's start to the completion of `op`: the key's history up to there
    /// is not linearizable, and up to the completion before it (on the key) it was not shown
    /// not to be.
    pub at_s: f64,
    /// Seconds from the run's start to when the online checker found it.
    pub found_s: f64,
    /// The operation whose completion made the key's history not linearizable.
    pub op: ViolationOp,
    /// The checker's core: operations that admit no legal order by themselves.
    pub core: Vec<ViolationOp>,
    pub explanation: String,
    /// Whether it ended the run (`checker.stop_on_violation`).
    pub stopped_run: bool,
}

/// One operation of a violation; indexes are the events' `index` in `history.jsonl`, times
/// are seconds from the run's start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViolationOp {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<i64>,
    /// The call and its observed result (`read 3`, `cas 1->2`).
    pub op: String,
    /// `ok`, `fail`, `info` or `pending` (still running when it was found).
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoke_index: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_index: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoke_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_s: Option<f64>,
}

/// What the online checker did during a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OnlineStats {
    /// Rounds of checks, and key prefixes checked in them.
    pub rounds: u64,
    pub checks: u64,
    /// Time spent in rounds of checks (wall time), ms.
    pub busy_ms: u64,
    /// CPU time of the online checker's thread (receiving lines, keeping them, checking), ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ms: Option<u64>,
    /// Completed operations in the last prefixes checked, over all keys.
    pub ops_checked: u64,
    /// Why it stopped checking a key, or at all, before the run's end.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// A run's verdict as it was recorded, before a re-analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Previous {
    pub valid: Validity,
    /// Each checker's verdict then.
    pub checkers: Vec<(String, Validity)>,
    /// The faultline that wrote it.
    #[serde(default)]
    pub faultline_version: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_round_trip_through_json() {
        let r = Results {
            campaign: "c".into(),
            seed: 7,
            run: "20261206T000000Z".into(),
            target: "3 local nodes".into(),
            valid: Validity::Unknown,
            notes: vec!["interrupted".into()],
            interrupted: true,
            checkers: Vec::new(),
            stats: Stats::default(),
            faults: Vec::new(),
            coverage: BTreeMap::new(),
            modes: BTreeMap::new(),
            required_coverage: Vec::new(),
            missing_coverage: Vec::new(),
            phases: Vec::new(),
            faultline_version: "0.1.0".into(),
            started_at: Some("20261206T000000Z".into()),
            previous: None,
            analysis: None,
            first_violation: None,
            online: None,
        };
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains("\"valid\":\"unknown\""), "{text}");
        assert_eq!(serde_json::from_str::<Results>(&text).unwrap(), r);
    }
}
