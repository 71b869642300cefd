//! The list of runs under a results root, for `faultline serve`.

use std::fmt::Write;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::Value;

use super::junit::esc;
use super::run_data::validity_from_json;
use checkers::Validity;

#[derive(Debug, Clone)]
pub struct RunSummary {
    /// Relative to the root: `<campaign>/<timestamp>`.
    pub rel: PathBuf,
    pub campaign: String,
    pub started: String,
    pub seed: String,
    pub verdict: Validity,
    pub faults: usize,
}

/// Every run directory (one holding `history.jsonl`) two levels below `root`, newest first.
pub fn list_runs(root: &Path) -> anyhow::Result<Vec<RunSummary>> {
    let mut runs = Vec::new();
    for campaign in read_dirs(root)? {
        for run in read_dirs(&campaign)? {
            if !run.join("history.jsonl").is_file() {
                continue;
            }
            let results: Value = fs::read_to_string(run.join("results.json"))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or(Value::Null);
            let rel = run.strip_prefix(root).unwrap_or(&run).to_path_buf();
            let name = |v: Option<&Value>| match v {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(v) => v.to_string(),
            };
            runs.push(RunSummary {
                campaign: campaign
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                started: {
                    let s = name(results.get("started_at"));
                    if s.is_empty() {
                        run.file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default()
                    } else {
                        s
                    }
                },
                seed: name(results.get("seed")),
                verdict: validity_from_json(results.get("valid")),
                faults: count_faults(&results),
                rel,
            });
        }
    }
    runs.sort_by(|a, b| b.started.cmp(&a.started).then(b.rel.cmp(&a.rel)));
    Ok(runs)
}

fn read_dirs(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        let path = entry.path();
        // `latest` is a link to a run listed already.
        if path.is_dir() && !entry.file_type().map(|t| t.is_symlink()).unwrap_or(false) {
            out.push(path);
        }
    }
    Ok(out)
}

fn count_faults(results: &Value) -> usize {
    match results
        .get("fault_windows")
        .or_else(|| results.get("faults"))
    {
        Some(Value::Array(a)) => a.len(),
        Some(Value::Object(o)) => o.len(),
        _ => 0,
    }
}

pub fn index_page(runs: &[RunSummary]) -> String {
    let mut page = String::from(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>faultline runs</title><style>\
body{font:14px system-ui,sans-serif;margin:24px}table{border-collapse:collapse}td,th{padding:4px 12px;border-bottom:1px solid #eee;text-align:left}\
.valid{color:#2e7d32}.invalid{color:#c62828}.unknown{color:#ef8f00}</style></head><body><h1>faultline runs</h1>",
    );
    if runs.is_empty() {
        page.push_str(
            "<p>No runs yet: <code>faultline test tests/campaigns/demo.yaml</code> makes one.</p>",
        );
    } else {
        page.push_str("<table><tr><th>campaign</th><th>started</th><th>seed</th><th>verdict</th><th>faults</th><th></th></tr>");
        for r in runs {
            let link = r.rel.to_string_lossy();
            let _ = write!(
                page,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{v}\">{v}</td><td>{}</td><td><a href=\"/{}/report.html\">report</a> · <a href=\"/{}/results.json\">results</a></td></tr>",
                esc(&r.campaign),
                esc(&r.started),
                esc(&r.seed),
                r.faults,
                esc(&link),
                esc(&link),
                v = r.verdict.label()
            );
        }
        page.push_str("</table>");
    }
    page.push_str("</body></html>");
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_runs_newest_first() {
        let root = tempfile::tempdir().unwrap();
        for (ts, valid) in [("20261101T000000", true), ("20261102T000000", false)] {
            let d = root.path().join("smoke").join(ts);
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join("history.jsonl"), "").unwrap();
            let r = serde_json::json!({"valid": valid, "seed": 3, "started_at": ts, "fault_windows": [1, 2]});
            fs::write(d.join("results.json"), r.to_string()).unwrap();
        }
        let runs = list_runs(root.path()).unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].verdict, Validity::Invalid);
        assert_eq!(runs[0].faults, 2);
        let page = index_page(&runs);
        assert!(page.find("20261102").unwrap() < page.find("20261101").unwrap());
        assert!(page.contains("href=\"/smoke/20261102T000000/report.html\""));
    }
}
