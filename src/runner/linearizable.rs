//! Linearizability in the check phase, through `checkers`: the register workload's history as it
//! was recorded, and list-append as per-key projections onto a string-append register.

use std::collections::BTreeMap;

use checkers::history::{Event, EventType, Process};
use checkers::parse::{self, Format};
use checkers::{check_history, CheckResult, Limits, ModelKind, Verdict as CheckVerdict};
use serde_json::{json, Value};

use super::results::{CheckerResult, Validity};

/// Checks a register history (read/write/cas per key); the model is inferred (cas-register).
pub fn register(events: &[Event], limits: &Limits) -> CheckerResult {
    // The checker reads faultline's own JSONL, so it sees exactly what `faultline check DIR` sees.
    result(
        run(events, None, limits),
        "register histories checked per key",
    )
}

/// Checks list-append transactions key by key. Each transaction's micro-ops on a key become
/// separate operations over the transaction's own interval on a string register whose appends
/// add `v,` (values are unique and have no commas). Splitting an atomic transaction only adds
/// orders the checker may try, so every violation found here is a violation of the original
/// history; a lost, reordered or phantom append shows up as a read no order explains.
pub fn list_append(events: &[Event], limits: &Limits) -> CheckerResult {
    let projected = project_list_append(events);
    result(
        run(&projected, Some(ModelKind::Kv), limits),
        "list-append projected per key onto an append register",
    )
}

fn run(events: &[Event], model: Option<ModelKind>, limits: &Limits) -> Result<CheckResult, String> {
    let mut text = Vec::with_capacity(events.len() * 96);
    for e in events {
        if let Ok(line) = serde_json::to_vec(e) {
            text.extend_from_slice(&line);
            text.push(b'\n');
        }
    }
    let history = parse::parse(&text, Format::Faultline).map_err(|e| e.to_string())?;
    check_history(&history, model, None, limits).map_err(|e| e.to_string())
}

fn result(checked: Result<CheckResult, String>, what: &str) -> CheckerResult {
    let r = match checked {
        Ok(r) => r,
        Err(e) => {
            return CheckerResult {
                name: "linearizability".into(),
                valid: Validity::Unknown,
                summary: format!("the history could not be checked: {e}"),
                detail: Value::Null,
            }
        }
    };
    let keys: BTreeMap<String, Value> = r
        .keys
        .iter()
        .map(|k| {
            (
                k.key.clone().unwrap_or_default(),
                serde_json::to_value(k).unwrap_or(Value::Null),
            )
        })
        .collect();
    let (valid, summary, counterexample) = match &r.verdict {
        CheckVerdict::Valid => (
            Validity::Valid,
            format!(
                "{} ops over {} keys linearizable ({what}, {}, {:.0} ms)",
                r.ops,
                r.keys.len(),
                r.model,
                r.elapsed.as_secs_f64() * 1e3
            ),
            Value::Null,
        ),
        CheckVerdict::Unknown(why) => {
            (Validity::Unknown, format!("no verdict: {why}"), Value::Null)
        }
        CheckVerdict::Invalid(cx) => (
            Validity::Invalid,
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
        name: "linearizability".into(),
        valid,
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

/// One operation per (transaction, key, micro-op): appends as `append "v,"`, reads as
/// `get "a,b,"`. Reads of transactions that did not complete ok are dropped (their results
/// are unknown); appends of indeterminate transactions stay indeterminate; failed ones go.
fn project_list_append(events: &[Event]) -> Vec<Event> {
    let mut open: BTreeMap<u64, &Event> = BTreeMap::new();
    let mut out = Vec::new();
    // Each micro-op needs a process of its own (operations of one process are sequential);
    // the transaction's time interval is kept, so real-time order is exactly the original's.
    let mut next_process = 0u64;
    let mut emit =
        |inv: &Event, done: Option<&Event>, f: &str, key: &str, arg: Value, result: Value| {
            let p = next_process;
            next_process += 1;
            let base = Event {
                index: 0,
                time: inv.time,
                process: Process::Client(p),
                kind: EventType::Invoke,
                f: f.into(),
                key: Some(key.into()),
                value: arg,
                error: None,
            };
            out.push(base.clone());
            if let Some(done) = done {
                out.push(Event {
                    time: done.time,
                    kind: done.kind,
                    value: result,
                    ..base
                });
            }
        };
    for e in events {
        let Process::Client(p) = e.process else {
            continue;
        };
        if e.f != "txn" {
            continue;
        }
        if e.kind == EventType::Invoke {
            open.insert(p, e);
            continue;
        }
        let Some(inv) = open.remove(&p) else { continue };
        if e.kind == EventType::Fail {
            continue;
        }
        let micro = if e.kind == EventType::Ok {
            &e.value
        } else {
            &inv.value
        };
        for m in micro.as_array().into_iter().flatten() {
            let (Some(f), Some(key)) = (m[0].as_str(), m[1].as_str()) else {
                continue;
            };
            match (f, e.kind) {
                ("append", kind) => {
                    let v = format!("{},", scalar(&m[2]));
                    let done = (kind == EventType::Ok).then_some(e);
                    emit(
                        inv,
                        done,
                        "append",
                        key,
                        Value::String(v.clone()),
                        Value::String(v),
                    );
                }
                ("r", EventType::Ok) => {
                    let list: String = m[2]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|x| format!("{},", scalar(x)))
                        .collect();
                    emit(inv, Some(e), "get", key, Value::Null, Value::String(list));
                }
                _ => {}
            }
        }
    }
    // Operations never completed stay open to the end, as the checker expects.
    for inv in open.values() {
        for m in inv.value.as_array().into_iter().flatten() {
            if let (Some("append"), Some(key)) = (m[0].as_str(), m[1].as_str()) {
                let v = Value::String(format!("{},", scalar(&m[2])));
                emit(inv, None, "append", key, v.clone(), v);
            }
        }
    }
    out.sort_by_key(|e| (e.time, e.kind != EventType::Invoke));
    for (i, e) in out.iter_mut().enumerate() {
        e.index = i as u64;
    }
    out
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(index: u64, time: u64, p: u64, kind: EventType, value: Value) -> Event {
        Event {
            index,
            time,
            process: Process::Client(p),
            kind,
            f: "txn".into(),
            key: None,
            value,
            error: None,
        }
    }

    fn limits() -> Limits {
        Limits {
            threads: 1,
            ..Limits::default()
        }
    }

    #[test]
    fn appends_then_reads_in_order_are_linearizable() {
        let h = vec![
            ev(0, 0, 0, EventType::Invoke, json!([["append", "x", "1"]])),
            ev(1, 10, 0, EventType::Ok, json!([["append", "x", "1"]])),
            ev(
                2,
                20,
                1,
                EventType::Invoke,
                json!([["append", "x", "2"], ["r", "x", null]]),
            ),
            ev(
                3,
                30,
                1,
                EventType::Ok,
                json!([["append", "x", "2"], ["r", "x", ["1", "2"]]]),
            ),
        ];
        let r = list_append(&h, &limits());
        assert_eq!(r.valid, Validity::Valid, "{}", r.summary);
    }

    #[test]
    fn a_read_missing_an_acknowledged_append_is_a_violation() {
        let h = vec![
            ev(0, 0, 0, EventType::Invoke, json!([["append", "x", "1"]])),
            ev(1, 10, 0, EventType::Ok, json!([["append", "x", "1"]])),
            ev(2, 20, 1, EventType::Invoke, json!([["r", "x", null]])),
            ev(3, 30, 1, EventType::Ok, json!([["r", "x", []]])),
        ];
        let r = list_append(&h, &limits());
        assert_eq!(r.valid, Validity::Invalid, "{}", r.summary);
        assert!(r.detail["counterexample"]["ops"]
            .as_array()
            .is_some_and(|o| o.len() == 2));
    }

    #[test]
    fn an_indeterminate_append_may_or_may_not_appear() {
        let h = vec![
            ev(0, 0, 0, EventType::Invoke, json!([["append", "x", "1"]])),
            ev(1, 10, 0, EventType::Info, Value::Null),
            ev(2, 20, 1, EventType::Invoke, json!([["r", "x", null]])),
            ev(3, 30, 1, EventType::Ok, json!([["r", "x", ["1"]]])),
            ev(4, 40, 2, EventType::Invoke, json!([["r", "x", null]])),
            ev(5, 50, 2, EventType::Ok, json!([["r", "x", ["1"]]])),
        ];
        assert_eq!(list_append(&h, &limits()).valid, Validity::Valid);
    }
}
