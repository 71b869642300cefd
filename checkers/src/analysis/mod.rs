//! A history's analysis: the checkers that apply to it, run and combined into one [`Validity`].
//!
//! `faultline test` gets its checkers from the workload it ran (each workload declares them in
//! the `workloads` crate, as Jepsen pairs a workload's generator with its checker);
//! `faultline check` gets them from [`for_history`], which recognises faultline's workloads from
//! their operations. Both call [`analyze`] on one parsed [`History`], so a run and a later check
//! of its directory give the same verdict by construction.
//!
//! * [`invariants`]: cheap checks of faultline's own workloads (reads of written values; list
//!   reads that extend one order);
//! * [`list_append`]: list-append transactions projected per key onto an append register, so the
//!   linearizability checker decides them key by key (no longer chosen by default: the
//!   transactional checker, [`crate::elle`], decides list-append histories as transactions).

pub mod invariants;
pub mod list_append;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::check::{check_history, CheckResult, Limits, Verdict};
use crate::elle::report::ElleReport;
use crate::error::Result;
use crate::model::ModelKind;
use crate::parse::{Format, History, Proc};
use crate::set::SetReport;
use crate::value::Val;
use crate::Validity;

/// A checker a history can be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Checker {
    /// Linearizability per key; the model inferred from the operations unless the options
    /// name one.
    Linearizability,
    /// Lost, unexpected and duplicated elements of the set workload.
    Set,
    /// Registers written with unique values: a read returns absent or a value some write or
    /// cas tried.
    ReadsOfWrittenValues,
    /// List-append reads: only appended values, no duplicates, every read of a key a prefix of
    /// the longest.
    AppendReads,
    /// List-append transactions, each key's appends and reads checked for linearizability.
    ListAppendPerKey,
    /// List-append transactions checked as transactions ([`crate::elle`]): dependency cycles
    /// and the other anomalies the consistency model prohibits.
    ElleListAppend,
    /// rw-register transactions checked as transactions ([`crate::elle`]).
    ElleRwRegister,
}

impl Checker {
    /// The name it has in `results.json` and JUnit.
    pub fn name(self) -> &'static str {
        match self {
            Checker::Linearizability | Checker::ListAppendPerKey => "linearizability",
            Checker::Set => "set",
            Checker::ReadsOfWrittenValues => "reads-of-written-values",
            Checker::AppendReads => "append-reads",
            Checker::ElleListAppend => "elle-list-append",
            Checker::ElleRwRegister => "elle-rw-register",
        }
    }
}

/// How to check: limits, for linearizability the model and initial value when they are
/// not to be inferred, and for transactions the consistency model (strict serializable when
/// `None`) and the anomalies that count (the model's when `None`).
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub limits: Limits,
    pub model: Option<ModelKind>,
    pub initial: Option<Val>,
    pub consistency_model: Option<String>,
    pub anomalies: Option<Vec<String>>,
}

impl Options {
    /// The transactional checker's options.
    pub fn elle(&self) -> crate::elle::Options {
        crate::elle::Options {
            model: self
                .consistency_model
                .clone()
                .unwrap_or_else(|| "strict-serializable".into()),
            anomalies: self.anomalies.clone(),
            time_limit: self.limits.time_limit,
            memory_limit: self.limits.memory_limit,
        }
    }
}

/// One checker's outcome, as `results.json` carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckerResult {
    pub name: String,
    pub valid: Validity,
    /// One line for people.
    pub summary: String,
    /// The checker's own report (counterexample, per-key results, counts, ...).
    #[serde(default)]
    pub detail: Value,
}

impl CheckerResult {
    /// A checker that could not give a verdict, and why.
    pub fn unknown(name: &str, why: impl Into<String>) -> CheckerResult {
        CheckerResult {
            name: name.into(),
            valid: Validity::Unknown,
            summary: why.into(),
            detail: Value::Null,
        }
    }
}

/// One checker's report, kept typed: the JSON of `results.json` is made only when asked for.
#[derive(Debug, Clone)]
pub enum Report {
    /// The linearizability search's result, and what was checked ("checked per key", ...).
    Linearizability(Box<CheckResult>, &'static str),
    Set(Box<SetReport>),
    /// The transactional checker's report.
    Elle(Box<ElleReport>),
    /// A checker whose report is its result (the invariants).
    Plain(CheckerResult),
}

impl Report {
    pub fn validity(&self) -> Validity {
        match self {
            Report::Linearizability(r, _) => r.verdict.validity(),
            Report::Set(r) => r.valid,
            Report::Elle(r) => r.valid,
            Report::Plain(r) => r.valid,
        }
    }

    /// The result as `results.json` carries it.
    pub fn result(&self) -> CheckerResult {
        match self {
            Report::Linearizability(r, what) => linearizability(r, what),
            Report::Set(r) => set_result(r),
            Report::Elle(r) => elle_result(r),
            Report::Plain(r) => r.clone(),
        }
    }
}

/// Everything an analysis found, one report per checker, in the order asked for.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub reports: Vec<Report>,
}

impl Analysis {
    /// The combined verdict: the worst checker's, and unknown when nothing was checked.
    pub fn validity(&self) -> Validity {
        Validity::combine_checked(self.reports.iter().map(Report::validity))
    }

    /// Every checker's result, as `results.json` carries them.
    pub fn results(&self) -> Vec<CheckerResult> {
        self.reports.iter().map(Report::result).collect()
    }

    /// The linearizability checker's typed result, when it ran.
    pub fn linearizability(&self) -> Option<&CheckResult> {
        self.reports.iter().find_map(|r| match r {
            Report::Linearizability(r, _) => Some(&**r),
            _ => None,
        })
    }

    /// The transactional checker's typed report, when it ran.
    pub fn elle(&self) -> Option<&ElleReport> {
        self.reports.iter().find_map(|r| match r {
            Report::Elle(r) => Some(&**r),
            _ => None,
        })
    }

    /// The set checker's typed report, when it ran.
    pub fn set(&self) -> Option<&SetReport> {
        self.reports.iter().find_map(|r| match r {
            Report::Set(r) => Some(&**r),
            _ => None,
        })
    }
}

/// The checkers for a history nobody said the workload of: faultline's own workloads are
/// recognised from their operations (a `history.jsonl` gets exactly the checkers `faultline
/// test` gave it); any history of transactions (faultline's or Jepsen's `:f :txn`) gets the
/// transactional checker for its micro-ops; any other is checked as a set when its clients only
/// add and read, and for linearizability otherwise.
pub fn for_history(h: &History) -> Vec<Checker> {
    match crate::elle::txn::TxnKind::of(h) {
        Some(crate::elle::txn::TxnKind::ListAppend) => return vec![Checker::ElleListAppend],
        Some(crate::elle::txn::TxnKind::RwRegister) => return vec![Checker::ElleRwRegister],
        None => {}
    }
    if crate::set::is_set_history(h) {
        return vec![Checker::Set];
    }
    if h.format != Format::Faultline {
        return vec![Checker::Linearizability];
    }
    vec![Checker::ReadsOfWrittenValues, Checker::Linearizability]
}

/// Why `history` gives a checker nothing to check, if it does: no client operation completed
/// `ok`. Failed operations certainly did not happen and indeterminate ones may never have, so
/// every checker drops or excuses them all, and any verdict but unknown would be vacuous (an
/// empty or truncated file, a run whose clients never got an answer, a nemesis-only log).
/// Porcupine's etcd logs are the exception: there a `:fail :cas` is a cas that completed and
/// found another value, an observation like an `ok`.
pub fn nothing_to_check(history: &History) -> Option<String> {
    use crate::history::EventType;
    let (mut invoked, mut failed, mut info, mut others) = (0usize, 0usize, 0usize, 0usize);
    for e in &history.events {
        match (&e.process, e.kind) {
            (Proc::Client(_), EventType::Ok) => return None,
            (Proc::Client(_), EventType::Fail)
                if history.format == Format::EtcdLog && &*e.f == "cas" =>
            {
                return None
            }
            (Proc::Client(_), EventType::Invoke) => invoked += 1,
            (Proc::Client(_), EventType::Fail) => failed += 1,
            (Proc::Client(_), EventType::Info) => info += 1,
            (Proc::Other(_), _) => others += 1,
        }
    }
    if history.events.is_empty() {
        return Some("nothing to check: the history has no events".into());
    }
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    Some(format!(
        "nothing to check: no client operation completed ok ({invoked} invoked, {failed} \
         failed, {info} indeterminate; {others} event{} of the nemesis or other processes)",
        plural(others)
    ))
}

/// Runs `checkers` on `history`. An error is a history the checkers cannot read as
/// their model's (an unknown operation, a model that does not fit): bad input, not a verdict.
/// A history with nothing to check (see [`nothing_to_check`]) is still read by every checker
/// (an operation it cannot read is bad input all the same), and what would have been valid is
/// unknown, saying why.
pub fn analyze(history: &History, checkers: &[Checker], options: &Options) -> Result<Analysis> {
    let nothing = nothing_to_check(history);
    // The linearizability checker goes first, so that what it proves spares the others' work.
    let mut order: Vec<usize> = (0..checkers.len()).collect();
    order.sort_by_key(|&i| checkers[i] != Checker::Linearizability);
    let mut reports: Vec<Option<Report>> = vec![None; checkers.len()];
    for i in order {
        let linearizable = reports
            .iter()
            .flatten()
            .any(|r| matches!(r, Report::Linearizability(..)) && r.validity() == Validity::Valid);
        let report = run(checkers[i], history, options, linearizable)?;
        reports[i] = Some(match &nothing {
            Some(why) if report.validity() == Validity::Valid => {
                Report::Plain(CheckerResult::unknown(checkers[i].name(), why.clone()))
            }
            _ => report,
        });
    }
    Ok(Analysis {
        reports: reports.into_iter().flatten().collect(),
    })
}

/// As [`analyze`], for a history the caller no longer needs. A transactional check reads the
/// history into transactions and frees it before building its graph: a million transactions'
/// parsed values take several times the memory of the transactions and the graph together, and
/// they would otherwise share one peak.
pub fn analyze_owned(
    history: History,
    checkers: &[Checker],
    options: &Options,
) -> Result<Analysis> {
    // As `analyze` does: a valid verdict on a history where nothing completed ok is unknown.
    let nothing = nothing_to_check(&history);
    let report = match checkers {
        [Checker::ElleListAppend] => {
            let txns = crate::elle::txn::list_append(&history)?;
            drop(history);
            crate::elle::check_list_append(&txns, &options.elle())?
        }
        [Checker::ElleRwRegister] => {
            let txns = crate::elle::txn::rw_register(&history)?;
            drop(history);
            crate::elle::check_rw_register(&txns, &options.elle())?
        }
        _ => return analyze(&history, checkers, options),
    };
    let report = match nothing {
        Some(why) if report.valid == Validity::Valid => {
            Report::Plain(CheckerResult::unknown(checkers[0].name(), why))
        }
        _ => Report::Elle(Box::new(report)),
    };
    Ok(Analysis {
        reports: vec![report],
    })
}

/// One checker. `linearizable`: the history was found linearizable already.
fn run(c: Checker, history: &History, options: &Options, linearizable: bool) -> Result<Report> {
    Ok(match c {
        Checker::Linearizability => {
            let model = options.model;
            match check_history(history, model, options.initial.as_ref(), &options.limits) {
                // Preparing passed the memory limit: no verdict, as when the search does.
                Err(e @ crate::Error::MemoryLimit(_)) => {
                    Report::Plain(CheckerResult::unknown(c.name(), e.to_string()))
                }
                r => Report::Linearizability(Box::new(r?), "checked per key"),
            }
        }
        Checker::ListAppendPerKey => {
            let projected = list_append::project(history);
            let what = "list-append projected per key onto an append register";
            match check_history(&projected, Some(ModelKind::Kv), None, &options.limits) {
                Err(e @ crate::Error::MemoryLimit(_)) => {
                    Report::Plain(CheckerResult::unknown(c.name(), e.to_string()))
                }
                r => Report::Linearizability(Box::new(r?), what),
            }
        }
        Checker::Set => Report::Set(Box::new(crate::set::check_history(history))),
        // In a linearizable history every read returned the value of a write before it (or the
        // initial absent one): a valid linearizability verdict implies this invariant, whose own
        // pass over the history is needed only when that verdict is not valid.
        Checker::ReadsOfWrittenValues if linearizable => {
            Report::Plain(invariants::implied_by_linearizability(history))
        }
        Checker::ReadsOfWrittenValues => {
            Report::Plain(invariants::reads_of_written_values(history))
        }
        Checker::AppendReads => Report::Plain(invariants::append_reads(history)),
        Checker::ElleListAppend => {
            let txns = crate::elle::txn::list_append(history)?;
            Report::Elle(Box::new(crate::elle::check_list_append(
                &txns,
                &options.elle(),
            )?))
        }
        Checker::ElleRwRegister => {
            let txns = crate::elle::txn::rw_register(history)?;
            Report::Elle(Box::new(crate::elle::check_rw_register(
                &txns,
                &options.elle(),
            )?))
        }
    })
}

fn elle_result(r: &ElleReport) -> CheckerResult {
    CheckerResult {
        name: format!("elle-{}", r.workload),
        valid: r.valid,
        summary: r.summary(),
        detail: serde_json::to_value(r).unwrap_or(Value::Null),
    }
}

fn set_result(report: &SetReport) -> CheckerResult {
    CheckerResult {
        name: Checker::Set.name().into(),
        valid: report.valid,
        summary: format!(
            "{} lost, {} unexpected, {} recovered{}",
            report.lost_count,
            report.unexpected_count,
            report.recovered_count,
            report
                .reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
        detail: serde_json::to_value(report).unwrap_or(Value::Null),
    }
}

/// The linearizability checker's result as `results.json` carries it.
fn linearizability(r: &CheckResult, what: &str) -> CheckerResult {
    let name = Checker::Linearizability.name();
    let keys: serde_json::Map<String, Value> = r
        .keys
        .iter()
        .map(|k| {
            (
                k.key.clone().unwrap_or_default(),
                serde_json::to_value(k).unwrap_or(Value::Null),
            )
        })
        .collect();
    let (summary, counterexample) = match &r.verdict {
        Verdict::Valid => (
            format!(
                "{} ops over {} keys linearizable ({what}, {}, {:.0} ms)",
                r.ops,
                r.keys.len(),
                r.model,
                r.elapsed.as_secs_f64() * 1e3
            ),
            Value::Null,
        ),
        Verdict::Unknown(why) => (format!("no verdict: {why}"), Value::Null),
        Verdict::Invalid(cx) => (
            format!(
                "not linearizable{}: {}",
                cx.key
                    .as_deref()
                    .map(|k| format!(" on key {k}"))
                    .unwrap_or_default(),
                cx.explanation
            ),
            serde_json::to_value(cx).unwrap_or(Value::Null),
        ),
    };
    CheckerResult {
        name: name.into(),
        valid: r.verdict.validity(),
        summary,
        detail: json!({
            "model": r.model.to_string(),
            "ops": r.ops,
            "millis": r.elapsed.as_secs_f64() * 1e3,
            "keys": keys,
            "counterexample": counterexample,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;

    fn history(lines: &[&str]) -> History {
        parse((lines.join("\n") + "\n").as_bytes(), Format::Faultline).unwrap()
    }

    const WRITE: [&str; 2] = [
        r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"write","key":"k","value":1}"#,
        r#"{"index":1,"time":1,"process":0,"type":"ok","f":"write","key":"k","value":1}"#,
    ];

    /// The register invariant is implied by a linearizable verdict, and checked on its own
    /// (naming the read) when the history is not linearizable.
    #[test]
    fn register_checkers_agree_and_the_invariant_names_the_read() {
        let read = |v: &str| {
            [
                r#"{"index":2,"time":2,"process":1,"type":"invoke","f":"read","key":"k","value":null}"#.to_string(),
                format!(r#"{{"index":3,"time":3,"process":1,"type":"ok","f":"read","key":"k","value":{v}}}"#),
            ]
        };
        let checkers = [Checker::ReadsOfWrittenValues, Checker::Linearizability];
        let good: Vec<String> = WRITE
            .iter()
            .map(|s| s.to_string())
            .chain(read("1"))
            .collect();
        let good = history(&good.iter().map(String::as_str).collect::<Vec<_>>());
        let a = analyze(&good, &checkers, &Options::default()).unwrap();
        assert_eq!(a.validity(), Validity::Valid);
        assert!(
            a.results()[0].summary.contains("implied"),
            "{:?}",
            a.results()
        );

        let bad: Vec<String> = WRITE
            .iter()
            .map(|s| s.to_string())
            .chain(read("2"))
            .collect();
        let bad = history(&bad.iter().map(String::as_str).collect::<Vec<_>>());
        let a = analyze(&bad, &checkers, &Options::default()).unwrap();
        let results = a.results();
        assert_eq!(results[0].valid, Validity::Invalid, "{results:?}");
        assert_eq!(results[0].detail[0]["index"], 3);
        assert_eq!(results[1].valid, Validity::Invalid);
        // Results come in the order the checkers were asked for.
        assert_eq!(results[0].name, "reads-of-written-values");
    }

    /// Transactions go to the transactional checker for their micro-ops, in any format;
    /// Knossos' multi-register transactions stay with linearizability.
    #[test]
    fn transactional_histories_get_the_transactional_checker() {
        let edn = |value: &str| {
            let text = format!(
                "{{:process 0, :type :invoke, :f :txn, :value {value}}}\n\
                 {{:process 0, :type :ok, :f :txn, :value {value}}}\n"
            );
            crate::parse::parse_auto(text.as_bytes()).unwrap()
        };
        let append = edn("[[:append :x 1] [:r :x [1]]]");
        assert_eq!(for_history(&append), vec![Checker::ElleListAppend]);
        let reg = edn("[[:w :x 1] [:r :x 1]]");
        assert_eq!(for_history(&reg), vec![Checker::ElleRwRegister]);
        let multi = edn("[[:write :x 1] [:read :x 1]]");
        assert_eq!(for_history(&multi), vec![Checker::Linearizability]);
        // An EDN list-append history needs no initial value: its reads are lists.
        let a = analyze(&append, &for_history(&append), &Options::default()).unwrap();
        assert_eq!(a.validity(), Validity::Valid, "{:?}", a.results());
        let owned = analyze_owned(append.clone(), &for_history(&append), &Options::default());
        let owned = owned.unwrap().results();
        assert_eq!(owned.len(), 1);
        assert_eq!(owned[0].name, "elle-list-append");
        assert_eq!(owned[0].detail["counts"], a.results()[0].detail["counts"]);
        let skew = edn("[[:r :x []] [:w :x 1] [:r :x 2]]");
        let bad = analyze_owned(skew, &[Checker::ElleRwRegister], &Options::default());
        assert_eq!(
            bad.unwrap().validity(),
            Validity::Invalid,
            "an internal read"
        );
        let faultline = history(&[
            r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"txn","value":[["append","k","1"]]}"#,
            r#"{"index":1,"time":1,"process":0,"type":"ok","f":"txn","value":[["append","k","1"]]}"#,
        ]);
        assert_eq!(for_history(&faultline), vec![Checker::ElleListAppend]);
    }

    /// A history in which no client operation completed ok has nothing to check: every checker
    /// is unknown, saying so, for every workload's checkers; one ok operation is enough to
    /// check; an operation the checkers cannot read is bad input all the same.
    #[test]
    fn nothing_completed_is_unknown_never_valid() {
        let ev = |i: usize, p: &str, t: &str, f: &str, v: &str| {
            format!(
                r#"{{"index":{i},"time":{i},"process":{p},"type":"{t}","f":"{f}","key":"k","value":{v}}}"#
            )
        };
        let nemesis = r#"{"index":9,"time":9,"process":"nemesis","type":"info","f":"kill","value":{"targets":["n1"]}}"#;
        let cases: Vec<(&str, Vec<String>)> = vec![
            ("no events", vec![]),
            ("only invocations", vec![ev(0, "0", "invoke", "write", "1")]),
            ("only the nemesis", vec![nemesis.to_string()]),
            (
                "every operation failed",
                vec![
                    ev(0, "0", "invoke", "write", "1"),
                    ev(1, "0", "fail", "write", "1"),
                ],
            ),
            (
                "every operation indeterminate",
                vec![
                    ev(0, "0", "invoke", "add", "1"),
                    ev(1, "0", "info", "add", "1"),
                    nemesis.to_string(),
                ],
            ),
            (
                "transactions that never completed",
                vec![ev(0, "0", "invoke", "txn", r#"[["append","k",1]]"#)],
            ),
        ];
        for (what, lines) in &cases {
            let h = history(&lines.iter().map(String::as_str).collect::<Vec<_>>());
            assert!(nothing_to_check(&h).is_some(), "{what}");
            let checkers = for_history(&h);
            let a = analyze(&h, &checkers, &Options::default()).unwrap();
            assert_eq!(a.validity(), Validity::Unknown, "{what}: {:?}", a.results());
            assert_eq!(a.results().len(), checkers.len());
            for r in a.results() {
                // Every checker that would have passed says why it did not (the set checker
                // gives its own reason: no final read completed).
                assert_eq!(r.valid, Validity::Unknown, "{what}: {r:?}");
                assert!(
                    r.summary.starts_with("nothing to check") || r.name == "set",
                    "{what}: {r:?}"
                );
            }
        }

        let one_ok = history(&[
            &ev(0, "0", "invoke", "read", "null"),
            &ev(1, "0", "ok", "read", "null"),
        ]);
        assert_eq!(nothing_to_check(&one_ok), None);
        let a = analyze(&one_ok, &for_history(&one_ok), &Options::default()).unwrap();
        assert_eq!(a.validity(), Validity::Valid, "{:?}", a.results());

        // In an etcd log a failed cas is an observation (the register held another value than
        // nil, so the indeterminate write took effect first): checked, and valid.
        let etcd = |text: &str| crate::parse::parse(text.as_bytes(), Format::EtcdLog).unwrap();
        let failed_cas = etcd(concat!(
            "INFO  jepsen.util - 1\t:invoke\t:write\t1\n",
            "INFO  jepsen.util - 1\t:info\t:write\t1\n",
            "INFO  jepsen.util - 3\t:invoke\t:cas\t[nil 4]\n",
            "INFO  jepsen.util - 3\t:fail\t:cas\t[nil 4]\n",
        ));
        assert_eq!(nothing_to_check(&failed_cas), None);
        let a = analyze(&failed_cas, &for_history(&failed_cas), &Options::default()).unwrap();
        assert_eq!(a.validity(), Validity::Valid, "{:?}", a.results());
        let failed_read = etcd(
            "INFO  jepsen.util - 3\t:invoke\t:read\tnil\nINFO  jepsen.util - 3\t:fail\t:read\tnil\n",
        );
        assert!(nothing_to_check(&failed_read).is_some());

        let unreadable = history(&[&ev(0, "0", "invoke", "frobnicate", "1")]);
        assert!(analyze(
            &unreadable,
            &[Checker::Linearizability],
            &Options::default()
        )
        .is_err());
    }
}
