//! Node benchmark: placeholder until the node lands.

use clap::Args;

use crate::cli::exit::Code;

#[derive(Debug, Default, Args)]
pub struct NodeBenchArgs {}

pub fn run(_args: NodeBenchArgs) -> anyhow::Result<Code> {
    anyhow::bail!("faultline bench node is not built yet")
}
