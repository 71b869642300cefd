//! Cheap invariants of faultline's own workloads, which write every value once per key: a
//! register read returns absent or a value some write or cas tried; list-append reads hold only
//! appended values, without duplicates, and all reads of a key are prefixes of one order. They
//! name the offending events directly, where the linearizability checker gives a core. Both read
//! the parsed events as they are (one pass, no conversion), so they cost little beside the search.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};

use super::{Checker, CheckerResult};
// Hash tables keyed by the history's own values: FxHash, as the search's, since these are
// built over every operation of histories of millions.
use crate::hash::FxBuild as Fx;
use crate::history::EventType;
use crate::parse::{History, Proc, RawEvent};
use crate::value::Val;
use crate::Validity;

/// Pairs each completion with its process's invoke (processes are sequential), with the
/// completion's position in the history.
fn completed(h: &History) -> Vec<(&RawEvent, usize, &RawEvent)> {
    let mut open: HashMap<i64, &RawEvent, Fx> = HashMap::default();
    let mut pairs = Vec::new();
    for (i, e) in h.events.iter().enumerate() {
        let Proc::Client(p) = e.process else {
            continue;
        };
        if e.kind == EventType::Invoke {
            open.insert(p, e);
        } else if let Some(inv) = open.remove(&p) {
            pairs.push((inv, i, e));
        }
    }
    pairs
}

/// A key as the results name it.
fn key_name(k: Option<&Val>) -> String {
    match k {
        Some(Val::Str(s)) => s.to_string(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// With writes unique per key, a read may only return null or a value some write or cas tried.
pub fn reads_of_written_values(h: &History) -> CheckerResult {
    let mut written: HashSet<(Option<&Val>, &Val), Fx> = HashSet::default();
    for e in h.events.iter().filter(|e| e.kind == EventType::Invoke) {
        let v = match &*e.f {
            "write" => &e.value,
            "cas" => match e.value.as_list() {
                Some([_, to]) => to,
                _ => continue,
            },
            _ => continue,
        };
        written.insert((e.key.as_ref(), v));
    }
    let mut bad = Vec::new();
    let mut reads = 0;
    for (_, index, done) in completed(h) {
        if &*done.f != "read" || done.kind != EventType::Ok {
            continue;
        }
        reads += 1;
        if !done.value.is_nil() && !written.contains(&(done.key.as_ref(), &done.value)) {
            bad.push(json!({"index": index, "key": key_name(done.key.as_ref()), "value": done.value.to_json()}));
        }
    }
    verdict(
        Checker::ReadsOfWrittenValues,
        bad,
        format!("{reads} reads returned written values"),
    )
}

/// [`reads_of_written_values`] for a history the linearizability checker found linearizable,
/// which implies it: valid, with the number of reads, and no pass over the values.
pub fn implied_by_linearizability(h: &History) -> CheckerResult {
    let reads = h
        .events
        .iter()
        .filter(|e| e.kind == EventType::Ok && &*e.f == "read")
        .count();
    verdict(
        Checker::ReadsOfWrittenValues,
        Vec::new(),
        format!("{reads} reads returned written values (implied: the history is linearizable)"),
    )
}

/// The micro-ops `[f, key, value]` of a transaction's value.
fn micro_ops(v: &Val) -> impl Iterator<Item = (&str, &Val, &Val)> {
    v.as_list()
        .into_iter()
        .flatten()
        .filter_map(|m| match m.as_list()? {
            [f, k, v] => Some((f.as_name()?, k, v)),
            _ => None,
        })
}

/// List-append reads: only appended values, no duplicates, and every read of a key a prefix of
/// the longest (appends only ever extend a list).
pub fn append_reads(h: &History) -> CheckerResult {
    let mut appended: HashSet<(&Val, &Val), Fx> = HashSet::default();
    for e in h
        .events
        .iter()
        .filter(|e| e.kind == EventType::Invoke && &*e.f == "txn")
    {
        for (f, k, v) in micro_ops(&e.value) {
            if f == "append" {
                appended.insert((k, v));
            }
        }
    }
    let mut reads: HashMap<&Val, Vec<(usize, &[Val])>, Fx> = HashMap::default();
    let mut bad = Vec::new();
    for (_, index, done) in completed(h) {
        if &*done.f != "txn" || done.kind != EventType::Ok {
            continue;
        }
        for (f, key, list) in micro_ops(&done.value) {
            let (Some(list), "r") = (list.as_list(), f) else {
                continue;
            };
            let mut seen: HashSet<&Val, Fx> = HashSet::default();
            for v in list {
                let k = key_name(Some(key));
                if !seen.insert(v) {
                    bad.push(json!({"index": index, "key": k, "duplicate": v.to_json()}));
                }
                if !appended.contains(&(key, v)) {
                    bad.push(json!({"index": index, "key": k, "never-appended": v.to_json()}));
                }
            }
            reads.entry(key).or_default().push((index, list));
        }
    }
    let mut count = 0;
    let mut keys: Vec<_> = reads.into_iter().collect();
    keys.sort_by_key(|(k, _)| key_name(Some(k)));
    for (key, lists) in keys {
        count += lists.len();
        let longest = lists
            .iter()
            .map(|(_, l)| *l)
            .max_by_key(|l| l.len())
            .unwrap_or_default();
        for (index, l) in lists {
            if !longest.starts_with(l) {
                let show = |l: &[Val]| Value::Array(l.iter().map(Val::to_json).collect());
                bad.push(json!({"index": index, "key": key_name(Some(key)), "incompatible-order": show(l), "longest": show(longest)}));
            }
        }
    }
    verdict(
        Checker::AppendReads,
        bad,
        format!("{count} reads are prefixes of one order per key"),
    )
}

fn verdict(checker: Checker, mut bad: Vec<Value>, fine: String) -> CheckerResult {
    let name = checker.name();
    if bad.is_empty() {
        return CheckerResult {
            name: name.into(),
            valid: Validity::Valid,
            summary: fine,
            detail: Value::Null,
        };
    }
    // In history order, whatever order the keys were visited in.
    bad.sort_by_key(|b| b["index"].as_u64());
    CheckerResult {
        name: name.into(),
        valid: Validity::Invalid,
        summary: format!("{} anomalies, first: {}", bad.len(), bad[0]),
        detail: Value::Array(bad),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::history::{Event, Process};
    use crate::parse::{parse, Format};

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

    /// The events as `history.jsonl`, read back by the parser.
    fn h(events: &[Event]) -> History {
        let text: String = events
            .iter()
            .map(|e| serde_json::to_string(e).unwrap() + "\n")
            .collect();
        parse(text.as_bytes(), Format::Faultline).unwrap()
    }

    #[test]
    fn a_read_of_an_unwritten_value_is_invalid() {
        let h_events = vec![
            ev(0, 0, EventType::Invoke, "write", Some("k"), json!(1)),
            ev(1, 0, EventType::Ok, "write", Some("k"), json!(1)),
            ev(2, 1, EventType::Invoke, "read", Some("k"), Value::Null),
            ev(3, 1, EventType::Ok, "read", Some("k"), json!(2)),
        ];
        assert_eq!(
            reads_of_written_values(&h(&h_events)).valid,
            Validity::Invalid
        );
        let mut ok = h_events.clone();
        ok[3] = ev(3, 1, EventType::Ok, "read", Some("k"), json!(1));
        assert_eq!(reads_of_written_values(&h(&ok)).valid, Validity::Valid);
    }

    #[test]
    fn list_reads_must_share_one_order() {
        let txn = |i, p, kind, v: Value| ev(i, p, kind, "txn", None, v);
        let h_events = vec![
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
        assert_eq!(append_reads(&h(&h_events)).valid, Validity::Invalid);
        let mut good = h_events.clone();
        good[5] = txn(5, 2, EventType::Ok, json!([["r", "k", [1]]]));
        assert_eq!(append_reads(&h(&good)).valid, Validity::Valid);
    }
}
