//! `faultline cluster`: Clusters in Docker: up, status, logs, down, ls. Placeholder until its issue lands.

use clap::Subcommand;

use super::exit::Code;

#[derive(Debug, Subcommand)]
pub enum ClusterArgs {
    /// Placeholder.
    Todo,
}

pub fn run(_args: ClusterArgs) -> anyhow::Result<Code> {
    anyhow::bail!("faultline cluster is not built yet")
}
