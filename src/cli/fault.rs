//! `faultline fault`: Inject faults by hand: kill, start, restart, pause, resume, partition, heal. Placeholder until its issue lands.

use clap::Subcommand;

use super::exit::Code;

#[derive(Debug, Subcommand)]
pub enum FaultArgs {
    /// Placeholder.
    Todo,
}

pub fn run(_args: FaultArgs) -> anyhow::Result<Code> {
    anyhow::bail!("faultline fault is not built yet")
}
