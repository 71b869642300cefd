//! What a test runs against: clusters in Docker (the node image, the cluster's network,
//! volumes and containers, their status and logs, the Docker implementation of the nemesis'
//! `FaultExecutor`), clusters of local `faultline node` processes, the [`TestTarget`] trait the
//! runner drives either through, and the one client of the node's HTTP API.
//!
//! The test runner drives a Docker cluster through this API:
//! `Cluster::up(&spec)` (a fresh cluster, waiting for a leader), `Cluster::connect(name, ..)`,
//! `nodes()`, `status()`, `leader()`, `wait_for_leader(..)`, `faults()`, `collect_logs(dir)`,
//! `down(keep_volumes)`. Every Docker object it creates carries `io.faultline.cluster=<name>`,
//! and nothing without that label is ever listed, changed or removed.
//!
//! Modules: `target` (the [`TestTarget`] trait), `docker_target` and `local` (its Docker and
//! local-process implementations), `node_process` (a local node's command line), `client` (HTTP
//! to the nodes: workload requests, status, `faultline kv`), `docker` (connection, error shapes),
//! `names` (names and labels), `subnet` (picking a free /24), `reach` (bridge addresses or
//! published ports), `image` (the node image), `lifecycle` (up, connect), `down` (removal by
//! label; what blocks it named, never removed), `inventory`
//! (listing by label, `ls`), `status` (container state plus each node's `/status`), `exec`
//! (`docker exec`), `netns` (commands in a node's network namespace), `faults` (the fault
//! executor), `partition` (a grudge as iptables rules), `links` (lossy, slow and delayed links as
//! iptables rules and tc qdiscs), `link_faults` (the executor's link faults), `clock` (clock
//! faults through libfaketime's control file), `logs`.

pub mod client;
pub mod clock;
pub mod docker;
pub mod docker_target;
pub mod down;
pub mod exec;
pub mod faults;
pub mod image;
pub mod inventory;
pub mod lifecycle;
pub mod link_faults;
pub mod links;
pub mod local;
pub mod logs;
pub mod membership;
pub mod names;
pub mod netns;
pub mod node_process;
pub mod node_system;
pub mod partition;
pub mod reach;
pub mod status;
pub mod subnet;
pub mod target;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;

pub use faults::DockerFaults;
pub use node_system::NodeSystem;
pub use status::ClusterStatus;
pub use target::TestTarget;

/// What to start.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    pub name: String,
    pub nodes: u64,
    /// The node image, e.g. `faultline/node:<hash12>` from `image::ensure`.
    pub image: String,
    /// Extra arguments for `faultline node`, e.g. `--unsafe-bug x`.
    pub node_args: Vec<String>,
    /// How long `up` waits for a leader; `None` returns as soon as the containers run.
    pub leader_timeout: Option<Duration>,
    /// Replaces the system's command in every container: tests of the harness itself
    /// (network, partitions) can run without a working node.
    pub command: Option<Vec<String>>,
    /// What the containers run (the system adapters' `SystemSpec` for every system faultline
    /// tests).
    pub system: Arc<dyn NodeSystem>,
    /// How faultline reaches the nodes (bridge addresses or published ports).
    pub reach: reach::ReachChoice,
    /// Preload libfaketime into every node so clock faults can move its clock (faultline's own
    /// node only; it costs every clock read the node makes, so it is off unless asked for).
    pub clock_faults: bool,
}

impl ClusterSpec {
    /// A spec with the defaults: no extra node arguments, a 30 s leader wait.
    pub fn new(
        name: impl Into<String>,
        nodes: u64,
        image: impl Into<String>,
        system: Arc<dyn NodeSystem>,
    ) -> ClusterSpec {
        ClusterSpec {
            name: name.into(),
            nodes,
            image: image.into(),
            node_args: Vec::new(),
            leader_timeout: Some(Duration::from_secs(30)),
            command: None,
            system,
            reach: reach::ReachChoice::Auto,
            clock_faults: false,
        }
    }
}

/// One node of a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// `n1`, `n2`, ...
    pub name: String,
    pub id: u64,
    /// The node's client address on the cluster network: what its peers use.
    pub addr: SocketAddr,
    /// Where faultline dials the node's client port: `addr` itself, or a port published on the
    /// engine's host (see [`reach`]).
    pub dial: SocketAddr,
    /// The container's name, `faultline-<cluster>-n<id>`.
    pub container: String,
}

/// A cluster that exists in Docker.
#[derive(Debug, Clone)]
pub struct Cluster {
    docker: Docker,
    name: String,
    subnet: subnet::Subnet,
    nodes: Vec<NodeInfo>,
    system: Arc<dyn NodeSystem>,
}

impl Cluster {
    /// Creates a fresh cluster and, unless `spec.leader_timeout` is `None`, waits for a leader.
    pub async fn up(spec: &ClusterSpec) -> anyhow::Result<Cluster> {
        let docker = docker::connect().await?;
        lifecycle::up(docker, spec).await
    }

    /// The existing cluster called `name`; `system` reads back what its containers run from
    /// their `io.faultline.system` label (`None`: a cluster from before systems had labels).
    pub async fn connect(
        name: &str,
        system: &lifecycle::SystemFromLabel,
    ) -> anyhow::Result<Cluster> {
        let docker = docker::connect().await?;
        lifecycle::connect(docker, name, system).await
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn subnet(&self) -> subnet::Subnet {
        self.subnet
    }

    /// Nodes in id order.
    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.nodes.iter().find(|n| n.name == name)
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// What the cluster runs.
    pub fn system(&self) -> &dyn NodeSystem {
        &*self.system
    }

    /// Every node's container state and Raft status, and the faults in effect.
    pub async fn status(&self) -> anyhow::Result<ClusterStatus> {
        status::cluster_status(self).await
    }

    /// The name of the current leader (the node that says it leads, in the highest term), if any.
    pub async fn leader(&self) -> anyhow::Result<Option<String>> {
        let probe = self.system.prober(status::PROBE_TIMEOUT)?;
        let nodes: Vec<_> = self
            .nodes
            .iter()
            .map(|n| (n.name.clone(), n.dial))
            .collect();
        node_system::leader(&*probe, &nodes).await
    }

    /// Polls until some node leads, or fails after `timeout` saying what each node reported.
    pub async fn wait_for_leader(&self, timeout: Duration) -> anyhow::Result<String> {
        status::wait_for_leader(self, timeout).await
    }

    /// The fault executor for this cluster.
    pub fn faults(&self) -> DockerFaults {
        DockerFaults::new(self.clone())
    }

    /// Writes each node's log to `dir/<node>.log`; returns the files written.
    pub async fn collect_logs(
        &self,
        dir: &std::path::Path,
    ) -> anyhow::Result<Vec<std::path::PathBuf>> {
        logs::collect(self, dir).await
    }

    /// Removes the cluster's containers and network, and its volumes unless `keep_volumes`.
    pub async fn down(&self, keep_volumes: bool) -> anyhow::Result<lifecycle::Removed> {
        lifecycle::down(&self.docker, &self.name, keep_volumes).await
    }
}
