//! List-append transactions checked key by key: each transaction's micro-ops on a key become
//! separate operations, over the transaction's own interval, on a string register whose appends
//! add `v,` (values are unique and have no commas), then the kv model decides each key.
//!
//! Splitting an atomic transaction only adds orders the checker may try, so every violation
//! found here is a violation of the original history; a lost, reordered or phantom append shows
//! up as a read no order explains. (Cross-key anomalies need a transactional checker.)

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::history::EventType;
use crate::parse::{History, Proc, RawEvent};
use crate::value::Val;

/// One operation per (transaction, key, micro-op): appends as `append "v,"`, reads as
/// `get "a,b,"`. Reads of transactions that did not complete ok are dropped (their results are
/// unknown); appends of indeterminate transactions stay indeterminate; failed ones go.
pub fn project(h: &History) -> History {
    let mut p = Projection::default();
    let mut open: BTreeMap<i64, &RawEvent> = BTreeMap::new();
    for e in &h.events {
        let Proc::Client(process) = e.process else {
            continue;
        };
        if &*e.f != "txn" {
            continue;
        }
        if e.kind == EventType::Invoke {
            open.insert(process, e);
            continue;
        }
        let Some(inv) = open.remove(&process) else {
            continue;
        };
        if e.kind != EventType::Fail {
            p.transaction(inv, Some(e));
        }
    }
    // Operations never completed stay open to the end, as the checker expects.
    for inv in open.values() {
        p.transaction(inv, None);
    }
    let mut events = p.events;
    events.sort_by_key(|e| (e.time, e.kind != EventType::Invoke));
    History {
        format: h.format,
        events,
        warnings: Vec::new(),
        errors: Vec::new(),
    }
}

#[derive(Default)]
struct Projection {
    events: Vec<RawEvent>,
    /// Each micro-op needs a process of its own (operations of one process are sequential);
    /// the transaction's interval is kept, so real-time order is exactly the original's.
    next_process: i64,
}

impl Projection {
    /// `done` is the ok or info completion, or `None` for a transaction that never completed.
    fn transaction(&mut self, inv: &RawEvent, done: Option<&RawEvent>) {
        let ok = done.filter(|d| d.kind == EventType::Ok);
        // An ok completion carries the reads' results; otherwise only the invocation is known.
        let micro = ok.map_or(&inv.value, |d| &d.value);
        for m in micro.as_list().into_iter().flatten() {
            let Some([f, key, v]) = m.as_list().and_then(|l| <&[Val; 3]>::try_from(l).ok()) else {
                continue;
            };
            let (Some(f), Some(key)) = (f.as_name(), key.as_name()) else {
                continue;
            };
            match f {
                "append" => {
                    let text = Val::Str(format!("{},", scalar(v)).into());
                    self.emit(inv, ok, "append", key, text.clone(), text);
                }
                "r" if ok.is_some() => {
                    let list: String = v
                        .as_list()
                        .into_iter()
                        .flatten()
                        .map(|x| format!("{},", scalar(x)))
                        .collect();
                    self.emit(inv, ok, "get", key, Val::Nil, Val::Str(list.into()));
                }
                _ => {}
            }
        }
    }

    fn emit(
        &mut self,
        inv: &RawEvent,
        done: Option<&RawEvent>,
        f: &str,
        key: &str,
        arg: Val,
        result: Val,
    ) {
        let base = RawEvent {
            process: Proc::Client(self.next_process),
            kind: EventType::Invoke,
            f: Arc::from(f),
            key: Some(Val::Str(key.into())),
            value: arg,
            time: inv.time,
            line: inv.line,
        };
        self.next_process += 1;
        self.events.push(base.clone());
        if let Some(done) = done {
            self.events.push(RawEvent {
                kind: done.kind,
                value: result,
                time: done.time,
                line: done.line,
                ..base
            });
        }
    }
}

fn scalar(v: &Val) -> String {
    match v {
        Val::Str(s) => s.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::analysis::{analyze, Checker, Options};
    use crate::check::Limits;
    use crate::parse::{parse, Format};
    use crate::Validity;

    /// A faultline history of `txn`s: `(time, process, type, value)` per event.
    fn history(events: &[(u64, u64, &str, serde_json::Value)]) -> crate::parse::History {
        let text: String = events
            .iter()
            .enumerate()
            .map(|(i, (t, p, kind, v))| {
                json!({"index": i, "time": t, "process": p, "type": kind, "f": "txn", "value": v})
                    .to_string()
                    + "\n"
            })
            .collect();
        parse(text.as_bytes(), Format::Faultline).unwrap()
    }

    fn verdict(h: &crate::parse::History) -> Validity {
        let options = Options {
            limits: Limits {
                threads: 1,
                ..Limits::default()
            },
            ..Options::default()
        };
        analyze(h, &[Checker::ListAppendPerKey], &options)
            .unwrap()
            .validity()
    }

    #[test]
    fn appends_then_reads_in_order_are_linearizable() {
        let h = history(&[
            (0, 0, "invoke", json!([["append", "x", "1"]])),
            (10, 0, "ok", json!([["append", "x", "1"]])),
            (
                20,
                1,
                "invoke",
                json!([["append", "x", "2"], ["r", "x", null]]),
            ),
            (
                30,
                1,
                "ok",
                json!([["append", "x", "2"], ["r", "x", ["1", "2"]]]),
            ),
        ]);
        assert_eq!(verdict(&h), Validity::Valid);
    }

    #[test]
    fn a_read_missing_an_acknowledged_append_is_a_violation() {
        let h = history(&[
            (0, 0, "invoke", json!([["append", "x", "1"]])),
            (10, 0, "ok", json!([["append", "x", "1"]])),
            (20, 1, "invoke", json!([["r", "x", null]])),
            (30, 1, "ok", json!([["r", "x", []]])),
        ]);
        let options = Options {
            limits: Limits {
                threads: 1,
                ..Limits::default()
            },
            ..Options::default()
        };
        let a = analyze(&h, &[Checker::ListAppendPerKey], &options).unwrap();
        assert_eq!(a.validity(), Validity::Invalid, "{:?}", a.reports);
        assert!(a.results()[0].detail["counterexample"]["ops"]
            .as_array()
            .is_some_and(|o| o.len() == 2));
    }

    #[test]
    fn an_indeterminate_append_may_or_may_not_appear() {
        let h = history(&[
            (0, 0, "invoke", json!([["append", "x", "1"]])),
            (10, 0, "info", json!(null)),
            (20, 1, "invoke", json!([["r", "x", null]])),
            (30, 1, "ok", json!([["r", "x", ["1"]]])),
            (40, 2, "invoke", json!([["r", "x", null]])),
            (50, 2, "ok", json!([["r", "x", ["1"]]])),
        ]);
        assert_eq!(verdict(&h), Validity::Valid);
    }
}
