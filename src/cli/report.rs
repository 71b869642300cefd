//! `faultline report RESULTS_DIR`: regenerate `report.html` and `junit.xml` from a result
//! directory's `history.jsonl` and `results.json`.

use std::path::PathBuf;

use clap::Args;

use crate::exit::Validity;
use crate::report::store::write_reports;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A result directory (holding history.jsonl, and results.json once checked).
    pub dir: PathBuf,
}

pub fn run(args: ReportArgs) -> anyhow::Result<Validity> {
    let w = write_reports(&args.dir)?;
    println!("{}", w.html.display());
    println!("{}", w.junit.display());
    // Regenerating a report is not a verdict: it exits 0 whatever the run found (`faultline
    // check DIR` re-checks it with the verdict's exit code).
    println!("verdict: {}", w.verdict.label());
    Ok(Validity::Valid)
}
