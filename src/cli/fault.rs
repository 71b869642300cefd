//! `faultline fault`: inject faults by hand through the same executor the test runner uses.

use std::time::Instant;

use clap::{Args, Subcommand};
use nemesis::fault::{FaultExecutor, Grudge, NodeName};
use nemesis::link::{
    describe_links, Delay, LinkFault, LinkKind, LinkPattern, Percent, Rate, Shape,
};
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
    /// Drop a share of the packets on links (iptables' statistic match, at the receiving end),
    /// on top of any partition or link fault in place.
    Loss(LossArgs),
    /// Limit the bandwidth of links (a tbf qdisc on the sending end).
    Slow(SlowArgs),
    /// Delay the packets on links (a netem qdisc on the sending end; needs a kernel with netem).
    Delay(DelayArgs),
    /// Move nodes' clocks, or make them run fast or slow (libfaketime preloaded in faultline's
    /// node; the host's clock is untouched), replacing any shift in place; `heal` puts them back.
    Clock(ClockArgs),
    /// Remove every partition and link fault faultline added, and put every clock back.
    Heal(HealArgs),
}

#[derive(Debug, Args)]
pub struct ClockArgs {
    /// Nodes, e.g. n1 n3; `leader` means the current leader.
    #[arg(required = true)]
    pub nodes: Vec<String>,
    /// How far: +30s, -2m, 1h (ahead when unsigned).
    #[arg(long, allow_hyphen_values = true, required_unless_present = "rate")]
    pub offset: Option<String>,
    /// How fast the clock runs from now on: 1.5 (fast), 0.5 (slow); from 0.1 to 10.
    #[arg(long, allow_hyphen_values = true)]
    pub rate: Option<f64>,
    #[command(flatten)]
    pub cluster: ClusterArg,
}

/// Which links a link fault degrades.
#[derive(Debug, Args)]
pub struct LinksArgs {
    /// all (every link, the default), halves, isolate-one, isolate-leader, majorities-ring or
    /// bridge.
    #[arg(long, default_value = "all", conflicts_with = "isolate")]
    pub pattern: String,
    /// The links between this node (or `leader`) and every other node, both ways.
    #[arg(long, value_name = "NODE")]
    pub isolate: Option<String>,
    #[command(flatten)]
    pub cluster: ClusterArg,
}

#[derive(Debug, Args)]
pub struct LossArgs {
    /// Share of packets dropped on each link and direction, more than 0 and at most 100.
    #[arg(long, allow_negative_numbers = true)]
    pub percent: f64,
    #[command(flatten)]
    pub links: LinksArgs,
}

#[derive(Debug, Args)]
pub struct SlowArgs {
    /// Bandwidth of each link and direction: 1mbit, 500kbit, ...
    #[arg(long)]
    pub rate: String,
    #[command(flatten)]
    pub links: LinksArgs,
}

#[derive(Debug, Args)]
pub struct DelayArgs {
    /// Delay added to each packet, in ms.
    #[arg(long)]
    pub ms: u32,
    /// Up to this much more or less, in ms.
    #[arg(long, default_value_t = 0)]
    pub jitter_ms: u32,
    #[command(flatten)]
    pub links: LinksArgs,
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
            FaultArgs::Loss(a) => {
                let percent = Percent::new(a.percent)
                    .map_err(|e| bad_input(format!("--percent {}: {e}", a.percent)))?;
                link_fault(&a.links, Shape::Loss(percent)).await?
            }
            FaultArgs::Slow(a) => {
                let rate: Rate = a
                    .rate
                    .parse()
                    .map_err(|e| bad_input(format!("--rate: {e}")))?;
                link_fault(&a.links, Shape::Slow(rate)).await?
            }
            FaultArgs::Delay(a) => {
                if a.ms == 0 {
                    return Err(bad_input("--ms: a delay must be more than 0 ms"));
                }
                // Refuse before touching the cluster, saying why, rather than fail half-way.
                if let Err(why) =
                    crate::cluster::links::probe_netem(&a.links.cluster.cluster).await?
                {
                    return Err(bad_input(format!("this host cannot delay packets: {why}")));
                }
                let delay = Delay {
                    ms: a.ms,
                    jitter_ms: a.jitter_ms,
                };
                link_fault(&a.links, Shape::Delay(delay)).await?
            }
            FaultArgs::Clock(a) => {
                let offset_secs = match &a.offset {
                    Some(o) => crate::runner::validate_nemesis::parse_offset(o)
                        .map_err(|e| bad_input(format!("--offset: {e}")))?,
                    None => 0,
                };
                let rate = a
                    .rate
                    .map(nemesis::ClockRate::new)
                    .transpose()
                    .map_err(|e| bad_input(format!("--rate: {e}")))?;
                let shift = nemesis::ClockShift { offset_secs, rate };
                let cluster = crate::system::connect(&a.cluster.cluster).await?;
                if let Err(why) = crate::system::clock_faults(cluster.system().kind()) {
                    return Err(bad_input(format!(
                        "cluster {} cannot take clock faults: {why}",
                        cluster.name()
                    )));
                }
                let mut nodes = Vec::new();
                for name in &a.nodes {
                    nodes.push(resolve(&cluster, name).await?);
                }
                let faults = cluster.faults();
                for name in &nodes {
                    let node = cluster.node(name).expect("resolved above");
                    if !faults
                        .clock_preloaded(node)
                        .await
                        .map_err(anyhow::Error::msg)?
                    {
                        return Err(bad_input(format!(
                            "{name} of cluster {} was started without libfaketime preloaded: \
                             start it with `faultline cluster up --clock-faults` to move its clocks",
                            cluster.name()
                        )));
                    }
                }
                faults.bump_clock(&nodes, shift).await?;
                let what = match rate {
                    None => format!("moved the clock of {} by {offset_secs:+}s", nodes.join(",")),
                    Some(r) => format!(
                        "moved the clock of {} by {offset_secs:+}s, running at {r}",
                        nodes.join(",")
                    ),
                };
                (cluster, what)
            }
            FaultArgs::Heal(a) => {
                let cluster = crate::system::connect(&a.cluster.cluster).await?;
                let faults = cluster.faults();
                // Every kind, each verified; the first failure is reported after all ran.
                let mut errors = Vec::new();
                if let Err(e) = faults.heal().await {
                    errors.push(format!("partitions: {e}"));
                }
                for kind in LinkKind::ALL {
                    if let Err(e) = faults.restore(kind).await {
                        errors.push(format!("{kind}: {e}"));
                    }
                }
                let all: Vec<NodeName> = cluster.nodes().iter().map(|n| n.name.clone()).collect();
                if let Err(e) = faults.reset_clocks(&all).await {
                    errors.push(format!("clocks: {e}"));
                }
                if !errors.is_empty() {
                    anyhow::bail!("heal failed: {}", errors.join("; "));
                }
                (
                    cluster,
                    "healed all partitions, link faults and clocks".to_string(),
                )
            }
        };
        println!("{what} in {:.2} s", start.elapsed().as_secs_f64());
        // Read back from Docker and the nodes, not from what we meant to do.
        let active = cluster.faults().active().await?;
        println!("faults: {}", active.describe());
        Ok(Validity::Valid)
    })
}

/// Resolves the links and degrades them through the executor (which verifies them).
async fn link_fault(args: &LinksArgs, shape: Shape) -> anyhow::Result<(Cluster, String)> {
    let cluster = crate::system::connect(&args.cluster.cluster).await?;
    let links = links(&cluster, args).await?;
    let fault = LinkFault {
        links: links.clone(),
        shape,
    };
    cluster.faults().degrade(&fault).await?;
    Ok((cluster, format!("{shape} on {}", describe_links(&links))))
}

async fn links(cluster: &Cluster, args: &LinksArgs) -> anyhow::Result<Grudge> {
    let all: Vec<NodeName> = cluster.nodes().iter().map(|n| n.name.clone()).collect();
    if let Some(node) = &args.isolate {
        let node = resolve(cluster, node).await?;
        if all.len() < 2 {
            return Err(bad_input("--isolate needs at least 2 nodes"));
        }
        return Ok(partition::complete_grudge(&partition::isolate(&node, &all)));
    }
    let pattern: LinkPattern = args
        .pattern
        .parse()
        .map_err(|e| bad_input(format!("--pattern: {e}")))?;
    if all.len() < pattern.min_nodes() {
        return Err(bad_input(format!(
            "--pattern {pattern} needs at least {} nodes; cluster {} has {}",
            pattern.min_nodes(),
            cluster.name(),
            all.len()
        )));
    }
    // By hand, halves are the nodes in name order (as `partition --halves`).
    if args.pattern == "halves" {
        return Ok(partition::complete_grudge(&partition::halves(&all)));
    }
    let leader = if pattern.needs_leader() {
        Some(resolve(cluster, "leader").await?)
    } else {
        None
    };
    let mut rng = rand::thread_rng();
    Ok(pattern.links(&all, leader.as_ref(), &mut rng)?)
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
