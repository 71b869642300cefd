//! `faultline fault`: inject faults by hand through the same executor the test runner uses.

use std::time::Instant;

use clap::{Args, Subcommand};
use nemesis::fault::{FaultExecutor, NodeName};
use nemesis::partition;

use super::cluster::unknown_node;
use super::kv::ClusterArg;
use super::runtime::block_on;
use crate::cluster::Cluster;
use crate::exit::{bad_input, Validity};

#[derive(Debug, Subcommand)]
pub enum FaultArgs {
    /// SIGKILL nodes (their volumes are kept).
    Kill(NodesArgs),
    /// Start killed nodes.
    Start(NodesArgs),
    /// Kill, then start nodes.
    Restart(NodesArgs),
    /// Freeze nodes (the cgroup freezer, as `docker pause`).
    Pause(NodesArgs),
    /// Thaw paused nodes.
    Resume(NodesArgs),
    /// Drop packets between groups of nodes (iptables, both directions), on top of any
    /// partition in place.
    Partition(PartitionArgs),
    /// Remove every packet-drop rule faultline added.
    Heal(HealArgs),
}

#[derive(Debug, Args)]
pub struct NodesArgs {
    /// Nodes, e.g. n1 n3; `leader` means the current leader.
    #[arg(required = true)]
    pub nodes: Vec<String>,
    #[command(flatten)]
    pub cluster: ClusterArg,
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false, id = "shape")]
pub struct PartitionArgs {
    /// Cut one node (or `leader`) off from all the others.
    #[arg(long, group = "shape", value_name = "NODE")]
    pub isolate: Option<String>,
    /// Split the nodes into two halves (the first half is the smaller when odd).
    #[arg(long, group = "shape")]
    pub halves: bool,
    /// Groups separated by '/', nodes by ',', e.g. n1,n2/n3; every node must be in a group.
    #[arg(long, group = "shape", value_name = "GROUPS")]
    pub groups: Option<String>,
    #[command(flatten)]
    pub cluster: ClusterArg,
}

#[derive(Debug, Args)]
pub struct HealArgs {
    #[command(flatten)]
    pub cluster: ClusterArg,
}

pub fn run(args: FaultArgs) -> anyhow::Result<Validity> {
    block_on(async move {
        let start = Instant::now();
        let (cluster, what) = match args {
            FaultArgs::Kill(a) => node_fault(a, NodeOp::Kill).await?,
            FaultArgs::Start(a) => node_fault(a, NodeOp::Start).await?,
            FaultArgs::Restart(a) => node_fault(a, NodeOp::Restart).await?,
            FaultArgs::Pause(a) => node_fault(a, NodeOp::Pause).await?,
            FaultArgs::Resume(a) => node_fault(a, NodeOp::Resume).await?,
            FaultArgs::Partition(a) => {
                let cluster = crate::system::connect(&a.cluster.cluster).await?;
                let groups = groups(&cluster, &a).await?;
                let grudge = partition::complete_grudge(&groups);
                cluster.faults().partition(&grudge).await?;
                let shown: Vec<String> = groups.iter().map(|g| g.join(",")).collect();
                (cluster, format!("partitioned {}", shown.join(" / ")))
            }
            FaultArgs::Heal(a) => {
                let cluster = crate::system::connect(&a.cluster.cluster).await?;
                cluster.faults().heal().await?;
                (cluster, "healed all partitions".to_string())
            }
        };
        println!("{what} in {:.2} s", start.elapsed().as_secs_f64());
        // Read back from Docker and the nodes, not from what we meant to do.
        let active = cluster.faults().active().await?;
        println!("faults: {}", active.describe());
        Ok(Validity::Valid)
    })
}

#[derive(Debug, Clone, Copy)]
enum NodeOp {
    Kill,
    Start,
    Restart,
    Pause,
    Resume,
}

async fn node_fault(args: NodesArgs, op: NodeOp) -> anyhow::Result<(Cluster, String)> {
    let cluster = crate::system::connect(&args.cluster.cluster).await?;
    let mut nodes = Vec::new();
    for name in &args.nodes {
        nodes.push(resolve(&cluster, name).await?);
    }
    let faults = cluster.faults();
    let verb = match op {
        NodeOp::Kill => faults.kill(&nodes).await.map(|()| "killed"),
        NodeOp::Start => faults.start(&nodes).await.map(|()| "started"),
        NodeOp::Restart => faults.restart(&nodes).await.map(|()| "restarted"),
        NodeOp::Pause => faults.pause(&nodes).await.map(|()| "paused"),
        NodeOp::Resume => faults.resume(&nodes).await.map(|()| "resumed"),
    }?;
    Ok((cluster, format!("{verb} {}", nodes.join(","))))
}

/// A node name of this cluster, or the current leader for `leader`.
async fn resolve(cluster: &Cluster, name: &str) -> anyhow::Result<NodeName> {
    if name == "leader" {
        return cluster.leader().await?.ok_or_else(|| {
            anyhow::anyhow!(
                "cluster {} has no leader now; name a node instead (see `faultline cluster status --name {}`)",
                cluster.name(),
                cluster.name()
            )
        });
    }
    match cluster.node(name) {
        Some(node) => Ok(node.name.clone()),
        None => Err(unknown_node(cluster, name)),
    }
}

async fn groups(cluster: &Cluster, args: &PartitionArgs) -> anyhow::Result<Vec<Vec<NodeName>>> {
    let all: Vec<NodeName> = cluster.nodes().iter().map(|n| n.name.clone()).collect();
    if let Some(node) = &args.isolate {
        let node = resolve(cluster, node).await?;
        return Ok(partition::isolate(&node, &all));
    }
    if args.halves {
        if all.len() < 2 {
            return Err(bad_input("--halves needs at least 2 nodes"));
        }
        return Ok(partition::halves(&all));
    }
    let spec = args.groups.as_deref().unwrap_or_default();
    let mut groups = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for group in spec.split('/') {
        let mut members = Vec::new();
        for name in group.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let node = resolve(cluster, name).await?;
            if !seen.insert(node.clone()) {
                return Err(bad_input(format!(
                    "--groups {spec:?}: {node} is in two groups"
                )));
            }
            members.push(node);
        }
        if members.is_empty() {
            return Err(bad_input(format!("--groups {spec:?}: an empty group")));
        }
        groups.push(members);
    }
    if groups.len() < 2 {
        return Err(bad_input(format!(
            "--groups {spec:?}: give at least two groups separated by '/', e.g. n1,n2/n3"
        )));
    }
    let missing: Vec<&NodeName> = all.iter().filter(|n| !seen.contains(*n)).collect();
    if !missing.is_empty() {
        return Err(bad_input(format!(
            "--groups {spec:?}: every node must be in a group; missing {}",
            missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(",")
        )));
    }
    Ok(groups)
}
