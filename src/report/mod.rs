//! Reports for people and for CI, written into a run's result directory: `report.html` and
//! `junit.xml`, from `history.jsonl` and `results.json`. Reading only those two files lets
//! `faultline report DIR` regenerate any run, including a history checked from another tool.

mod checks;
mod html;
mod junit;
mod run_data;
pub mod runs;
mod stats;
mod svg;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;

pub use run_data::{RunData, Verdict};

/// What `write_reports` produced.
#[derive(Debug)]
pub struct Written {
    pub html: PathBuf,
    pub junit: PathBuf,
    pub verdict: Verdict,
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
