//! `faultline check`: placeholder until the checker lands.

use clap::Args;

use super::exit::Code;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// History files or directories.
    pub paths: Vec<std::path::PathBuf>,
}

pub fn run(_args: CheckArgs) -> anyhow::Result<Code> {
    anyhow::bail!("faultline check is not built yet")
}
