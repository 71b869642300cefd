//! The openraft key-value node: placeholder until the node lands.

use clap::Args;

use crate::cli::exit::Code;

#[derive(Debug, Args)]
pub struct NodeArgs {}

pub fn run(_args: NodeArgs) -> anyhow::Result<Code> {
    anyhow::bail!("faultline node is not built yet")
}
