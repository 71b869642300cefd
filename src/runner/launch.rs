//! A whole `faultline test` run as a library call: the run directory (campaign saved), the
//! target the plan asks for (a fresh Docker cluster, or local node processes), the phases, and
//! the results store's files.

use tokio::sync::watch;

use super::phases::{self, Options, Outcome};
use super::plan::Plan;
use crate::cluster::client::{Client, HttpClient};
use crate::cluster::docker_target::{DockerSetup, DockerTarget};
use crate::cluster::image::BuildOptions;
use crate::cluster::local::LocalTarget;
use crate::cluster::reach::ReachChoice;
use crate::cluster::target::TestTarget;
use crate::report::RunDir;

/// Where and how to run a plan.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    /// Local `faultline node` processes on 127.0.0.1 instead of Docker.
    pub local: bool,
    /// The node image for Docker (default: this binary's, built if missing).
    pub image: Option<String>,
    /// How the Docker cluster's nodes are reached (bridge addresses or published ports).
    pub reach: ReachChoice,
    pub options: Options,
}

/// Creates the run's directory (the campaign saved in it, the `latest` links updated).
pub fn create_run_dir(plan: &Plan) -> anyhow::Result<RunDir> {
    let dir = RunDir::create(&plan.out, &plan.name)?;
    let yaml = serde_yaml::to_string(&plan.campaign)
        .map_err(|e| anyhow::anyhow!("encoding the campaign as run: {e}"))?;
    dir.write_campaign(&yaml)?;
    Ok(dir)
}

/// Starts the target, runs every phase into `dir`, and tears the target down (unless kept).
pub async fn run(
    plan: &Plan,
    dir: &RunDir,
    launch: &Launch,
    interrupted: watch::Receiver<bool>,
) -> anyhow::Result<Outcome> {
    if launch.local {
        let client = HttpClient::new(plan.client_timeout)?;
        let target = LocalTarget::start_with(
            &plan.cluster_name,
            plan.nodes,
            &dir.path().join("cluster"),
            plan.node_args.clone(),
        )
        .await?;
        execute(plan, target, client, dir, &launch.options, interrupted).await
    } else {
        let client = plan.system.client(plan.client_timeout)?;
        run_with_client(plan, dir, launch, client, interrupted).await
    }
}

/// [`run`] on the Docker cluster of the plan's system, with a client of your own: the adapter
/// for a protocol faultline does not speak (see [`Client`]).
pub async fn run_with_client<C: Client>(
    plan: &Plan,
    dir: &RunDir,
    launch: &Launch,
    client: C,
    interrupted: watch::Receiver<bool>,
) -> anyhow::Result<Outcome> {
    let image = match &launch.image {
        Some(image) => image.clone(),
        None => {
            let docker = crate::cluster::docker::connect().await?;
            plan.system.image(&docker, &BuildOptions::default()).await?
        }
    };
    let setup = DockerSetup {
        image,
        node_args: plan.node_args.clone(),
        system: plan.system.clone().shared(),
        reach: launch.reach,
    };
    let target = DockerTarget::start(&plan.cluster_name, plan.nodes, &setup).await?;
    execute(plan, target, client, dir, &launch.options, interrupted).await
}

async fn execute<T: TestTarget, C: Client>(
    plan: &Plan,
    target: T,
    client: C,
    dir: &RunDir,
    options: &Options,
    interrupted: watch::Receiver<bool>,
) -> anyhow::Result<Outcome> {
    if options.keep_cluster {
        let nodes: Vec<String> = target
            .nodes()
            .into_iter()
            .map(|(n, a)| format!("{n}={a}"))
            .collect();
        tracing::info!(target: "faultline::runner", "{} stays up after the run: {}", target.describe(), nodes.join(" "));
    }
    phases::execute(plan, target, client, dir, options, interrupted).await
}
