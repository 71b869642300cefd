//! `faultline image`: Build the node image (faultline image build). Placeholder until its issue lands.

use clap::Subcommand;

use super::exit::Code;

#[derive(Debug, Subcommand)]
pub enum ImageArgs {
    /// Placeholder.
    Todo,
}

pub fn run(_args: ImageArgs) -> anyhow::Result<Code> {
    anyhow::bail!("faultline image is not built yet")
}
