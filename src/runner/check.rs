//! The check phase: the checkers that apply to the campaign's workload, combined by priority.
//!
//! Wired here: the set checker (`checkers::set`), and two cheap invariants the runner checks
//! itself (reads only return values that were written; list-append reads of a key are prefixes
//! of one another). The linearizability checker (register) and the Elle-style list-append
//! checker come from `checkers/` when they land: `linearizability` below reports `unknown`
//! until it is wired in, so a run is never declared valid on the cheap checks alone.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use checkers::history::{Event, EventType, Process};
use serde_json::{json, Value};
use workloads::WorkloadConfig;

use super::results::{CheckerResult, Validity};

/// The campaign's checker limits; past them a checker answers `unknown`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub time: Duration,
    pub memory_mb: u64,
}

pub fn check(workload: &WorkloadConfig, events: &[Event], limits: Limits) -> Vec<CheckerResult> {
    match workload {
        WorkloadConfig::Set(_) => vec![set(events)],
        WorkloadConfig::Register(_) => {
            vec![
                register_reads(events),
                super::linearizable::register(events, &checker_limits(limits)),
            ]
        }
        WorkloadConfig::ListAppend(_) => {
            vec![
                append_reads(events),
                super::linearizable::list_append(events, &checker_limits(limits)),
            ]
        }
    }
}

/// Runs `check` off the async threads, answering `unknown` past the time limit.
pub async fn check_within(
    workload: WorkloadConfig,
    events: Vec<Event>,
    limits: Limits,
) -> Vec<CheckerResult> {
    let task = tokio::task::spawn_blocking(move || check(&workload, &events, limits));
    match tokio::time::timeout(limits.time, task).await {
        Ok(Ok(results)) => results,
        Ok(Err(e)) => vec![CheckerResult {
            name: "checkers".into(),
            valid: Validity::Unknown,
            summary: format!("a checker crashed: {e}"),
            detail: Value::Null,
        }],
        Err(_) => vec![CheckerResult {
            name: "checkers".into(),
            valid: Validity::Unknown,
            summary: format!(
                "checking took longer than the limit of {}s",
                limits.time.as_secs()
            ),
            detail: Value::Null,
        }],
    }
}

/// The verdict of several checkers; with none, nothing was checked, so unknown.
pub fn combine(results: &[CheckerResult]) -> Validity {
    if results.is_empty() {
        return Validity::Unknown;
    }
    results
        .iter()
        .fold(Validity::Valid, |acc, r| acc.worst(r.valid))
}

/// The campaign's limits as the checker takes them; past them it answers unknown itself.
fn checker_limits(limits: Limits) -> checkers::Limits {
    checkers::Limits {
        time_limit: Some(limits.time),
        memory_limit: Some(
            usize::try_from(limits.memory_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
        ),
        ..checkers::Limits::default()
    }
}

fn set(events: &[Event]) -> CheckerResult {
    let report = checkers::set::check(events);
    let valid = report.valid;
    CheckerResult {
        name: "set".into(),
        valid,
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
        detail: serde_json::to_value(&report).unwrap_or(Value::Null),
    }
}

/// Pairs each completion with its process's invoke (processes are sequential).
fn completed(events: &[Event]) -> Vec<(&Event, &Event)> {
    let mut open: BTreeMap<u64, &Event> = BTreeMap::new();
    let mut pairs = Vec::new();
    for e in events {
        let Process::Client(p) = e.process else {
            continue;
        };
        if e.kind == EventType::Invoke {
            open.insert(p, e);
        } else if let Some(inv) = open.remove(&p) {
            pairs.push((inv, e));
        }
    }
    pairs
}

/// With writes unique per key, a read may only return null or a value some write or cas tried.
fn register_reads(events: &[Event]) -> CheckerResult {
    let mut written: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in events.iter().filter(|e| e.kind == EventType::Invoke) {
        let key = e.key.clone().unwrap_or_default();
        let v = match e.f.as_str() {
            "write" => e.value.clone(),
            "cas" => e.value.get(1).cloned().unwrap_or(Value::Null),
            _ => continue,
        };
        written.entry(key).or_default().insert(v.to_string());
    }
    let mut bad = Vec::new();
    let mut reads = 0;
    for (_, done) in completed(events) {
        if done.f != "read" || done.kind != EventType::Ok {
            continue;
        }
        reads += 1;
        let key = done.key.clone().unwrap_or_default();
        if !done.value.is_null()
            && !written
                .get(&key)
                .is_some_and(|w| w.contains(&done.value.to_string()))
        {
            bad.push(json!({"index": done.index, "key": key, "value": done.value}));
        }
    }
    verdict(
        "reads-of-written-values",
        bad,
        format!("{reads} reads returned written values"),
    )
}

/// List-append reads: only appended values, no duplicates, and every read of a key a prefix of
/// the longest (appends only ever extend a list).
fn append_reads(events: &[Event]) -> CheckerResult {
    let mut appended: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in events
        .iter()
        .filter(|e| e.kind == EventType::Invoke && e.f == "txn")
    {
        for m in e.value.as_array().into_iter().flatten() {
            if m[0] == "append" {
                appended
                    .entry(m[1].as_str().unwrap_or_default().into())
                    .or_default()
                    .insert(m[2].to_string());
            }
        }
    }
    let mut reads: BTreeMap<String, Vec<(u64, Vec<Value>)>> = BTreeMap::new();
    let mut bad = Vec::new();
    for (_, done) in completed(events) {
        if done.f != "txn" || done.kind != EventType::Ok {
            continue;
        }
        for m in done.value.as_array().into_iter().flatten() {
            let (Some("r"), Some(key), Some(list)) =
                (m[0].as_str(), m[1].as_str(), m[2].as_array())
            else {
                continue;
            };
            let mut seen = BTreeSet::new();
            for v in list {
                if !seen.insert(v.to_string()) {
                    bad.push(json!({"index": done.index, "key": key, "duplicate": v}));
                }
                if !appended
                    .get(key)
                    .is_some_and(|a| a.contains(&v.to_string()))
                {
                    bad.push(json!({"index": done.index, "key": key, "never-appended": v}));
                }
            }
            reads
                .entry(key.into())
                .or_default()
                .push((done.index, list.clone()));
        }
    }
    let mut count = 0;
    for (key, lists) in &reads {
        count += lists.len();
        let longest = lists
            .iter()
            .map(|(_, l)| l)
            .max_by_key(|l| l.len())
            .cloned()
            .unwrap_or_default();
        for (index, l) in lists {
            if longest[..l.len().min(longest.len())] != l[..] {
                bad.push(json!({"index": index, "key": key, "incompatible-order": l, "longest": longest}));
            }
        }
    }
    verdict(
        "append-reads",
        bad,
        format!("{count} reads are prefixes of one order per key"),
    )
}

fn verdict(name: &str, bad: Vec<Value>, fine: String) -> CheckerResult {
    if bad.is_empty() {
        CheckerResult {
            name: name.into(),
            valid: Validity::Valid,
            summary: fine,
            detail: Value::Null,
        }
    } else {
        CheckerResult {
            name: name.into(),
            valid: Validity::Invalid,
            summary: format!("{} anomalies, first: {}", bad.len(), bad[0]),
            detail: Value::Array(bad),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use workloads::register::RegisterConfig;

    const LIMITS: Limits = Limits {
        time: Duration::from_secs(1),
        memory_mb: 64,
    };

    fn ev(i: u64, p: u64, kind: EventType, f: &str, key: Option<&str>, value: Value) -> Event {
        Event {
            index: i,
            time: i,
            process: Process::Client(p),
            kind,
            f: f.into(),
            key: key.map(Into::into),
            value,
            error: None,
        }
    }

    #[test]
    fn a_read_of_an_unwritten_value_is_invalid() {
        let h = vec![
            ev(0, 0, EventType::Invoke, "write", Some("k"), json!(1)),
            ev(1, 0, EventType::Ok, "write", Some("k"), json!(1)),
            ev(2, 1, EventType::Invoke, "read", Some("k"), Value::Null),
            ev(3, 1, EventType::Ok, "read", Some("k"), json!(2)),
        ];
        let r = check(
            &WorkloadConfig::Register(RegisterConfig::default()),
            &h,
            LIMITS,
        );
        assert_eq!(r[0].valid, Validity::Invalid);
        assert_eq!(combine(&r), Validity::Invalid);
        let ok = vec![
            h[0].clone(),
            h[1].clone(),
            h[2].clone(),
            ev(3, 1, EventType::Ok, "read", Some("k"), json!(1)),
        ];
        let r = check(
            &WorkloadConfig::Register(RegisterConfig::default()),
            &ok,
            LIMITS,
        );
        assert_eq!(r[0].valid, Validity::Valid);
        // The linearizability checker runs beside the cheap check and agrees.
        assert_eq!(r[1].name, "linearizability");
        assert_eq!(r[1].valid, Validity::Valid, "{}", r[1].summary);
        assert_eq!(combine(&r), Validity::Valid);
    }

    #[test]
    fn list_reads_must_share_one_order() {
        let txn = |i, p, kind, v: Value| ev(i, p, kind, "txn", None, v);
        let h = vec![
            txn(
                0,
                0,
                EventType::Invoke,
                json!([["append", "k", 1], ["append", "k", 2]]),
            ),
            txn(
                1,
                0,
                EventType::Ok,
                json!([["append", "k", 1], ["append", "k", 2]]),
            ),
            txn(2, 1, EventType::Invoke, json!([["r", "k", null]])),
            txn(3, 1, EventType::Ok, json!([["r", "k", [1, 2]]])),
            txn(4, 2, EventType::Invoke, json!([["r", "k", null]])),
            txn(5, 2, EventType::Ok, json!([["r", "k", [2]]])),
        ];
        assert_eq!(append_reads(&h).valid, Validity::Invalid);
        let mut good = h.clone();
        good[5] = txn(5, 2, EventType::Ok, json!([["r", "k", [1]]]));
        assert_eq!(append_reads(&good).valid, Validity::Valid);
    }
}
