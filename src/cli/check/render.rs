//! How `faultline check` shows a file's analysis: one line with the verdict, then what a person
//! needs to see why (a counterexample, the set's lost and unexpected elements, the failing
//! invariants); or one JSON object per file.

use std::path::Path;

use checkers::analysis::{CheckerResult, Report};
use checkers::elle::report::ElleReport;
use checkers::set::SetReport;
use checkers::{CheckResult, Counterexample, Validity, Verdict};
use serde_json::json;

use super::Checked;

pub fn bad_input_text(path: &Path, msg: &str) -> String {
    format!("{}: BAD INPUT: {msg}\n", path.display())
}

pub fn bad_input_json(path: &Path, msg: &str) -> serde_json::Value {
    json!({
        "path": path.display().to_string(),
        "valid": "error",
        "error": msg,
    })
}

/// A file that was not checked because reading it passed a limit.
pub fn unknown_text(path: &Path, why: &str) -> String {
    format!("{}: UNKNOWN: {why}\n", path.display())
}

pub fn unknown_json(path: &Path, why: &str) -> serde_json::Value {
    json!({
        "path": path.display().to_string(),
        "valid": "unknown",
        "reason": why,
    })
}

/// The verdict line and its explanation. The verdict is the analysis', which the
/// linearizability or set checker's summary describes.
pub fn file_text(path: &Path, c: &Checked) -> String {
    let format = c.format;
    let valid = c.analysis.validity();
    let mut said = None;
    let mut s = if let Some(report) = c.analysis.set() {
        set_text(path, format, report, c.check_ms, valid)
    } else if let Some(report) = c.analysis.elle() {
        elle_text(path, format, report)
    } else if let Some(result) = c.analysis.linearizability() {
        linearizability_text(path, format, result, valid)
    } else {
        let why = first_reason(&c.analysis.results());
        let line = format!("{}: {}{why} ({format})\n", path.display(), headline(valid));
        said = Some(why.trim_start_matches(": ").to_string());
        line
    };
    // Other checkers (the workloads' invariants) speak only when they found something not said
    // already (every checker of a history with nothing to check says so).
    for r in c.analysis.reports.iter().filter_map(|r| match r {
        Report::Plain(r) if r.valid != Validity::Valid && said.as_ref() != Some(&r.summary) => {
            Some(r)
        }
        _ => None,
    }) {
        s.push_str(&format!("  {} ({}): {}\n", r.name, r.valid, r.summary));
    }
    s
}

fn headline(v: Validity) -> &'static str {
    match v {
        Validity::Valid => "valid",
        Validity::Invalid => "INVALID",
        Validity::Unknown => "UNKNOWN",
    }
}

fn first_reason(results: &[CheckerResult]) -> String {
    results
        .iter()
        .find(|r| r.valid != Validity::Valid)
        .map(|r| format!(": {}", r.summary))
        .unwrap_or_default()
}

fn set_text(
    path: &Path,
    format: checkers::parse::Format,
    report: &SetReport,
    check_ms: f64,
    valid: Validity,
) -> String {
    let adds: usize = report.keys.values().map(|k| k.attempted).sum();
    let keys = report.keys.len();
    let summary = format!(
        "set, {adds} adds, {keys} key{}, {check_ms:.1} ms",
        if keys == 1 { "" } else { "s" }
    );
    let why = report.reason.as_deref().unwrap_or_default();
    match valid {
        Validity::Valid => format!(
            "{}: valid ({format}, {summary}; {} indeterminate adds read back)\n",
            path.display(),
            report.recovered_count
        ),
        Validity::Unknown => {
            format!("{}: UNKNOWN: {why} ({format}, {summary})\n", path.display())
        }
        Validity::Invalid => {
            let mut s = format!("{}: INVALID: {why} ({format}, {summary})\n", path.display());
            let show = |v: &[serde_json::Value]| {
                let mut items: Vec<String> = v.iter().take(10).map(|e| e.to_string()).collect();
                if v.len() > 10 {
                    items.push(format!("... {} more", v.len() - 10));
                }
                items.join(", ")
            };
            for (key, k) in &report.keys {
                let name = if key.is_empty() {
                    String::new()
                } else {
                    format!(" on key {key}")
                };
                for (what, v) in [
                    ("acknowledged but missing from the final read", &k.lost),
                    ("read but never (or certainly not) added", &k.unexpected),
                    ("read more than once", &k.duplicated),
                ] {
                    if !v.is_empty() {
                        s.push_str(&format!("  {what}{name}: {}\n", show(v)));
                    }
                }
            }
            s
        }
    }
}

/// The verdict line, then each anomaly with its explanation and the models it rules out (the
/// first few of each kind), and how many more there were.
pub fn elle_text(path: &Path, format: checkers::parse::Format, r: &ElleReport) -> String {
    let mut s = format!(
        "{}: {} ({format}, {} {} txns, {}, {:.1} ms)\n",
        path.display(),
        headline(r.valid),
        r.txns,
        r.workload,
        r.model,
        r.millis
    );
    if let Some(why) = &r.reason {
        s.push_str(&format!("  no verdict: {why}\n"));
    }
    const SHOWN: usize = 2;
    let mut shown: std::collections::BTreeMap<&str, usize> = Default::default();
    for a in &r.anomalies {
        let n = shown.entry(a.name.as_str()).or_default();
        *n += 1;
        if *n > SHOWN {
            continue;
        }
        let counts = if r.violations.contains(&a.name) {
            ""
        } else {
            " (allowed by the model)"
        };
        s.push_str(&format!("  {}{counts}: {}\n", a.name, a.explanation));
        if *n == 1 && !a.ruled_out.is_empty() {
            s.push_str(&format!("    rules out: {}\n", a.ruled_out.join(", ")));
        }
    }
    let more: Vec<String> = r
        .counts
        .iter()
        .filter(|(k, &n)| n > shown.get(k.as_str()).copied().unwrap_or(0).min(SHOWN))
        .map(|(k, n)| format!("{k} ×{n}"))
        .collect();
    if !more.is_empty() {
        s.push_str(&format!("  in all: {}\n", more.join(", ")));
    }
    s
}

/// For a check that stopped: per key, decided or how far the search got (at most 20 keys
/// listed, the undecided first).
fn how_far(result: &CheckResult) -> String {
    let mut keys: Vec<&checkers::KeyResult> = result.keys.iter().collect();
    keys.sort_by_key(|k| k.valid != Validity::Unknown);
    let mut out = String::new();
    for k in keys.iter().take(20) {
        let name = k
            .key
            .as_deref()
            .map_or(String::new(), |k| format!("key {k}: "));
        if k.valid == Validity::Unknown {
            out.push_str(&format!(
                "  {name}not decided: linearized at most {} of {} completed ops in one order (the first {} by invocation), {} states explored\n",
                k.linearized, k.completed, k.prefix, k.steps
            ));
        } else {
            out.push_str(&format!("  {name}{} ({})\n", k.valid.label(), k.path));
        }
    }
    if keys.len() > 20 {
        out.push_str(&format!(
            "  ... and {} more keys (see --json)\n",
            keys.len() - 20
        ));
    }
    out
}

fn linearizability_text(
    path: &Path,
    format: checkers::parse::Format,
    result: &CheckResult,
    valid: Validity,
) -> String {
    let keys = result.keys.len();
    let unique = result
        .keys
        .iter()
        .filter(|k| k.path == checkers::check::UNIQUE)
        .count();
    let by = match unique {
        0 => String::new(),
        u if u == keys => ", unique values".to_string(),
        u => format!(", {u} by unique values"),
    };
    let summary = format!(
        "{} {} ops, {} key{}{by}, {:.1} ms",
        result.model,
        result.ops,
        keys,
        if keys == 1 { "" } else { "s" },
        result.elapsed.as_secs_f64() * 1e3
    );
    match (&result.verdict, valid) {
        (Verdict::Invalid(cx), _) => format!(
            "{}: INVALID ({format}, {summary})\n{}",
            path.display(),
            counterexample_text(cx)
        ),
        (Verdict::Unknown(why), Validity::Unknown) => {
            let mut out = format!("{}: UNKNOWN: {why} ({format}, {summary})\n", path.display());
            out.push_str(&how_far(result));
            out
        }
        // Valid here, or another checker's verdict, which follows on its own line.
        (_, v) => format!(
            "{}: {} ({format}, {summary})\n",
            path.display(),
            headline(v)
        ),
    }
}

/// The counterexample block, indented under the file's line.
pub fn counterexample_text(cx: &Counterexample) -> String {
    let mut s = String::new();
    let key = cx
        .key
        .as_ref()
        .map(|k| format!(" on key {k}"))
        .unwrap_or_default();
    if cx.ops.is_empty() {
        return format!("  not linearizable{key} ({})\n", cx.explanation);
    }
    s.push_str(&format!(
        "  not linearizable{key}: these {} operations admit no legal order{}:\n",
        cx.ops.len(),
        if cx.minimal {
            ""
        } else {
            " (shrinking stopped at its time budget)"
        }
    ));
    for op in &cx.ops {
        let p = op
            .process
            .map_or_else(|| "?".to_string(), |p| format!("p{p}"));
        let when = |idx: Option<u64>, t: Option<u64>| match (idx, t) {
            (Some(i), Some(t)) => format!("#{i} @{:.3}s", t as f64 / 1e9),
            (Some(i), None) => format!("#{i}"),
            (None, Some(t)) => format!("@{:.3}s", t as f64 / 1e9),
            (None, None) => "-".into(),
        };
        let done = match op.outcome.as_str() {
            "ok" | "fail" => when(op.complete_index, op.complete_time),
            other => format!("never ({other})"),
        };
        let line = op.line.map(|l| format!("  line {l}")).unwrap_or_default();
        s.push_str(&format!(
            "    {p:>5}  invoked {:<18} completed {:<18} {:<24} {}{line}\n",
            when(op.invoke_index, op.invoke_time),
            done,
            op.op,
            op.outcome
        ));
    }
    s.push_str(&format!("  why: {}\n", cx.explanation));
    s
}

/// One file's JSON: the set checker's or the linearizability checker's report as before, the
/// analysis' combined verdict, and every checker's result under `checkers`.
pub fn file_json(path: &Path, c: &Checked) -> serde_json::Value {
    let valid = c.analysis.validity();
    let mut doc = if let Some(report) = c.analysis.set() {
        json!({
            "path": path.display().to_string(),
            "format": c.format.name(),
            "model": "set",
            "valid": valid,
            "reason": report.reason,
            "set": report,
            "warnings": c.warnings,
            "timings": { "parse_ms": c.parse_ms, "check_ms": c.check_ms },
        })
    } else if let Some(report) = c.analysis.elle() {
        json!({
            "path": path.display().to_string(),
            "format": c.format.name(),
            "model": report.model,
            "reason": report.reason,
            "elle": report,
            "warnings": c.warnings,
            "timings": { "parse_ms": c.parse_ms, "check_ms": c.check_ms },
        })
    } else if let Some(result) = c.analysis.linearizability() {
        linearizability_json(path, c, result)
    } else {
        json!({
            "path": path.display().to_string(),
            "format": c.format.name(),
            "warnings": c.warnings,
            "timings": { "parse_ms": c.parse_ms, "check_ms": c.check_ms },
        })
    };
    if let Some(o) = doc.as_object_mut() {
        o.insert("valid".into(), json!(valid));
        if valid == Validity::Unknown && o.get("reason").is_none_or(|r| r.is_null()) {
            o.insert(
                "reason".into(),
                json!(first_reason(&c.analysis.results()).trim_start_matches(": ")),
            );
        }
        o.insert("checkers".into(), json!(c.analysis.results()));
    }
    doc
}

fn linearizability_json(path: &Path, c: &Checked, result: &CheckResult) -> serde_json::Value {
    json!({
        "path": path.display().to_string(),
        "format": c.format.name(),
        "model": result.model.name(),
        "reason": match &result.verdict { Verdict::Unknown(r) => json!(r), _ => json!(null) },
        "ops": result.ops,
        // Per key, `valid` as Jepsen's `:valid?` (the checkers' own reports use labels).
        "keys": result.keys.iter().map(|k| {
            let mut v = serde_json::to_value(k).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.insert("valid".into(), json!(k.valid));
            }
            v
        }).collect::<Vec<_>>(),
        "counterexample": match &result.verdict {
            Verdict::Invalid(cx) => serde_json::to_value(cx).unwrap_or_default(),
            _ => json!(null),
        },
        "warnings": c.warnings,
        "timings": {
            "parse_ms": c.parse_ms,
            "prepare_ms": c.prepare_ms,
            "check_ms": c.check_ms,
        },
    })
}
