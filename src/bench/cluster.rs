//! Cluster benchmark: how long the operator waits. Times the node image build when nothing
//! changed, and `up` to an elected leader followed by `down`, over several fresh clusters.

use std::time::{Duration, Instant};

use clap::Args;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

use anyhow::Context;

use crate::cluster::{self, Cluster, ClusterSpec};
use crate::exit::Validity;
use crate::system::SystemSpec;

#[derive(Debug, Args)]
pub struct ClusterBenchArgs {
    /// Fresh clusters to start (each is removed before the next).
    #[arg(long, default_value_t = 3)]
    pub runs: u32,
    /// Nodes per cluster.
    #[arg(long, default_value_t = 3)]
    pub nodes: u64,
    #[command(flatten)]
    pub source: cluster::image::BuildOptions,
}

pub fn run(args: ClusterBenchArgs) -> anyhow::Result<Validity> {
    if args.runs == 0 {
        return Err(crate::exit::bad_input("--runs must be at least 1"));
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let docker = cluster::docker::connect().await?;
        let first = cluster::image::ensure(&docker, &args.source).await?;
        for line in first.summary() {
            eprintln!("{line}");
        }
        let mut unchanged = Vec::new();
        let mut up = Vec::new();
        let mut down = Vec::new();
        for i in 0..args.runs {
            let built = cluster::image::ensure(&docker, &args.source).await?;
            unchanged.push(built.elapsed);

            let name = format!("bench-{}-{i}", std::process::id());
            let spec = ClusterSpec::new(
                &name,
                args.nodes,
                &built.tag,
                SystemSpec::Faultline.shared(),
            );
            let start = Instant::now();
            let result = Cluster::up(&spec).await;
            up.push(start.elapsed());
            let start = Instant::now();
            cluster::lifecycle::down(&docker, &name, false).await?;
            down.push(start.elapsed());
            result?;
        }
        let mut table = Table::new();
        table.load_preset(UTF8_FULL_CONDENSED);
        table.set_header(["PHASE", "RUNS", "MIN (s)", "MEDIAN (s)", "MAX (s)"]);
        let phases = [
            ("image build, unchanged binary", unchanged),
            (
                &*format!("cluster up, {} nodes, to a leader", args.nodes),
                up,
            ),
            ("cluster down", down),
        ];
        for (phase, mut times) in phases {
            times.sort();
            let secs = |d: Duration| format!("{:.2}", d.as_secs_f64());
            table.add_row([
                phase.to_string(),
                times.len().to_string(),
                secs(times[0]),
                secs(times[times.len() / 2]),
                secs(times[times.len() - 1]),
            ]);
        }
        println!("{table}");
        Ok(Validity::Valid)
    })
}
