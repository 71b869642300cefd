//! `results.json`: the verdict, per-checker results, statistics, fault windows, coverage and
//! phase timings of one run. Reports (HTML, JUnit) read this struct back.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use nemesis::Action;
use serde::{Deserialize, Serialize};

pub use checkers::Validity;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckerResult {
    pub name: String,
    pub valid: Validity,
    /// One line for people.
    pub summary: String,
    /// The checker's own report (counterexample, counts, ...).
    #[serde(default)]
    pub detail: serde_json::Value,
}

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
    pub phases: Vec<PhaseTiming>,
}

impl Results {
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let path = dir.join("results.json");
        let text = serde_json::to_string_pretty(self).context("encoding results.json")?;
        std::fs::write(&path, text + "\n").with_context(|| format!("writing {}", path.display()))
    }

    pub fn read(dir: &Path) -> anyhow::Result<Results> {
        let path = dir.join("results.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

/// Coverage per kind from the fault records; kinds the campaign asked for appear even at zero.
pub fn coverage(kinds: &[String], faults: &[FaultRecord]) -> BTreeMap<String, Coverage> {
    let mut map: BTreeMap<String, Coverage> = kinds
        .iter()
        .map(|k| (k.clone(), Coverage::default()))
        .collect();
    for f in faults {
        let c = map.entry(f.kind.clone()).or_default();
        c.scheduled += 1;
        match f.status {
            FaultStatus::Applied => c.applied += 1,
            FaultStatus::Skipped => c.skipped += 1,
            FaultStatus::Failed => c.failed += 1,
            FaultStatus::NotReached => {}
        }
        if f.observed == Some(true) {
            c.observed += 1;
        }
    }
    map
}

/// Notes that keep a run whose faults did not take effect from passing silently: a kind
/// applied but never observed, or failing, makes the verdict at best unknown.
pub fn coverage_notes(coverage: &BTreeMap<String, Coverage>) -> (Vec<String>, bool) {
    let mut notes = Vec::new();
    let mut undermined = false;
    for (kind, c) in coverage {
        if c.failed > 0 {
            undermined = true;
            notes.push(format!(
                "{kind}: {} of {} windows failed to apply",
                c.failed, c.scheduled
            ));
        }
        if c.applied > 0 && c.observed == 0 {
            undermined = true;
            notes.push(format!(
                "{kind}: applied {} times but its effect was never observed",
                c.applied
            ));
        }
        if c.scheduled == 0 {
            notes.push(format!(
                "{kind}: asked for but never scheduled in this run (try a longer duration)"
            ));
        } else if c.applied == 0 && c.failed == 0 {
            notes.push(format!(
                "{kind}: scheduled {} times, never applied",
                c.scheduled
            ));
        }
    }
    (notes, undermined)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: &str, status: FaultStatus, observed: Option<bool>) -> FaultRecord {
        FaultRecord {
            window: 0,
            kind: kind.into(),
            at_ms: 0,
            duration_ms: 0,
            start_ns: None,
            end_ns: None,
            action: None,
            status,
            observed,
            effect: None,
            error: None,
        }
    }

    #[test]
    fn faults_that_never_took_effect_are_reported() {
        let faults = vec![
            record("kill", FaultStatus::Applied, Some(true)),
            record("pause", FaultStatus::Applied, Some(false)),
        ];
        let cov = coverage(
            &["kill".into(), "pause".into(), "partition".into()],
            &faults,
        );
        assert_eq!(cov["kill"].observed, 1);
        let (notes, undermined) = coverage_notes(&cov);
        assert!(undermined);
        assert!(
            notes
                .iter()
                .any(|n| n.starts_with("pause: applied 1 times")),
            "{notes:?}"
        );
        assert!(
            notes.iter().any(|n| n.starts_with("partition: asked for")),
            "{notes:?}"
        );
    }

    #[test]
    fn observed_faults_do_not_undermine() {
        let cov = coverage(
            &["kill".into()],
            &[record("kill", FaultStatus::Applied, Some(true))],
        );
        assert_eq!(coverage_notes(&cov), (vec![], false));
    }
}
