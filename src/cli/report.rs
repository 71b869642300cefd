//! `faultline report`: Regenerate a run's report from its result directory. Placeholder until its issue lands.

use clap::Args;

use super::exit::Code;

#[derive(Debug, Args)]
pub struct ReportArgs {}

pub fn run(_args: ReportArgs) -> anyhow::Result<Code> {
    anyhow::bail!("faultline report is not built yet")
}
