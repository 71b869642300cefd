//! An Elle-style transactional checker (Kingsbury and Alvaro, "Elle: Inferring Isolation
//! Anomalies from Experimental Observations", 2020), for list-append and rw-register histories.
//!
//! From the transactions' reads it infers each key's version order, builds the dependency
//! graph between transactions (ww, wr, rw, plus process and real-time order), finds its
//! strongly connected components and, inside each, a shortest cycle per anomaly; anomalies
//! that need no cycle (aborted and intermediate reads, internal inconsistency, lost updates,
//! ...) are found on the way. Each anomaly rules out consistency models; the verdict is
//! invalid when one the chosen model prohibits was found.
//!
//! * [`txn`]: transactions as typed data, read from a parsed history;
//! * [`list_append`], [`rw_register`]: version orders, edges, and the anomalies without cycles;
//!   [`internal`]: transactions that do not see their own writes;
//! * [`order`]: process and real-time edges, in linear time;
//! * [`graph`], [`scc`], [`cycle`]: the graph, Tarjan's components, the cycle searches;
//! * [`models`]: anomalies, models, and which rules out which;
//! * [`report`]: the result, explained; [`limits`]: time and memory;
//! * [`gen`]: seeded list-append histories, valid or with planted anomalies.
//!
//! ```
//! use checkers::elle::{self, txn::Outcome};
//! use checkers::parse::parse_auto;
//!
//! // T0 reads x empty and appends 1 to y; T1 reads y empty and appends 1 to x: each missed
//! // the other's write, a G2 (write skew), which snapshot isolation allows.
//! let edn = b"[{:process 0, :type :invoke, :f :txn, :value [[:r :x nil] [:append :y 1]]}
//!  {:process 1, :type :invoke, :f :txn, :value [[:r :y nil] [:append :x 1]]}
//!  {:process 0, :type :ok, :f :txn, :value [[:r :x []] [:append :y 1]]}
//!  {:process 1, :type :ok, :f :txn, :value [[:r :y []] [:append :x 1]]}
//!  {:process 2, :type :invoke, :f :txn, :value [[:r :x nil] [:r :y nil]]}
//!  {:process 2, :type :ok, :f :txn, :value [[:r :x [1]] [:r :y [1]]]}]";
//! let history = parse_auto(edn).unwrap();
//! let serializable = elle::Options::model("serializable");
//! let r = elle::check_history(&history, &serializable).unwrap();
//! assert_eq!(r.valid, checkers::Validity::Invalid);
//! assert_eq!(r.violations, vec!["G2-item"]);
//! println!("{}", r.anomalies[0].explanation);
//! let si = elle::check_history(&history, &elle::Options::model("snapshot-isolation")).unwrap();
//! assert_eq!(si.valid, checkers::Validity::Valid);
//! ```

pub mod cycle;
pub mod gen;
pub mod graph;
pub mod internal;
pub mod limits;
pub mod list_append;
pub mod models;
pub mod order;
pub mod report;
pub mod rw_register;
pub mod scc;
pub mod txn;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::parse::History;
use crate::Validity;
use graph::{Builder, Label};
use limits::{Budget, Stop};
use report::{Anomaly, ElleReport, Findings, Step, TxnView};
use txn::{ListOp, RegOp, Txn, TxnHistory, TxnKind};

/// What to check for, and within which limits.
#[derive(Debug, Clone)]
pub struct Options {
    /// The consistency model (`strict-serializable` by default, as Elle's).
    pub model: String,
    /// When given, only these anomalies (and those implying them) count as violations,
    /// whatever the model.
    pub anomalies: Option<Vec<String>>,
    pub time_limit: Option<Duration>,
    pub memory_limit: Option<usize>,
}

impl Default for Options {
    fn default() -> Self {
        Options::model("strict-serializable")
    }
}

impl Options {
    /// Checks `model`, without limits.
    pub fn model(model: &str) -> Options {
        Options {
            model: model.into(),
            anomalies: None,
            time_limit: None,
            memory_limit: None,
        }
    }

    /// The anomalies that count as violations, or why the options are wrong.
    pub fn prohibited(&self) -> Result<BTreeSet<&'static str>> {
        if let Some(names) = &self.anomalies {
            if let Some(bad) = names.iter().find(|n| !models::known_anomaly(n)) {
                return Err(Error::Model(format!(
                    "unknown anomaly {bad:?}: use {}",
                    models::ANOMALIES.join(", ")
                )));
            }
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            return Ok(models::prohibited_by_anomalies(&names));
        }
        models::prohibited(&self.model).ok_or_else(|| {
            Error::Model(format!(
                "unknown consistency model {:?}: use {}",
                self.model,
                models::model_names().join(", ")
            ))
        })
    }

    fn what(&self) -> String {
        match &self.anomalies {
            Some(a) => format!("free of {}", a.join(", ")),
            None => models::canonical(&self.model)
                .unwrap_or(&self.model)
                .to_string(),
        }
    }
}

/// Checks a parsed history of `txn` operations: list-append or rw-register, from the
/// micro-ops. An error is a history that is not one of those, or options that make no sense.
pub fn check_history(h: &History, o: &Options) -> Result<ElleReport> {
    match TxnKind::of(h) {
        Some(TxnKind::ListAppend) => check_list_append(&txn::list_append(h)?, o),
        Some(TxnKind::RwRegister) => check_rw_register(&txn::rw_register(h)?, o),
        None => Err(Error::Model(
            "not a transactional history: every operation must be a txn of list-append \
             (append, r) or rw-register (w, r) micro-ops"
                .into(),
        )),
    }
}

/// Checks list-append transactions.
pub fn check_list_append(h: &TxnHistory<ListOp>, o: &Options) -> Result<ElleReport> {
    let prohibited = o.prohibited()?;
    let t0 = Instant::now();
    let budget = Budget::new(o.time_limit, o.memory_limit);
    let mut findings = Findings::default();
    let mut b = Builder::new(h.txns.len() as u32);
    let inf = list_append::infer(h, &mut b, &mut findings)?;
    let explain = |a: u32, c: u32, l: Label| inf.step(a, c, l);
    let show = |m: &ListOp| h.show(m);
    let run = Run {
        txns: &h.txns,
        show: &show,
        step: &explain,
        workload: "list-append",
    };
    Ok(run.finish(b, findings, &budget, &prohibited, o, t0))
}

/// Checks rw-register transactions.
pub fn check_rw_register(h: &TxnHistory<RegOp>, o: &Options) -> Result<ElleReport> {
    let prohibited = o.prohibited()?;
    let t0 = Instant::now();
    let budget = Budget::new(o.time_limit, o.memory_limit);
    let mut findings = Findings::default();
    let mut b = Builder::new(h.txns.len() as u32);
    // A model with real-time order orders each key's versions by real time too.
    let realtime_keys = prohibited.iter().any(|a| a.ends_with("-realtime"));
    let inf = rw_register::infer(h, &mut b, &mut findings, realtime_keys)?;
    let explain = |a: u32, c: u32, l: Label| inf.step(a, c, l);
    let show = |m: &RegOp| h.show(m);
    let run = Run {
        txns: &h.txns,
        show: &show,
        step: &explain,
        workload: "rw-register",
    };
    Ok(run.finish(b, findings, &budget, &prohibited, o, t0))
}

/// The part of a check both workloads share: order edges, the graph, the search, the report.
struct Run<'a, M> {
    txns: &'a [Txn<M>],
    show: &'a dyn Fn(&M) -> String,
    step: &'a dyn Fn(u32, u32, Label) -> Option<String>,
    workload: &'static str,
}

impl<M> Run<'_, M> {
    fn finish(
        &self,
        mut b: Builder,
        findings: Findings,
        budget: &Budget,
        prohibited: &BTreeSet<&'static str>,
        o: &Options,
        t0: Instant,
    ) -> ElleReport {
        let n = self.txns.len() as u32;
        let mut found = cycle::Found::default();
        let mut edges = 0;
        let stopped: Option<(Stop, &str)> = (|| {
            // The limit is on the process's resident set, which already holds the edge list.
            budget.memory(0).map_err(|s| (s, "inferring"))?;
            order::add_edges(self.txns, &mut b, true);
            // The graph's rows take about as much again as the edge list.
            budget
                .memory(b.bytes())
                .map_err(|s| (s, "building the graph"))?;
            budget.check().map_err(|s| (s, "building the graph"))?;
            let g = b.build();
            edges = g.edges();
            cycle::search(&g, n, budget, &mut found).map_err(|s| (s, "searching for cycles"))
        })()
        .err();
        let mut anomalies: Vec<Anomaly> = found.cycles.iter().map(|c| self.cycle(c)).collect();
        anomalies.extend(findings.list.iter().map(|f| Anomaly {
            name: f.anomaly.into(),
            txns: f.txns.iter().map(|&t| self.view(t)).collect(),
            steps: Vec::new(),
            explanation: f.text.clone(),
            ruled_out: ruled_out(f.anomaly),
        }));
        let mut counts: std::collections::BTreeMap<String, usize> = findings
            .counts
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        for (k, v) in &found.counts {
            *counts.entry(k.to_string()).or_default() += v;
        }
        // Worst first, as the anomalies' table lists them.
        let rank = |name: &str| models::ANOMALIES.iter().position(|a| *a == name);
        anomalies.sort_by_key(|a| rank(&a.name));
        let (valid, reason, violations) = verdict(&counts, prohibited, stopped, &found);
        let mut ruled: Vec<&str> = counts
            .keys()
            .flat_map(|k| models::ruled_out_by(k))
            .collect();
        let order = models::model_names();
        ruled.sort_by_key(|m| order.iter().position(|x| x == m));
        ruled.dedup();
        ElleReport {
            workload: self.workload.into(),
            valid,
            model: o.what(),
            counts,
            violations,
            anomalies,
            ruled_out: ruled.into_iter().map(String::from).collect(),
            reason,
            txns: self.txns.len(),
            edges,
            components: found.components,
            millis: t0.elapsed().as_secs_f64() * 1e3,
        }
    }

    fn view(&self, t: u32) -> TxnView {
        let txn = &self.txns[t as usize];
        TxnView {
            id: format!("T{}", txn.invoke),
            process: txn.process,
            invoke: txn.invoke,
            complete: txn.complete,
            outcome: txn.outcome,
            ops: txn.ops.iter().map(|m| (self.show)(m)).collect(),
        }
    }

    fn cycle(&self, c: &cycle::Cycle) -> Anomaly {
        let name = |t: u32| format!("T{}", self.txns[t as usize].invoke);
        let steps: Vec<Step> = c
            .steps
            .iter()
            .map(|&(a, b, kind)| Step {
                from: name(a),
                to: name(b),
                kind,
                text: (self.step)(a, b, kind).unwrap_or_else(|| self.order_step(a, b, kind)),
            })
            .collect();
        let mut order: Vec<String> = c.steps.iter().map(|s| name(s.0)).collect();
        order.extend(c.steps.first().map(|s| name(s.0)));
        let explanation = format!(
            "{}: {}",
            steps
                .iter()
                .map(|s| s.text.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            order.join(" < ")
        );
        Anomaly {
            name: c.anomaly.into(),
            txns: c.steps.iter().map(|s| self.view(s.0)).collect(),
            steps,
            explanation,
            ruled_out: ruled_out(c.anomaly),
        }
    }

    /// A process or real-time step (or a data step no witness was found for) in words.
    fn order_step(&self, a: u32, b: u32, kind: Label) -> String {
        let (ta, tb) = (&self.txns[a as usize], &self.txns[b as usize]);
        let done = ta.complete.map_or("?".into(), |c| c.to_string());
        match kind {
            Label::Process => format!(
                "T{} completed (event {done}) before process {} invoked T{} (process)",
                ta.invoke, ta.process, tb.invoke
            ),
            Label::Realtime => format!(
                "T{} completed (event {done}) before T{} was invoked (event {}) (realtime)",
                ta.invoke, tb.invoke, tb.invoke
            ),
            other => format!("T{} precedes T{} ({})", ta.invoke, tb.invoke, other.name()),
        }
    }
}

/// The verdict, why it is unknown if it is, and the violations: invalid when a prohibited
/// anomaly was found; else unknown when a limit stopped the check or a search of a prohibited
/// anomaly could not finish; else valid.
fn verdict(
    counts: &std::collections::BTreeMap<String, usize>,
    prohibited: &BTreeSet<&'static str>,
    stopped: Option<(Stop, &str)>,
    found: &cycle::Found,
) -> (Validity, Option<String>, Vec<String>) {
    let violations: Vec<String> = counts
        .keys()
        .filter(|k| prohibited.contains(k.as_str()))
        .cloned()
        .collect();
    let incomplete: Vec<String> = found
        .incomplete
        .iter()
        .filter(|(a, _)| prohibited.contains(a))
        .map(|(a, why)| format!("the {a} search stopped: {why}"))
        .collect();
    let (valid, reason) = if !violations.is_empty() {
        (Validity::Invalid, None)
    } else if let Some((stop, phase)) = &stopped {
        let mut why = if *phase == "searching for cycles" && found.components > 0 {
            format!(
                "{stop} while {phase}: searched {} of the {} components of more than one \
                 transaction",
                found.searched, found.components
            )
        } else {
            format!("{stop} while {phase}: no cycle was searched for yet")
        };
        if !counts.is_empty() {
            why.push_str(&format!("; found so far (allowed): {}", join_keys(counts)));
        }
        (Validity::Unknown, Some(why))
    } else if !incomplete.is_empty() {
        (Validity::Unknown, Some(incomplete.join("; ")))
    } else {
        (Validity::Valid, None)
    };
    (valid, reason, violations)
}

fn ruled_out(anomaly: &str) -> Vec<String> {
    models::ruled_out_by(anomaly)
        .into_iter()
        .map(String::from)
        .collect()
}

fn join_keys(m: &std::collections::BTreeMap<String, usize>) -> String {
    m.keys().cloned().collect::<Vec<_>>().join(", ")
}
