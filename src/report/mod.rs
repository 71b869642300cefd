//! Reports for people and for CI, written into a run's result directory: `report.html` and
//! `junit.xml`, from `history.jsonl` and `results.json`. Reading only those two files lets
//! `faultline report DIR` regenerate any run, including a history checked from another tool.

mod checks;
mod edn;
mod html;
mod junit;
mod run_data;
pub mod runs;
mod stats;
mod svg;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;

pub use checkers::Validity;
pub use run_data::RunData;

/// What `write_reports` produced.
#[derive(Debug)]
pub struct Written {
    pub html: PathBuf,
    pub junit: PathBuf,
    pub verdict: Validity,
}

/// Loads a result directory and (re)writes its `report.html` and `junit.xml`.
pub fn write_reports(dir: &Path) -> anyhow::Result<Written> {
    let run = RunData::load(dir)?;
    let stats = stats::compute(&run.ops, &run.windows, run.end_ns);
    let checkers = checks::checker_results(&run.results);
    let html_path = dir.join("report.html");
    fs::write(&html_path, html::render(&run, &stats, &checkers))
        .with_context(|| format!("writing {}", html_path.display()))?;
    let name = run.campaign_name();
    let timestamp = run
        .results
        .get("started_at")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_owned();
    let junit_path = dir.join("junit.xml");
    let xml = junit::render(&junit::Suite {
        name: &name,
        seed: run.results.get("seed").and_then(|v| v.as_u64()),
        timestamp: &timestamp,
        duration_s: stats.duration_s,
        checkers: &checkers,
    });
    fs::write(&junit_path, xml).with_context(|| format!("writing {}", junit_path.display()))?;
    Ok(Written {
        html: html_path,
        junit: junit_path,
        verdict: run.valid(),
    })
}

/// Everything a finished run's directory gets beyond what the runner wrote: `results.json`
/// enriched with the faultline version, start time and per-window statistics, `history.edn`,
/// `report.html` and `junit.xml`.
pub fn finish_run(dir: &Path) -> anyhow::Result<Written> {
    let history = dir.join("history.jsonl");
    let text =
        fs::read_to_string(&history).with_context(|| format!("reading {}", history.display()))?;
    let events: Vec<checkers::history::Event> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let edn_path = dir.join("history.edn");
    fs::write(&edn_path, edn::render(&events))
        .with_context(|| format!("writing {}", edn_path.display()))?;
    enrich_results(dir)?;
    write_reports(dir)
}

/// Adds to `results.json` what only the whole history tells: latency percentiles overall and per
/// fault window, operations by `f` and outcome; plus the version that wrote it.
fn enrich_results(dir: &Path) -> anyhow::Result<()> {
    let path = dir.join("results.json");
    if !path.exists() {
        return Ok(());
    }
    let run = RunData::load(dir)?;
    let stats = stats::compute(&run.ops, &run.windows, run.end_ns);
    let mut results = run.results;
    if let Some(obj) = results.as_object_mut() {
        obj.insert("faultline_version".into(), env!("CARGO_PKG_VERSION").into());
        if !obj.contains_key("started_at") {
            if let Some(run) = obj.get("run").cloned() {
                obj.insert("started_at".into(), run);
            }
        }
        obj.insert(
            "analysis".into(),
            serde_json::to_value(&stats).context("encoding statistics")?,
        );
    }
    let text = serde_json::to_string_pretty(&results).context("encoding results.json")?;
    fs::write(&path, text + "\n").with_context(|| format!("writing {}", path.display()))
}
