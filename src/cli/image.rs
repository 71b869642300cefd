//! `faultline image`: build the node image through the Docker API.

use clap::{Args, Subcommand};

use super::runtime::block_on;
use crate::cluster::{self, image::Built};
use crate::exit::Validity;

#[derive(Debug, Subcommand)]
pub enum ImageArgs {
    /// Build faultline/node:<hash> (and :latest) from this binary over the Debian base; a no-op
    /// when nothing changed.
    Build(BuildArgs),
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub source: cluster::image::BuildOptions,
}

pub fn run(args: ImageArgs) -> anyhow::Result<Validity> {
    match args {
        ImageArgs::Build(a) => block_on(async move {
            let docker = cluster::docker::connect().await?;
            let built = cluster::image::ensure(&docker, &a.source).await?;
            report(&built);
            println!("{}", built.tag);
            Ok(Validity::Valid)
        }),
    }
}

/// Says what was built and how long it took, on stderr (stdout carries only the tag).
pub fn report(built: &Built) {
    for line in built.summary() {
        eprintln!("{line}");
    }
}
