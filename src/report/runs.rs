//! The list of runs under a results root, for `faultline serve`.

use std::fmt::Write;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::Value;

use super::junit::esc;
use super::store::StoredResults;
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
            // A directory whose results cannot be read is still listed, as unknown.
            let results = super::store::load_results(&run).unwrap_or(StoredResults::Missing);
            let rel = run.strip_prefix(root).unwrap_or(&run).to_path_buf();
            let stamp = || {
                run.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            };
            let (started, seed, faults) = match &results {
                StoredResults::Ours(r) => (
                    r.started_at.clone().unwrap_or_else(stamp),
                    r.seed.to_string(),
                    r.faults.len(),
                ),
                StoredResults::Foreign(v) => {
                    let started = text(v.get("started_at"));
                    (
                        if started.is_empty() { stamp() } else { started },
                        text(v.get("seed")),
                        count_faults(v),
                    )
                }
                StoredResults::Missing => (stamp(), String::new(), 0),
            };
            runs.push(RunSummary {
                campaign: campaign
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                started,
                seed,
                verdict: results.validity(),
                faults,
                rel,
            });
        }
    }
    runs.sort_by(|a, b| b.started.cmp(&a.started).then(b.rel.cmp(&a.rel)));
    Ok(runs)
}

/// A JSON scalar as text: strings without quotes, nothing for null.
fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    }
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
