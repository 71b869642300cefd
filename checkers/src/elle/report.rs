//! What a transactional check reports: each anomaly with the transactions involved, its steps
//! in plain words and the models it rules out; the verdict under the chosen model.

use std::collections::BTreeMap;

use serde::Serialize;

use super::graph::Label;
use super::txn::Outcome;
use crate::Validity;

/// Anomalies of one kind kept with their details (the counts go on).
pub const KEEP: usize = 8;

/// An anomaly found without a cycle search (G1a, internal, lost update, ...).
#[derive(Debug, Clone)]
pub struct Finding {
    pub anomaly: &'static str,
    /// The transactions involved (indices in the history's transactions).
    pub txns: Vec<u32>,
    pub text: String,
}

impl Finding {
    pub fn new(anomaly: &'static str, txns: Vec<u32>, text: String) -> Finding {
        Finding {
            anomaly,
            txns,
            text,
        }
    }
}

/// Findings, at most [`KEEP`] of a kind, all counted.
#[derive(Debug, Default)]
pub struct Findings {
    pub list: Vec<Finding>,
    pub counts: BTreeMap<&'static str, usize>,
}

impl Findings {
    pub fn push(&mut self, f: Finding) {
        let n = self.counts.entry(f.anomaly).or_default();
        *n += 1;
        if *n <= KEEP {
            self.list.push(f);
        }
    }
}

/// A transaction as a report shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TxnView {
    /// `T<position of its invocation in the history>`.
    pub id: String,
    pub process: i64,
    pub invoke: usize,
    pub complete: Option<usize>,
    pub outcome: Outcome,
    /// Its micro-ops as text (`append x 3`, `r x [1 2]`).
    pub ops: Vec<String>,
}

/// One step of a cycle.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub from: String,
    pub to: String,
    pub kind: Label,
    /// In words: "T1 appended 3 to x, which T2 read (x = [1 3]) (wr)".
    pub text: String,
}

/// One anomaly found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Anomaly {
    /// Elle's name: `G0`, `G1c`, `G-single-realtime`, `lost-update`, ...
    pub name: String,
    pub txns: Vec<TxnView>,
    /// A cycle's steps, in order (empty for anomalies that are no cycle).
    pub steps: Vec<Step>,
    /// The whole explanation in one text: the steps, then the cycle (`T1 < T2 < T1`).
    pub explanation: String,
    /// The consistency models it rules out, strongest first.
    pub ruled_out: Vec<String>,
}

/// A transactional check's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ElleReport {
    /// `list-append` or `rw-register`.
    pub workload: String,
    pub valid: Validity,
    /// The model checked (or the anomalies chosen with `--anomalies`).
    pub model: String,
    /// Every anomaly kind found, with how many times (cycles: how many components).
    pub counts: BTreeMap<String, usize>,
    /// The found kinds that count as violations under the model.
    pub violations: Vec<String>,
    /// Up to a few of each kind, explained.
    pub anomalies: Vec<Anomaly>,
    /// The models what was found rules out, strongest first.
    pub ruled_out: Vec<String>,
    /// Why the verdict is unknown: what was and was not searched.
    pub reason: Option<String>,
    pub txns: usize,
    pub edges: usize,
    /// Components of the dependency graph with more than one transaction.
    pub components: usize,
    pub millis: f64,
}

impl ElleReport {
    /// One line for people.
    pub fn summary(&self) -> String {
        let found: Vec<String> = self
            .counts
            .iter()
            .map(|(k, n)| format!("{k} ×{n}"))
            .collect();
        match self.valid {
            Validity::Valid if found.is_empty() => format!(
                "{} {} txns: no anomalies; {} holds ({:.0} ms)",
                self.txns, self.workload, self.model, self.millis
            ),
            Validity::Valid => format!(
                "{} {} txns: {} holds; found only anomalies it allows: {}",
                self.txns,
                self.workload,
                self.model,
                found.join(", ")
            ),
            Validity::Invalid => format!(
                "{} {} txns: not {}: {}",
                self.txns,
                self.workload,
                self.model,
                self.violations.join(", ")
            ),
            Validity::Unknown => format!(
                "{} {} txns: no verdict: {}",
                self.txns,
                self.workload,
                self.reason.as_deref().unwrap_or("unknown")
            ),
        }
    }
}
