//! `faultline cluster`: start, inspect and remove clusters in Docker.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

use super::cluster_membership::{self as membership, Change, MemberArgs};
use super::runtime::block_on;
use crate::cluster::reach::ReachChoice;
use crate::cluster::{self, names, Cluster, ClusterSpec, ClusterStatus};
use crate::exit::{bad_input, Validity};
use crate::system::SystemSpec;

#[derive(Debug, Subcommand)]
pub enum ClusterArgs {
    /// Start a fresh cluster and wait for a leader.
    Up(UpArgs),
    /// Show each node's container state, Raft role and indexes, the leader and active faults.
    Status(StatusArgs),
    /// Print a node's log, or write every node's log to a directory.
    Logs(LogsArgs),
    /// Remove a cluster's containers, network and (unless kept) volumes.
    Down(DownArgs),
    /// List the faultline clusters on this Docker engine.
    Ls(LsArgs),
    /// Make nodes voters again: each joins as a learner, catches up, and is promoted.
    Add(MemberArgs),
    /// Take nodes out of the Raft configuration (they keep running).
    Remove(MemberArgs),
    /// Replace nodes, one at a time, by new nodes with empty volumes that join.
    Replace(MemberArgs),
}

/// The cluster a command works on.
#[derive(Debug, Args)]
pub struct NameArg {
    /// The cluster's name.
    #[arg(long, env = "FAULTLINE_CLUSTER", default_value = names::DEFAULT_CLUSTER)]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub name: NameArg,
    /// How many nodes.
    #[arg(long, default_value_t = 3)]
    pub nodes: u64,
    /// What the cluster runs: faultline (its own node), etcd, or etcd-serializable (etcd whose
    /// reads are served by each member locally).
    #[arg(long, default_value = "faultline", value_parser = SystemSpec::from_name)]
    pub system: SystemSpec,
    /// The system's image; by default the image built for it here, built if missing.
    #[arg(long)]
    pub image: Option<String>,
    #[command(flatten)]
    pub source: cluster::image::BuildOptions,
    /// An extra argument for `faultline node` (repeatable), e.g. --node-arg=--unsafe-bug --node-arg=x.
    #[arg(long = "node-arg", allow_hyphen_values = true)]
    pub node_args: Vec<String>,
    /// Seconds to wait for a leader.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// Return once the containers run, without waiting for a leader.
    #[arg(long)]
    pub no_wait: bool,
    /// How to reach the nodes: auto (published ports when the engine is remote or Docker
    /// Desktop), bridge (their addresses on the cluster network) or published.
    #[arg(long, value_enum, env = "FAULTLINE_REACH", default_value = "auto")]
    pub reach: ReachChoice,
    /// Run `sleep infinity` instead of the node (tests of the harness itself).
    #[arg(long, hide = true)]
    pub idle: bool,
    /// Preload libfaketime into every node so `faultline fault clock` can move its clock
    /// (faultline's own node only; every clock read the node makes costs more).
    #[arg(long)]
    pub clock_faults: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub name: NameArg,
    /// Print JSON: {"name":..,"leader":..,"nodes":[..],"faults":{..}}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The node, e.g. n1.
    #[arg(required_unless_present = "out")]
    pub node: Option<String>,
    #[command(flatten)]
    pub name: NameArg,
    /// Keep printing as the node logs.
    #[arg(long, short)]
    pub follow: bool,
    /// Write every node's log to DIR/<node>.log instead.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["node", "follow"])]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    #[command(flatten)]
    pub name: NameArg,
    /// Keep the nodes' data volumes (a later `up` with the same name reuses them).
    #[arg(long)]
    pub keep_volumes: bool,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ClusterArgs) -> anyhow::Result<Validity> {
    block_on(async move {
        match args {
            ClusterArgs::Up(a) => up(a).await,
            ClusterArgs::Status(a) => status(a).await,
            ClusterArgs::Logs(a) => logs(a).await,
            ClusterArgs::Down(a) => down(a).await,
            ClusterArgs::Ls(a) => ls(a).await,
            ClusterArgs::Add(a) => membership::run(Change::Add, a).await,
            ClusterArgs::Remove(a) => membership::run(Change::Remove, a).await,
            ClusterArgs::Replace(a) => membership::run(Change::Replace, a).await,
        }
    })
}

async fn up(args: UpArgs) -> anyhow::Result<Validity> {
    let name = args.name.name;
    names::validate(&name)?;
    if !args.node_args.is_empty() && !args.system.takes_planted_bugs() {
        return Err(bad_input(format!(
            "--node-arg is for faultline's own node, not {}",
            args.system.kind()
        )));
    }
    if args.clock_faults {
        if let Err(why) = crate::system::clock_faults(args.system.kind()) {
            return Err(bad_input(format!("--clock-faults: {why}")));
        }
    }
    let image = match (args.image, &args.system) {
        (Some(image), _) => image,
        (None, SystemSpec::Faultline) => {
            let docker = cluster::docker::connect().await?;
            let built = cluster::image::ensure(&docker, &args.source).await?;
            super::image::report(&built);
            built.tag
        }
        (None, system) => {
            let docker = cluster::docker::connect().await?;
            system.image(&docker, &args.source).await?
        }
    };
    let start = Instant::now();
    let spec = ClusterSpec {
        node_args: args.node_args,
        leader_timeout: (!args.no_wait && !args.idle).then(|| Duration::from_secs(args.timeout)),
        command: args
            .idle
            .then(|| vec!["sleep".to_string(), "infinity".to_string()]),
        reach: args.reach,
        clock_faults: args.clock_faults,
        ..ClusterSpec::new(&name, args.nodes, image, args.system.shared())
    };
    let cluster = Cluster::up(&spec).await?;
    let took = start.elapsed();
    let status = cluster.status().await?;
    print!("{}", status_table(&status));
    match &status.leader {
        Some(leader) => println!(
            "cluster {name} up in {:.1} s on {}: leader {leader}",
            took.as_secs_f64(),
            cluster.subnet()
        ),
        None => println!(
            "cluster {name} up in {:.1} s on {} (not waiting for a leader)",
            took.as_secs_f64(),
            cluster.subnet()
        ),
    }
    Ok(Validity::Valid)
}

async fn status(args: StatusArgs) -> anyhow::Result<Validity> {
    let cluster = crate::system::connect(&args.name.name).await?;
    let status = cluster.status().await?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&status).context("encoding the status")?
        );
    } else {
        print!("{}", status_table(&status));
        println!("leader: {}", status.leader.as_deref().unwrap_or("none"));
        println!("faults: {}", status.faults.describe());
    }
    Ok(Validity::Valid)
}

async fn logs(args: LogsArgs) -> anyhow::Result<Validity> {
    let cluster = crate::system::connect(&args.name.name).await?;
    if let Some(dir) = args.out {
        for path in cluster.collect_logs(&dir).await? {
            println!("{}", path.display());
        }
        return Ok(Validity::Valid);
    }
    let node_name = args.node.unwrap_or_default();
    let Some(node) = cluster.node(&node_name) else {
        return Err(unknown_node(&cluster, &node_name));
    };
    let mut stdout = tokio::io::stdout();
    cluster::logs::copy(&cluster, node, args.follow, &mut stdout).await?;
    Ok(Validity::Valid)
}

async fn down(args: DownArgs) -> anyhow::Result<Validity> {
    let name = args.name.name;
    let docker = cluster::docker::connect().await?;
    let removed = cluster::lifecycle::down(&docker, &name, args.keep_volumes).await?;
    if removed == Default::default() {
        println!("no cluster named {name}: nothing to remove");
    } else {
        println!(
            "removed cluster {name}: {} containers, {} networks, {} volumes{}",
            removed.containers,
            removed.networks,
            removed.volumes,
            if args.keep_volumes {
                " (volumes kept)"
            } else {
                ""
            }
        );
    }
    Ok(Validity::Valid)
}

async fn ls(args: LsArgs) -> anyhow::Result<Validity> {
    let docker = cluster::docker::connect().await?;
    let clusters = cluster::inventory::ls(&docker).await?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&clusters).context("encoding the list")?
        );
        return Ok(Validity::Valid);
    }
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(["CLUSTER", "NODES", "RUNNING", "SUBNET", "VOLUMES"]);
    for c in &clusters {
        table.add_row([
            c.name.clone(),
            c.nodes.to_string(),
            c.running.to_string(),
            c.subnet.clone().unwrap_or_else(|| "-".into()),
            c.volumes.to_string(),
        ]);
    }
    if clusters.is_empty() {
        println!("no faultline clusters (start one with `faultline cluster up`)");
    } else {
        println!("{table}");
    }
    Ok(Validity::Valid)
}

/// A node name for the CLI's error messages: unknown names are bad input.
pub fn unknown_node(cluster: &Cluster, name: &str) -> anyhow::Error {
    let known: Vec<&str> = cluster.nodes().iter().map(|n| n.name.as_str()).collect();
    bad_input(format!(
        "no node {name:?} in cluster {} (its nodes: {})",
        cluster.name(),
        known.join(", ")
    ))
}

fn status_table(status: &ClusterStatus) -> String {
    let dash = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header([
        "NODE", "STATE", "ADDRESS", "ROLE", "TERM", "LAST LOG", "APPLIED", "LEADER",
    ]);
    for n in &status.nodes {
        let role = match (&n.role, &n.error) {
            (Some(role), _) => role.clone(),
            (None, Some(_)) => "unreachable".into(),
            (None, None) => "-".into(),
        };
        table.add_row([
            n.name.clone(),
            n.state.clone(),
            n.addr.clone(),
            role,
            dash(n.term),
            dash(n.last_log_index),
            dash(n.applied_index),
            n.leader.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    format!("{table}\n")
}
