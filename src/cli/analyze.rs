//! `faultline analyze RESULTS_DIR`: re-check a recorded run with this faultline's checkers and
//! rewrite its results, JUnit file and report, keeping the old verdict to compare.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::exit::Validity;
use crate::runner::analyze::reanalyze;
use crate::runner::check::Limits;

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// A run's results directory (history.jsonl and the results.json faultline wrote).
    pub dir: PathBuf,
}

pub fn run(args: AnalyzeArgs) -> anyhow::Result<Validity> {
    let limits = Limits {
        time: Duration::from_secs(60),
        memory_mb: 4096,
    };
    let results = reanalyze(&args.dir, limits)?;
    for c in &results.checkers {
        println!("checker {}: {} - {}", c.name, c.valid.label(), c.summary);
    }
    let before = results
        .previous
        .as_ref()
        .map(|p| p.valid.label())
        .unwrap_or("none");
    println!(
        "{}: recorded {before}, now {} (results.json, junit.xml and report.html rewritten)",
        args.dir.display(),
        results.valid.label()
    );
    Ok(results.valid)
}
