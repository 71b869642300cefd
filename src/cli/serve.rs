//! `faultline serve`: Serve a local page listing every run. Placeholder until its issue lands.

use clap::Args;

use super::exit::Code;

#[derive(Debug, Args)]
pub struct ServeArgs {}

pub fn run(_args: ServeArgs) -> anyhow::Result<Code> {
    anyhow::bail!("faultline serve is not built yet")
}
