//! Checker results as results.json carries them, read tolerantly: the report must render a
//! history checked by any version of faultline, and say "unknown" rather than fail.

use serde_json::Value;

use super::run_data::validity_from_json;
use checkers::Validity;

#[derive(Debug, Clone)]
pub struct CheckerResult {
    pub name: String,
    pub verdict: Validity,
    /// Keys whose own verdict is not valid, with their counterexample if any.
    pub bad_keys: Vec<(String, Validity, Option<Value>)>,
    pub counterexample: Option<Value>,
    /// A reason for unknown, or a summary line (e.g. a set checker's lost/unexpected counts).
    pub summary: String,
    pub time_s: f64,
    /// A transactional checker's anomalies (each with `name`, `explanation`, `steps`,
    /// `ruled_out`), and the kinds that were violations under its model.
    pub anomalies: Vec<Value>,
    pub violations: Vec<String>,
}

/// The checkers in `results.json`: `checkers` as a map `name → result` or a list of results with
/// a `name`. Without any, the top-level verdict stands as one checker named `linearizable`.
pub fn checker_results(results: &Value) -> Vec<CheckerResult> {
    let mut out = Vec::new();
    match results.get("checkers") {
        Some(Value::Object(map)) => {
            for (name, r) in map {
                out.push(one(name, r));
            }
        }
        Some(Value::Array(list)) => {
            for r in list {
                let name = r.get("name").and_then(Value::as_str).unwrap_or("checker");
                out.push(one(name, r));
            }
        }
        _ => {
            if !results.is_null() {
                out.push(one("linearizable", results));
            }
        }
    }
    out
}

fn one(name: &str, r: &Value) -> CheckerResult {
    let verdict = validity_from_json(r.get("valid"));
    let mut bad_keys = Vec::new();
    // The runner nests a checker's particulars under `detail`.
    let detail = r.get("detail").filter(|d| d.is_object());
    let field = |name: &str| r.get(name).or_else(|| detail.and_then(|d| d.get(name)));
    let keys = field("keys").or_else(|| field("per_key"));
    let mut visit = |k: &str, v: &Value| {
        let kv = validity_from_json(v.get("valid"));
        if kv != Validity::Valid {
            bad_keys.push((k.to_owned(), kv, v.get("counterexample").cloned()));
        }
    };
    match keys {
        Some(Value::Object(map)) => map.iter().for_each(|(k, v)| visit(k, v)),
        Some(Value::Array(list)) => list.iter().for_each(|v| {
            let k = v
                .get("key")
                .map(|k| {
                    k.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| k.to_string())
                })
                .unwrap_or_default();
            visit(&k, v)
        }),
        _ => {}
    }
    let summary = ["reason", "cause", "error", "summary", "explanation"]
        .iter()
        .find_map(|f| r.get(*f).and_then(Value::as_str))
        .map(str::to_owned)
        .unwrap_or_default();
    CheckerResult {
        name: name.to_owned(),
        verdict,
        counterexample: field("counterexample")
            .filter(|c| !c.is_null())
            .cloned()
            .or_else(|| bad_keys.iter().find_map(|(_, _, c)| c.clone())),
        bad_keys,
        summary,
        anomalies: field("anomalies")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        violations: field("violations")
            .and_then(Value::as_array)
            .map(|v| {
                v.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
        time_s: r
            .get("time_s")
            .or_else(|| r.get("seconds"))
            .and_then(Value::as_f64)
            .or_else(|| r.get("time_ms").and_then(Value::as_f64).map(|ms| ms / 1e3))
            .unwrap_or(0.0),
    }
}

/// The counterexample's operations, each as a JSON object, whatever the field is called.
pub fn counterexample_ops(c: &Value) -> Vec<Value> {
    ["ops", "operations", "core", "history"]
        .iter()
        .find_map(|f| c.get(*f).and_then(Value::as_array))
        .cloned()
        .unwrap_or_default()
}

/// A counterexample as plain text: the explanation first, then one line per operation.
pub fn counterexample_text(c: &Value) -> String {
    if let Some(text) = c.as_str() {
        return text.to_owned();
    }
    let mut out = String::new();
    if let Some(e) = ["explanation", "why", "reason"]
        .iter()
        .find_map(|f| c.get(*f).and_then(Value::as_str))
    {
        out.push_str(e);
        out.push('\n');
    }
    let ops = counterexample_ops(c);
    for op in &ops {
        out.push_str("  ");
        out.push_str(&op_line(op));
        out.push('\n');
    }
    if out.is_empty() {
        out = serde_json::to_string_pretty(c).unwrap_or_default();
    }
    out
}

/// One operation of a counterexample for people: `p3 write 5 → ok [t 1.20–1.35 s]`.
pub fn op_line(op: &Value) -> String {
    if let Some(s) = op
        .get("text")
        .or_else(|| op.get("description"))
        .and_then(Value::as_str)
    {
        return s.to_owned();
    }
    let field = |names: &[&str]| names.iter().find_map(|n| op.get(*n)).cloned();
    let show = |v: Option<Value>| match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s,
        Some(v) => v.to_string(),
    };
    let process = show(field(&["process", "proc"]));
    let f = show(field(&["f", "op"]));
    let call = show(field(&["call", "value", "input"]));
    let result = show(field(&["result", "output"]));
    let outcome = show(field(&["type", "outcome"]));
    let mut line = format!("p{process} {f} {call}");
    if !result.is_empty() || !outcome.is_empty() {
        line.push_str(&format!(" → {outcome} {result}"));
    }
    line.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_map_and_list_forms() {
        let map = json!({"valid": false, "checkers": {
            "linearizable": {"valid": false, "keys": {"k1": {"valid": false, "counterexample": {"explanation": "why"}}, "k2": {"valid": true}}},
            "set": {"valid": true}
        }});
        let r = checker_results(&map);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].verdict, Validity::Invalid);
        assert_eq!(r[0].bad_keys.len(), 1);
        assert_eq!(r[0].bad_keys[0].0, "k1");
        assert!(r[0].counterexample.is_some());
        let list =
            json!({"checkers": [{"name": "lin", "valid": "unknown", "reason": "time limit"}]});
        let r = checker_results(&list);
        assert_eq!(r[0].verdict, Validity::Unknown);
        assert_eq!(r[0].summary, "time limit");
    }

    #[test]
    fn counterexample_text_has_explanation_and_ops() {
        let c = json!({"explanation": "read 3 cannot follow write 1",
            "ops": [{"process": 7, "f": "read", "call": null, "result": 3, "type": "ok"}]});
        let t = counterexample_text(&c);
        assert!(t.starts_with("read 3 cannot follow write 1\n"));
        assert!(t.contains("p7 read"), "{t}");
    }
}
