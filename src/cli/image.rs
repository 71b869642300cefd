//! `faultline image`: build the node image through the Docker API.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::cluster::block_on;
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
    pub source: ImageSource,
}

/// Where the image's parts come from.
#[derive(Debug, Args)]
pub struct ImageSource {
    /// The faultline binary to put in the image (default: the running one).
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
    /// The base image (default: faultline/base:bookworm, built with docker/build-base.sh when
    /// missing, else debian:bookworm-slim).
    #[arg(long, value_name = "IMAGE")]
    pub base: Option<String>,
    /// The repository's docker/ directory, where build-base.sh lives.
    #[arg(long, value_name = "DIR")]
    pub docker_dir: Option<PathBuf>,
}

impl ImageSource {
    pub fn options(&self) -> cluster::image::BuildOptions {
        cluster::image::BuildOptions {
            binary: self.binary.clone(),
            base: self.base.clone(),
            docker_dir: self.docker_dir.clone(),
        }
    }
}

pub fn run(args: ImageArgs) -> anyhow::Result<Validity> {
    match args {
        ImageArgs::Build(a) => block_on(async move {
            let docker = cluster::docker::connect().await?;
            let built = cluster::image::ensure(&docker, &a.source.options()).await?;
            report(&built);
            println!("{}", built.tag);
            Ok(Validity::Valid)
        }),
    }
}

/// Says what was built and how long it took, on stderr (stdout carries only the tag).
pub fn report(built: &Built) {
    if let Some(took) = built.base_build {
        eprintln!(
            "built base image {} in {:.1} s",
            built.base,
            took.as_secs_f64()
        );
    }
    if built.built {
        eprintln!(
            "built {} over {} in {:.1} s",
            built.tag,
            built.base,
            built.elapsed.as_secs_f64()
        );
    } else {
        eprintln!(
            "{} is up to date ({:.1} s)",
            built.tag,
            built.elapsed.as_secs_f64()
        );
    }
}
