//! The Docker cluster as a [`TestTarget`]: a fresh cluster per run, faults through
//! [`DockerFaults`], logs from the containers, and `down` (volumes too) at the end.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nemesis::fault::{FaultExecutor, Grudge, NodeName};
use nemesis::link::{LinkFault, LinkKind};

use super::target::{Exited, TestTarget, LAST_LINES};
use crate::cluster::faults::FaultError;
use crate::cluster::{self, Cluster, ClusterSpec, DockerFaults, NodeSystem};

pub struct DockerTarget {
    cluster: Cluster,
    faults: DockerFaults,
}

/// How the runner gets its cluster.
#[derive(Debug, Clone)]
pub struct DockerSetup {
    /// The image the nodes run (the system adapters build the ones faultline knows).
    pub image: String,
    /// Extra arguments for every `faultline node`.
    pub node_args: Vec<String>,
    /// What the cluster runs.
    pub system: Arc<dyn NodeSystem>,
    /// How the nodes are reached.
    pub reach: cluster::reach::ReachChoice,
    /// Preload libfaketime (the campaign has clock faults).
    pub clock_faults: bool,
}

impl DockerTarget {
    /// Starts a fresh cluster named `name` (the run waits for its leader).
    /// A cluster of that name left over from an interrupted run is an error that says what to run:
    /// a run never reuses state it did not create.
    pub async fn start(
        name: &str,
        nodes: u32,
        setup: &DockerSetup,
    ) -> anyhow::Result<DockerTarget> {
        // The run's setup phase waits for the leader, and on failure keeps the nodes' logs and
        // removes the cluster: a failed start never leaves one behind.
        let spec = ClusterSpec {
            node_args: setup.node_args.clone(),
            leader_timeout: None,
            reach: setup.reach,
            clock_faults: setup.clock_faults,
            ..ClusterSpec::new(name, u64::from(nodes), &setup.image, setup.system.clone())
        };
        let cluster = Cluster::up(&spec).await?;
        let faults = cluster.faults();
        Ok(DockerTarget { cluster, faults })
    }
}

impl FaultExecutor for DockerTarget {
    type Error = FaultError;

    async fn kill(&self, nodes: &[NodeName]) -> Result<(), FaultError> {
        self.faults.kill(nodes).await
    }

    async fn start(&self, nodes: &[NodeName]) -> Result<(), FaultError> {
        self.faults.start(nodes).await
    }

    async fn pause(&self, nodes: &[NodeName]) -> Result<(), FaultError> {
        self.faults.pause(nodes).await
    }

    async fn resume(&self, nodes: &[NodeName]) -> Result<(), FaultError> {
        self.faults.resume(nodes).await
    }

    async fn partition(&self, grudge: &Grudge) -> Result<(), FaultError> {
        self.faults.partition(grudge).await
    }

    async fn heal(&self) -> Result<(), FaultError> {
        self.faults.heal().await
    }

    async fn degrade(&self, fault: &LinkFault) -> Result<(), FaultError> {
        self.faults.degrade(fault).await
    }

    async fn restore(&self, kind: LinkKind) -> Result<(), FaultError> {
        self.faults.restore(kind).await
    }

    async fn bump_clock(
        &self,
        nodes: &[NodeName],
        shift: nemesis::ClockShift,
    ) -> Result<(), FaultError> {
        self.faults.bump_clock(nodes, shift).await
    }

    async fn reset_clocks(&self, nodes: &[NodeName]) -> Result<(), FaultError> {
        self.faults.reset_clocks(nodes).await
    }

    async fn remove_members(&self, nodes: &[NodeName]) -> Result<(), FaultError> {
        self.faults.remove_members(nodes).await
    }

    async fn add_members(&self, nodes: &[NodeName]) -> Result<(), FaultError> {
        self.faults.add_members(nodes).await
    }

    async fn replace_members(&self, nodes: &[NodeName]) -> Result<(), FaultError> {
        self.faults.replace_members(nodes).await
    }
}

impl TestTarget for DockerTarget {
    fn nodes(&self) -> Vec<(NodeName, SocketAddr)> {
        self.cluster
            .nodes()
            .iter()
            .map(|n| (n.name.clone(), n.addr))
            .collect()
    }

    async fn leader(&self) -> anyhow::Result<Option<NodeName>> {
        self.cluster.leader().await
    }

    async fn is_running(&self, node: &NodeName) -> anyhow::Result<bool> {
        let Some(info) = self.cluster.node(node) else {
            anyhow::bail!("no node {node} in cluster {}", self.cluster.name());
        };
        let state = cluster::status::container_state(&self.cluster, &info.container).await?;
        // A paused container is still running: only a kill stops it.
        Ok(state == "running" || state == "paused")
    }

    async fn exited(&self, node: &NodeName) -> anyhow::Result<Option<Exited>> {
        let Some(info) = self.cluster.node(node) else {
            anyhow::bail!("no node {node} in cluster {}", self.cluster.name());
        };
        let Some(code) = cluster::status::exit_code(&self.cluster, &info.container).await? else {
            return Ok(None);
        };
        Ok(Some(Exited {
            code,
            last_lines: cluster::logs::last_lines(&self.cluster, info, LAST_LINES).await,
        }))
    }

    async fn observe_links(&self, kind: LinkKind) -> anyhow::Result<(bool, String)> {
        let (links, unreadable) = self.faults.active_links().await;
        let (observed, effect) = links.observe(kind);
        if unreadable.is_empty() {
            Ok((observed, effect))
        } else {
            Ok((
                observed,
                format!("{effect}; unreadable: {}", unreadable.join("; ")),
            ))
        }
    }

    async fn collect_logs(&self, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
        self.cluster.collect_logs(dir).await
    }

    async fn teardown(&self) -> anyhow::Result<()> {
        self.cluster.down(false).await.map(|_| ())
    }

    fn describe(&self) -> String {
        let system = self.cluster.system();
        if system.kind() == "faultline" {
            format!("docker cluster {}", self.cluster.name())
        } else {
            format!(
                "docker cluster {} of {}",
                self.cluster.name(),
                system.describe()
            )
        }
    }
}
