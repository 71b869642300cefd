//! `faultline test`: Run a campaign (faultline test CAMPAIGN.yaml). Placeholder until its issue lands.

use clap::Args;

use super::exit::Code;

#[derive(Debug, Args)]
pub struct TestArgs {}

pub fn run(_args: TestArgs) -> anyhow::Result<Code> {
    anyhow::bail!("faultline test is not built yet")
}
