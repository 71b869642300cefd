//! The set checker: every acknowledged add is in the final read, nothing that was never
//! (or certainly not) added is, and indeterminate adds may be either way.
//!
//! History shape (one key per independent set): `add` invokes carry the element, `read` oks carry
//! the final list. Events of other functions are ignored.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::history::{Event, EventType, Process};
use crate::parse::{History, Proc};
use crate::Validity;

/// What happened to one key's set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SetKeyResult {
    /// Adds invoked.
    pub attempted: usize,
    /// Adds acknowledged (`ok`).
    pub acknowledged: usize,
    /// Whether a final read completed; without one nothing can be said.
    pub final_read: bool,
    /// Acknowledged adds missing from the final read.
    pub lost: Vec<Value>,
    /// Elements read that were never added, or whose add certainly failed.
    pub unexpected: Vec<Value>,
    /// Indeterminate adds (info, or never completed) present in the final read.
    pub recovered: Vec<Value>,
    /// Elements the final read lists more than once.
    pub duplicated: Vec<Value>,
}

/// The whole check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetReport {
    /// Written as a label (`"valid"`), as it always has been.
    #[serde(with = "crate::validity::as_label")]
    pub valid: Validity,
    /// Why the verdict is not `valid`, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub lost_count: usize,
    pub unexpected_count: usize,
    pub recovered_count: usize,
    pub keys: BTreeMap<String, SetKeyResult>,
}

#[derive(Default)]
struct KeyState {
    /// Element (canonical JSON) -> (element, outcome of its add).
    adds: BTreeMap<String, (Value, Option<EventType>)>,
    final_read: Option<Vec<Value>>,
}

/// Whether a parsed history (any format) is a set workload's: its clients only `add` and
/// `read`, and add at least once.
pub fn is_set_history(h: &History) -> bool {
    let clients = || {
        h.events
            .iter()
            .filter(|e| matches!(e.process, Proc::Client(_)))
    };
    clients().all(|e| matches!(&*e.f, "add" | "read")) && clients().any(|e| &*e.f == "add")
}

/// Checks a parsed history of any format as a set history (see [`check`]): keys and values
/// read as JSON, as faultline writes them (an EDN set or vector read is a list of elements).
pub fn check_history(h: &History) -> SetReport {
    check(&h.to_events())
}

/// Checks a set history.
pub fn check(history: &[Event]) -> SetReport {
    let mut keys: BTreeMap<String, KeyState> = BTreeMap::new();
    // Processes are sequential: a completion belongs to its process's open invoke.
    let mut open: HashMap<Process, (String, String, Value)> = HashMap::new();
    for e in history {
        if matches!(e.process, Process::Nemesis(_)) {
            continue;
        }
        let key = e.key.clone().unwrap_or_default();
        match e.kind {
            EventType::Invoke => {
                if e.f == "add" {
                    keys.entry(key.clone())
                        .or_default()
                        .adds
                        .insert(e.value.to_string(), (e.value.clone(), None));
                }
                open.insert(e.process, (e.f.clone(), key, e.value.clone()));
            }
            kind => {
                let Some((f, key, value)) = open.remove(&e.process) else {
                    continue;
                };
                let state = keys.entry(key).or_default();
                match f.as_str() {
                    "add" => {
                        if let Some(add) = state.adds.get_mut(&value.to_string()) {
                            add.1 = Some(kind);
                        }
                    }
                    "read" if kind == EventType::Ok => {
                        if let Value::Array(items) = &e.value {
                            state.final_read = Some(items.clone());
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    let mut report = SetReport {
        valid: Validity::Valid,
        reason: None,
        lost_count: 0,
        unexpected_count: 0,
        recovered_count: 0,
        keys: BTreeMap::new(),
    };
    let mut unread = Vec::new();
    for (key, state) in keys {
        let mut r = SetKeyResult {
            attempted: state.adds.len(),
            acknowledged: state
                .adds
                .values()
                .filter(|(_, o)| *o == Some(EventType::Ok))
                .count(),
            final_read: state.final_read.is_some(),
            ..SetKeyResult::default()
        };
        match &state.final_read {
            None => unread.push(key.clone()),
            Some(read) => {
                let mut present = BTreeSet::new();
                for element in read {
                    if !present.insert(element.to_string()) {
                        r.duplicated.push(element.clone());
                    }
                    match state.adds.get(&element.to_string()) {
                        None | Some((_, Some(EventType::Fail))) => {
                            r.unexpected.push(element.clone())
                        }
                        Some((_, None | Some(EventType::Info))) => {
                            r.recovered.push(element.clone())
                        }
                        Some(_) => {}
                    }
                }
                for (canon, (element, outcome)) in &state.adds {
                    if *outcome == Some(EventType::Ok) && !present.contains(canon) {
                        r.lost.push(element.clone());
                    }
                }
            }
        }
        report.lost_count += r.lost.len();
        report.unexpected_count += r.unexpected.len();
        report.recovered_count += r.recovered.len();
        report.keys.insert(key, r);
    }
    let duplicated: usize = report.keys.values().map(|r| r.duplicated.len()).sum();
    if report.lost_count + report.unexpected_count + duplicated > 0 {
        report.valid = Validity::Invalid;
        report.reason = Some(format!(
            "{} acknowledged adds lost, {} unexpected elements, {} duplicated elements",
            report.lost_count, report.unexpected_count, duplicated
        ));
    } else if !unread.is_empty() {
        report.valid = Validity::Unknown;
        report.reason = Some(format!(
            "no final read completed for keys {}",
            unread.join(", ")
        ));
    } else if report.keys.is_empty() {
        report.valid = Validity::Unknown;
        report.reason = Some("the history has no set operations".into());
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Builds a history from (process, type, f, value) on key "k".
    fn history(events: &[(u64, EventType, &str, Value)]) -> Vec<Event> {
        events
            .iter()
            .enumerate()
            .map(|(i, (p, kind, f, value))| Event {
                index: i as u64,
                time: i as u64,
                process: Process::Client(*p),
                kind: *kind,
                f: (*f).into(),
                key: Some("k".into()),
                value: value.clone(),
                error: None,
            })
            .collect()
    }

    use EventType::{Fail, Info, Invoke, Ok};

    #[test]
    fn all_acknowledged_adds_read_is_valid() {
        let h = history(&[
            (0, Invoke, "add", json!(1)),
            (0, Ok, "add", json!(1)),
            (1, Invoke, "add", json!(2)),
            (1, Ok, "add", json!(2)),
            (2, Invoke, "read", json!(null)),
            (2, Ok, "read", json!([1, 2])),
        ]);
        let r = check(&h);
        assert_eq!(r.valid, Validity::Valid, "{r:?}");
        assert_eq!(r.keys["k"].acknowledged, 2);
    }

    #[test]
    fn a_lost_acknowledged_add_is_invalid() {
        let h = history(&[
            (0, Invoke, "add", json!(1)),
            (0, Ok, "add", json!(1)),
            (2, Invoke, "read", json!(null)),
            (2, Ok, "read", json!([])),
        ]);
        let r = check(&h);
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.lost_count, 1);
        assert_eq!(r.keys["k"].lost, vec![json!(1)]);
    }

    #[test]
    fn never_added_or_failed_elements_are_unexpected() {
        let h = history(&[
            (0, Invoke, "add", json!(1)),
            (0, Fail, "add", json!(1)),
            (2, Invoke, "read", json!(null)),
            (2, Ok, "read", json!([1, 9])),
        ]);
        let r = check(&h);
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.unexpected_count, 2);
    }

    #[test]
    fn indeterminate_adds_may_go_either_way() {
        let h = history(&[
            (0, Invoke, "add", json!(1)),
            (0, Info, "add", json!(1)),
            (1, Invoke, "add", json!(2)),
            (1, Info, "add", json!(2)),
            (3, Invoke, "add", json!(3)), // never completed
            (2, Invoke, "read", json!(null)),
            (2, Ok, "read", json!([1, 3])),
        ]);
        let r = check(&h);
        assert_eq!(r.valid, Validity::Valid, "{r:?}");
        assert_eq!(r.recovered_count, 2);
        assert_eq!(r.lost_count, 0);
    }

    #[test]
    fn duplicates_are_invalid() {
        let h = history(&[
            (0, Invoke, "add", json!(1)),
            (0, Ok, "add", json!(1)),
            (2, Invoke, "read", json!(null)),
            (2, Ok, "read", json!([1, 1])),
        ]);
        assert_eq!(check(&h).valid, Validity::Invalid);
    }

    #[test]
    fn no_final_read_is_unknown() {
        let h = history(&[
            (0, Invoke, "add", json!(1)),
            (0, Ok, "add", json!(1)),
            (2, Invoke, "read", json!(null)),
            (2, Info, "read", json!(null)),
        ]);
        let r = check(&h);
        assert_eq!(r.valid, Validity::Unknown);
        assert!(r.reason.unwrap().contains("k"));
        assert_eq!(check(&[]).valid, Validity::Unknown);
    }

    /// A Jepsen EDN set history: a lost acknowledged add is found, whatever the format.
    #[test]
    fn edn_set_histories_are_checked_like_faultline_ones() {
        let src = br#"[{:process 0, :type :invoke, :f :add, :value 1}
{:process 0, :type :ok, :f :add, :value 1}
{:process 1, :type :invoke, :f :add, :value 2}
{:process 1, :type :ok, :f :add, :value 2}
{:process :nemesis, :type :info, :f :kill, :value nil}
{:process 2, :type :invoke, :f :add, :value 3}
{:process 2, :type :info, :f :add, :value 3}
{:process 0, :type :invoke, :f :read, :value nil}
{:process 0, :type :ok, :f :read, :value #{1 3}}]"#;
        let h = crate::parse::parse_auto(src).unwrap();
        assert!(is_set_history(&h));
        let r = check_history(&h);
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.lost_count, 1);
        assert_eq!(r.recovered_count, 1);
        assert_eq!(r.keys[""].lost, vec![json!(2)]);
        let register = crate::parse::parse_auto(
            b"{:process 0, :type :invoke, :f :read, :value nil}\n{:process 0, :type :ok, :f :read, :value 1}",
        )
        .unwrap();
        assert!(!is_set_history(&register), "reads alone are a register's");
    }
}
