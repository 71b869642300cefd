//! `history.edn`: the history in Jepsen's format, so Knossos, Elle and Porcupine users can
//! cross-check a run with their own tools. Keyed operations use Jepsen's independent-key tuples
//! (`:value [key value]`).

use std::fmt::Write;

use checkers::history::{Event, EventType, Process};
use serde_json::Value;

pub fn render(events: &[Event]) -> String {
    let mut out = String::with_capacity(events.len() * 96);
    out.push_str("[\n");
    for e in events {
        let process = match e.process {
            Process::Client(p) => p.to_string(),
            Process::Nemesis(_) => ":nemesis".to_owned(),
        };
        let kind = match e.kind {
            EventType::Invoke => ":invoke",
            EventType::Ok => ":ok",
            EventType::Fail => ":fail",
            EventType::Info => ":info",
        };
        let mut value = String::new();
        value_edn(&mut value, &e.value, e.f == "txn");
        if let Some(k) = &e.key {
            value = format!("[{} {value}]", string(k));
        }
        let _ = write!(
            out,
            " {{:index {}, :time {}, :process {process}, :type {kind}, :f {}, :value {value}",
            e.index,
            e.time,
            keyword(&e.f)
        );
        if let Some(err) = &e.error {
            let _ = write!(out, ", :error {}", string(err));
        }
        out.push_str("}\n");
    }
    out.push_str("]\n");
    out
}

fn value_edn(out: &mut String, v: &Value, txn: bool) {
    match v {
        Value::Null => out.push_str("nil"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => out.push_str(&string(s)),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                // A transaction's micro-ops are `[:append k v]` / `[:r k v]` in Jepsen.
                match (txn, item) {
                    (true, Value::Array(m)) => {
                        out.push('[');
                        for (j, x) in m.iter().enumerate() {
                            if j > 0 {
                                out.push(' ');
                            }
                            match (j, x) {
                                (0, Value::String(f)) => out.push_str(&keyword(f)),
                                _ => value_edn(out, x, false),
                            }
                        }
                        out.push(']');
                    }
                    _ => value_edn(out, item, false),
                }
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, x)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&keyword(k));
                out.push(' ');
                value_edn(out, x, false);
            }
            out.push('}');
        }
    }
}

fn keyword(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "-_*+!?<>=./".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!(":{clean}")
}

fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use checkers::history::NemesisTag;
    use serde_json::json;

    #[test]
    fn renders_jepsen_op_maps_that_our_checker_reads_back() {
        let events = vec![
            Event {
                index: 0,
                time: 5,
                process: Process::Client(0),
                kind: EventType::Invoke,
                f: "write".into(),
                key: Some("k1".into()),
                value: json!("3"),
                error: None,
            },
            Event {
                index: 1,
                time: 9,
                process: Process::Nemesis(NemesisTag::Nemesis),
                kind: EventType::Info,
                f: "kill".into(),
                key: None,
                value: json!({"targets": ["n1"]}),
                error: None,
            },
            Event {
                index: 2,
                time: 12,
                process: Process::Client(0),
                kind: EventType::Ok,
                f: "write".into(),
                key: Some("k1".into()),
                value: json!("3"),
                error: None,
            },
        ];
        let edn = render(&events);
        assert!(edn.contains(
            "{:index 0, :time 5, :process 0, :type :invoke, :f :write, :value [\"k1\" \"3\"]}"
        ));
        assert!(
            edn.contains(":process :nemesis, :type :info, :f :kill, :value {:targets [\"n1\"]}")
        );
        let parsed = checkers::parse::parse_auto(edn.as_bytes()).expect("our own EDN parses");
        let r = checkers::check_history(&parsed, None, None, &checkers::Limits::default()).unwrap();
        assert!(matches!(r.verdict, checkers::Verdict::Valid));
    }

    #[test]
    fn txn_micro_ops_become_keywords() {
        let mut s = String::new();
        value_edn(
            &mut s,
            &json!([["append", "x", "1"], ["r", "x", ["1"]]]),
            true,
        );
        assert_eq!(s, "[[:append \"x\" \"1\"] [:r \"x\" [\"1\"]]]");
    }
}
