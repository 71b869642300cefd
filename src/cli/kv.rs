//! `faultline kv`: put/get/cas against a running cluster. Placeholder until its issue lands.

use clap::Subcommand;

use super::exit::Code;

#[derive(Debug, Subcommand)]
pub enum KvArgs {
    /// Placeholder.
    Todo,
}

pub fn run(_args: KvArgs) -> anyhow::Result<Code> {
    anyhow::bail!("faultline kv is not built yet")
}
