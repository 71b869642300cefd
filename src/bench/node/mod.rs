//! `faultline bench node`: start a 3-node cluster of each system asked for (local processes
//! on 127.0.0.1, or Docker containers with `--docker`), drive it with N concurrent clients
//! through the system's own client (the path a campaign's workload takes), and report writes/s,
//! reads/s and latency percentiles, one table for every system.
//!
//! - `load`: the clients and the figures;
//! - `local`: local process clusters (faultline's nodes, etcd from PATH).

mod load;
mod local;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use nemesis::fault::NodeName;

use crate::cluster::client::Client;
use crate::cluster::reach::ReachChoice;
use crate::cluster::{Cluster, ClusterSpec};
use crate::exit::{bad_input, Validity};
use crate::system::SystemSpec;
use load::{drive, Load, Phase};

#[derive(Debug, Args)]
pub struct NodeBenchArgs {
    /// Concurrent clients (each one request at a time).
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Seconds of measurement per phase (writes, then reads).
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Distinct keys the clients spread over.
    #[arg(long, default_value_t = 1000)]
    pub keys: usize,
    /// Size of each written value in bytes.
    #[arg(long, default_value_t = 16)]
    pub value_bytes: usize,
    /// Which nodes clients talk to: all (followers forward or serve) or the leader only.
    #[arg(long, value_enum, default_value_t = Via::All)]
    pub via: Via,
    /// A system to measure (repeatable): faultline, etcd or etcd-serializable. Default:
    /// faultline.
    #[arg(long = "system", value_parser = SystemSpec::from_name)]
    pub systems: Vec<SystemSpec>,
    /// Also measure etcd (the same as --system etcd).
    #[arg(long)]
    pub etcd: bool,
    /// Leave faultline's own nodes out of the default list (with --etcd: etcd only).
    #[arg(long)]
    pub no_faultline: bool,
    /// Run each system as a 3-node Docker cluster (its image built here if missing) instead of
    /// local processes; etcd then needs nothing on PATH.
    #[arg(long)]
    pub docker: bool,
    /// With --docker: how to reach the nodes (see `cluster up --reach`).
    #[arg(long, value_enum, default_value = "auto", requires = "docker")]
    pub reach: ReachChoice,
}

impl Default for NodeBenchArgs {
    fn default() -> Self {
        NodeBenchArgs {
            clients: 64,
            seconds: 10,
            keys: 1000,
            value_bytes: 16,
            via: Via::All,
            systems: Vec::new(),
            etcd: false,
            no_faultline: false,
            docker: false,
            reach: ReachChoice::Auto,
        }
    }
}

impl NodeBenchArgs {
    /// The systems to measure, in order, each once.
    fn systems(&self) -> Vec<SystemSpec> {
        let mut systems = self.systems.clone();
        if systems.is_empty() && !self.no_faultline {
            systems.push(SystemSpec::Faultline);
        }
        if self.etcd {
            systems.push(SystemSpec::from_name("etcd").expect("a known system"));
        }
        if self.no_faultline {
            systems.retain(|s| *s != SystemSpec::Faultline);
        }
        let mut unique: Vec<SystemSpec> = Vec::new();
        for s in systems {
            if !unique.contains(&s) {
                unique.push(s);
            }
        }
        unique
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Via {
    All,
    Leader,
}

pub fn run(args: NodeBenchArgs) -> anyhow::Result<Validity> {
    if args.clients == 0 || args.seconds == 0 || args.keys == 0 {
        return Err(bad_input(
            "--clients, --seconds and --keys must be at least 1",
        ));
    }
    let systems = args.systems();
    if systems.is_empty() {
        return Err(bad_input(
            "no system to measure: --no-faultline leaves none; add --system etcd or --etcd",
        ));
    }
    let rt = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    rt.block_on(async {
        let build = if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        };
        let place = if args.docker {
            "3 Docker containers"
        } else {
            "3 local processes on 127.0.0.1"
        };
        println!(
            "faultline bench node: {place}, {} clients, {} s per phase, {} keys, {}-byte values, \
             via {} ({build} build)",
            args.clients,
            args.seconds,
            args.keys,
            args.value_bytes,
            match args.via {
                Via::All => "all nodes",
                Via::Leader => "the leader",
            }
        );
        println!(
            "{:<18} {:<6} {:>9} {:>10} {:>8} {:>8} {:>8} {:>7}",
            "system", "phase", "ops", "ops/s", "p50 ms", "p99 ms", "max ms", "errors"
        );
        for system in &systems {
            if args.docker {
                bench_docker(system, &args).await?;
            } else {
                bench_local(system, &args).await?;
            }
        }
        Ok(Validity::Valid)
    })
}

/// One system as local processes, in a temporary directory removed afterwards.
async fn bench_local(system: &SystemSpec, args: &NodeBenchArgs) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!(
        "faultline-bench-{}-{}",
        std::process::id(),
        system.name()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let result = async {
        let cluster = match system {
            SystemSpec::Faultline => local::start_faultline(&dir)?,
            SystemSpec::Etcd { .. } => local::start_etcd(&dir)?,
            SystemSpec::Http(_) => bail!("an http system runs in Docker only: add --docker"),
        };
        let nodes: Vec<(NodeName, SocketAddr)> = (1..)
            .zip(&cluster.client_addrs)
            .map(|(i, a)| (format!("n{i}"), *a))
            .collect();
        measure(system, &nodes, args).await
    }
    .await;
    if let Err(e) = std::fs::remove_dir_all(&dir) {
        tracing::warn!(target: "faultline::bench", "removing {}: {e}", dir.display());
    }
    result
}

/// One system as a fresh Docker cluster, removed afterwards whatever happened.
async fn bench_docker(system: &SystemSpec, args: &NodeBenchArgs) -> anyhow::Result<()> {
    let name = format!("bench-node-{}-{}", system.name(), std::process::id());
    let docker = crate::cluster::docker::connect().await?;
    let image = system.image(&docker, &Default::default()).await?;
    let spec = ClusterSpec {
        reach: args.reach,
        leader_timeout: None,
        ..ClusterSpec::new(&name, 3, image, system.clone().shared())
    };
    let cluster = Cluster::up(&spec).await?;
    let nodes: Vec<(NodeName, SocketAddr)> = cluster
        .nodes()
        .iter()
        .map(|n| (n.name.clone(), n.dial))
        .collect();
    let result = measure(system, &nodes, args).await;
    let down = cluster.down(false).await;
    result?;
    down.map(|_| ())
}

/// Waits for a leader, warms up, then measures writes and reads and prints a line for each.
async fn measure(
    system: &SystemSpec,
    nodes: &[(NodeName, SocketAddr)],
    args: &NodeBenchArgs,
) -> anyhow::Result<()> {
    let client = system.client(Duration::from_secs(10))?;
    let leader = wait_for_leader(&client, nodes).await?;
    let endpoints: Vec<SocketAddr> = match args.via {
        Via::All => nodes.iter().map(|(_, a)| *a).collect(),
        Via::Leader => nodes
            .iter()
            .filter(|(n, _)| *n == leader)
            .map(|(_, a)| *a)
            .collect(),
    };
    let endpoints = Arc::new(endpoints);
    let load = Load {
        clients: args.clients,
        keys: args.keys,
        value_bytes: args.value_bytes,
    };
    // A short unmeasured warm-up opens connections and fills the keys the read phase reads.
    drive(
        &client,
        Phase::Write,
        &endpoints,
        load,
        Duration::from_secs(1),
    )
    .await;
    let name = system.name();
    for phase in [Phase::Write, Phase::Read] {
        let r = drive(
            &client,
            phase,
            &endpoints,
            load,
            Duration::from_secs(args.seconds),
        )
        .await;
        println!("{}", r.line(&name, phase));
        if let Some(e) = &r.first_error {
            tracing::warn!(target: "faultline::bench", "{name}: first failed request: {e}");
        }
    }
    Ok(())
}

/// Polls until a node says it leads, for at most 60 s.
async fn wait_for_leader<C: Client>(
    client: &C,
    nodes: &[(NodeName, SocketAddr)],
) -> anyhow::Result<NodeName> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let last = match crate::cluster::node_system::leader(client, nodes).await {
            Ok(Some(leader)) => return Ok(leader),
            Ok(None) => "no node leads yet".to_string(),
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() > deadline {
            bail!("the cluster at {nodes:?} elected no leader within 60 s: {last}");
        }
        // Poll interval inside the deadline loop above.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systems_come_from_system_flags_and_the_old_etcd_flags() {
        let names = |args: NodeBenchArgs| -> Vec<String> {
            args.systems().iter().map(SystemSpec::name).collect()
        };
        assert_eq!(names(NodeBenchArgs::default()), ["faultline"]);
        let etcd = NodeBenchArgs {
            etcd: true,
            ..NodeBenchArgs::default()
        };
        assert_eq!(names(etcd), ["faultline", "etcd"]);
        let only = NodeBenchArgs {
            etcd: true,
            no_faultline: true,
            ..NodeBenchArgs::default()
        };
        assert_eq!(names(only), ["etcd"]);
        let listed = NodeBenchArgs {
            systems: vec![
                SystemSpec::from_name("etcd-serializable").unwrap(),
                SystemSpec::from_name("faultline").unwrap(),
            ],
            etcd: true,
            ..NodeBenchArgs::default()
        };
        assert_eq!(names(listed), ["etcd-serializable", "faultline", "etcd"]);
    }
}
