//! `faultline gen-history`: placeholder until the generator lands.

use clap::Args;

use super::exit::Code;

#[derive(Debug, Args)]
pub struct GenHistoryArgs {
    /// Output file.
    pub out: std::path::PathBuf,
}

pub fn run(_args: GenHistoryArgs) -> anyhow::Result<Code> {
    anyhow::bail!("faultline gen-history is not built yet")
}
