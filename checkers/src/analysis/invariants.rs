//! Cheap invariants of faultline's own workloads, which write every value once per key: a
//! register read returns absent or a value some write or cas tried; list-append reads hold only
//! appended values, without duplicates, and all reads of a key are prefixes of one order. They
//! name the offending events directly, where the linearizability checker gives a core.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::{Checker, CheckerResult};
use crate::history::{Event, EventType, Process};
use crate::Validity;

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
pub fn reads_of_written_values(events: &[Event]) -> CheckerResult {
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
        Checker::ReadsOfWrittenValues,
        bad,
        format!("{reads} reads returned written values"),
    )
}

/// List-append reads: only appended values, no duplicates, and every read of a key a prefix of
/// the longest (appends only ever extend a list).
pub fn append_reads(events: &[Event]) -> CheckerResult {
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
        Checker::AppendReads,
        bad,
        format!("{count} reads are prefixes of one order per key"),
    )
}

fn verdict(checker: Checker, bad: Vec<Value>, fine: String) -> CheckerResult {
    let name = checker.name();
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
        assert_eq!(reads_of_written_values(&h).valid, Validity::Invalid);
        let mut ok = h.clone();
        ok[3] = ev(3, 1, EventType::Ok, "read", Some("k"), json!(1));
        assert_eq!(reads_of_written_values(&ok).valid, Validity::Valid);
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
