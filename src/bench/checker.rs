//! Checker benchmark: placeholder until the checker lands.

use clap::Args;

use crate::cli::exit::Code;

#[derive(Debug, Default, Args)]
pub struct CheckerBenchArgs {}

pub fn run(_args: CheckerBenchArgs) -> anyhow::Result<Code> {
    anyhow::bail!("faultline bench checker is not built yet")
}
