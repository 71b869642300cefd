//! The Docker implementation of the nemesis' `FaultExecutor`: SIGKILL and start through the
//! API (the volume survives), the cgroup freezer for pause, iptables rules in the nodes'
//! network namespaces for partitions, and (in `link_faults`) iptables and tc for lossy, slow and
//! delayed links. Every fault is verified in effect before returning, and
//! every fault can be read back from Docker and the nodes, so the state survives between CLI
//! invocations and `cluster status` can show it.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bollard::query_parameters::KillContainerOptionsBuilder;
use futures::future::try_join_all;
use nemesis::fault::{FaultExecutor, Grudge, NodeName};
use nemesis::link::{LinkFault, LinkKind};
use nemesis::ClockShift;
use serde::Serialize;

use super::docker::is_conflict;
use super::link_faults::ActiveLinks;
use super::partition::{self, Rules};
use super::status::container_state;
use super::{netns, Cluster, NodeInfo};

#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    #[error("no node {node} in cluster {cluster} (its nodes: {known})")]
    UnknownNode {
        node: String,
        cluster: String,
        known: String,
    },
    #[error("{op} {node} ({container}): {source}")]
    Docker {
        op: &'static str,
        node: String,
        container: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("{op} {node}: {message}")]
    Failed {
        op: &'static str,
        node: String,
        message: String,
    },
}

/// The faults in effect, read back from Docker (killed, paused) and the nodes' FAULTLINE chains.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ActiveFaults {
    pub killed: Vec<NodeName>,
    pub paused: Vec<NodeName>,
    /// Node -> the nodes whose packets it drops.
    pub partition: Grudge,
    /// Lossy, slow and delayed links.
    #[serde(flatten)]
    pub links: ActiveLinks,
    /// Node -> how far its clock is moved, in seconds (when the fault was applied).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub clocks: BTreeMap<NodeName, i64>,
    /// Nodes that do not vote in the leader's configuration (removed, or joining).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub out_of_config: Vec<NodeName>,
    /// Node -> how fast its clock runs (only the skewed ones).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub clock_rates: BTreeMap<NodeName, nemesis::ClockRate>,
    /// Nodes whose rules could not be read (with why).
    pub unreadable: Vec<String>,
}

impl ActiveFaults {
    pub fn is_empty(&self) -> bool {
        self.killed.is_empty()
            && self.paused.is_empty()
            && self.partition.0.is_empty()
            && self.links.is_empty()
            && self.clocks.is_empty()
            && self.out_of_config.is_empty()
            && self.unreadable.is_empty()
    }

    /// One line for people: `killed n1; paused n3; partition n1 drops n2,n3; ...`.
    pub fn describe(&self) -> String {
        if self.is_empty() {
            return "none".into();
        }
        let mut parts = Vec::new();
        if !self.killed.is_empty() {
            parts.push(format!("killed {}", self.killed.join(",")));
        }
        if !self.paused.is_empty() {
            parts.push(format!("paused {}", self.paused.join(",")));
        }
        if !self.partition.0.is_empty() {
            parts.push(format!(
                "partition: {}",
                partition::describe(&self.partition)
            ));
        }
        parts.extend(self.links.describe());
        if !self.clocks.is_empty() {
            let shifted: Vec<String> = self
                .clocks
                .iter()
                .map(|(n, o)| match self.clock_rates.get(n) {
                    Some(r) => format!("{n} {o:+}s {r}"),
                    None => format!("{n} {o:+}s"),
                })
                .collect();
            parts.push(format!("clock: {}", shifted.join(", ")));
        }
        if !self.out_of_config.is_empty() {
            parts.push(format!("not voting: {}", self.out_of_config.join(",")));
        }
        if !self.unreadable.is_empty() {
            parts.push(format!("unreadable: {}", self.unreadable.join("; ")));
        }
        parts.join("; ")
    }
}

/// Executes faults on one cluster's containers.
#[derive(Debug, Clone)]
pub struct DockerFaults {
    pub(super) cluster: Cluster,
    /// Whether this executor changed the cluster's membership: only then do the end of a
    /// window and the final heal ask the leader to make every node a voter again (a run without
    /// membership faults must not need a leader to heal).
    pub(super) changed_membership: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

const SETTLE: Duration = Duration::from_secs(10);

impl DockerFaults {
    pub fn new(cluster: Cluster) -> DockerFaults {
        DockerFaults {
            cluster,
            changed_membership: Default::default(),
        }
    }

    pub(super) fn resolve(&self, nodes: &[NodeName]) -> Result<Vec<NodeInfo>, FaultError> {
        nodes
            .iter()
            .map(|name| {
                self.cluster
                    .node(name)
                    .cloned()
                    .ok_or_else(|| FaultError::UnknownNode {
                        node: name.clone(),
                        cluster: self.cluster.name().to_string(),
                        known: self
                            .cluster
                            .nodes()
                            .iter()
                            .map(|n| n.name.as_str())
                            .collect::<Vec<_>>()
                            .join(","),
                    })
            })
            .collect()
    }

    pub(super) fn addrs(&self) -> BTreeMap<NodeName, Ipv4Addr> {
        self.cluster
            .nodes()
            .iter()
            .filter_map(|n| match n.addr.ip() {
                IpAddr::V4(ip) => Some((n.name.clone(), ip)),
                IpAddr::V6(_) => None,
            })
            .collect()
    }

    /// Polls the container until `done(state)` holds, failing after `SETTLE`.
    async fn await_state(
        &self,
        op: &'static str,
        node: &NodeInfo,
        want: &str,
        done: impl Fn(&str) -> bool,
    ) -> Result<(), FaultError> {
        let deadline = tokio::time::Instant::now() + SETTLE;
        loop {
            let state = container_state(&self.cluster, &node.container)
                .await
                .map_err(|e| FaultError::Failed {
                    op,
                    node: node.name.clone(),
                    message: format!("{e:#}"),
                })?;
            if done(&state) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(FaultError::Failed {
                    op,
                    node: node.name.clone(),
                    message: format!(
                        "still {state} after {} s, expected {want}",
                        SETTLE.as_secs()
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn docker_err(op: &'static str, node: &NodeInfo, source: bollard::errors::Error) -> FaultError {
        FaultError::Docker {
            op,
            node: node.name.clone(),
            container: node.container.clone(),
            source,
        }
    }

    async fn kill_one(&self, node: &NodeInfo) -> Result<(), FaultError> {
        let options = KillContainerOptionsBuilder::new().signal("SIGKILL").build();
        match self
            .cluster
            .docker()
            .kill_container(&node.container, Some(options))
            .await
        {
            // 409: not running, so already as dead as a kill would make it.
            Err(e) if !is_conflict(&e) => return Err(Self::docker_err("kill", node, e)),
            _ => {}
        }
        self.await_state("kill", node, "exited", |s| s != "running" && s != "paused")
            .await
    }

    async fn start_one(&self, node: &NodeInfo) -> Result<(), FaultError> {
        if let Err(e) = self
            .cluster
            .docker()
            .start_container(&node.container, None)
            .await
        {
            return Err(Self::docker_err("start", node, e));
        }
        self.await_state("start", node, "running", |s| {
            s == "running" || s == "paused"
        })
        .await
    }

    async fn pause_one(&self, node: &NodeInfo) -> Result<(), FaultError> {
        let state = container_state(&self.cluster, &node.container)
            .await
            .map_err(|e| FaultError::Failed {
                op: "pause",
                node: node.name.clone(),
                message: format!("{e:#}"),
            })?;
        // A stopped container has nothing to freeze: say so at once rather than time out.
        if state != "running" && state != "paused" {
            return Err(FaultError::Failed {
                op: "pause",
                node: node.name.clone(),
                message: format!("the node is {state}, not running; start it first"),
            });
        }
        match self.cluster.docker().pause_container(&node.container).await {
            // 409: already paused (verified below).
            Err(e) if !is_conflict(&e) => return Err(Self::docker_err("pause", node, e)),
            _ => {}
        }
        self.await_state("pause", node, "paused", |s| s == "paused")
            .await
    }

    async fn resume_one(&self, node: &NodeInfo) -> Result<(), FaultError> {
        // Resuming a node that is not paused is a no-op (the final heal resumes every node); the
        // engine answers such an unpause with a 500, not a 409, so look first.
        let state = container_state(&self.cluster, &node.container)
            .await
            .map_err(|e| FaultError::Failed {
                op: "resume",
                node: node.name.clone(),
                message: format!("{e:#}"),
            })?;
        if state != "paused" {
            return Ok(());
        }
        match self
            .cluster
            .docker()
            .unpause_container(&node.container)
            .await
        {
            Err(e) if !is_conflict(&e) => return Err(Self::docker_err("resume", node, e)),
            _ => {}
        }
        self.await_state("resume", node, "running", |s| s != "paused")
            .await
    }

    /// Kill, then start: a crash and a reboot with the data kept.
    pub async fn restart(&self, nodes: &[NodeName]) -> Result<(), FaultError> {
        self.kill(nodes).await?;
        self.start(nodes).await
    }

    /// Runs a script in the namespace of a node that has one (running or paused); `None` for a
    /// stopped node, whose namespace (and rules) are gone.
    pub(super) async fn in_netns(
        &self,
        op: &'static str,
        node: &NodeInfo,
        script: &str,
    ) -> Result<Option<String>, FaultError> {
        let failed = |message: String| FaultError::Failed {
            op,
            node: node.name.clone(),
            message,
        };
        let state = container_state(&self.cluster, &node.container)
            .await
            .map_err(|e| failed(format!("{e:#}")))?;
        if state != "running" && state != "paused" {
            return Ok(None);
        }
        let out = netns::run(self.cluster.docker(), self.cluster.name(), node.id, script)
            .await
            .map_err(|e| failed(format!("{e:#}")))?;
        if out.exit_code != 0 {
            return Err(failed(format!(
                "{op} script exited with {}: {}",
                out.exit_code,
                out.stderr.trim()
            )));
        }
        Ok(Some(out.stdout))
    }

    async fn partition_one(&self, node: &NodeInfo, wanted: &Rules) -> Result<(), FaultError> {
        let Some(listing) = self
            .in_netns("partition", node, &partition::apply_script(wanted))
            .await?
        else {
            // Its peers' rules still cut its links both ways.
            tracing::warn!(target: "faultline::nemesis", node = %node.name, "not running: no rules added in its namespace");
            return Ok(());
        };
        let present = partition::parse_rules(&listing);
        if !(wanted.from.is_subset(&present.from) && wanted.to.is_subset(&present.to)) {
            return Err(FaultError::Failed {
                op: "partition",
                node: node.name.clone(),
                message: format!(
                    "rules missing after applying them; iptables -S shows:\n{listing}"
                ),
            });
        }
        Ok(())
    }

    async fn heal_one(&self, node: &NodeInfo) -> Result<(), FaultError> {
        let Some(listing) = self
            .in_netns("heal", node, &partition::heal_script())
            .await?
        else {
            return Ok(());
        };
        if partition::parse_rules(&listing) != Rules::default() {
            return Err(FaultError::Failed {
                op: "heal",
                node: node.name.clone(),
                message: format!("rules left after flushing; iptables -S shows:\n{listing}"),
            });
        }
        Ok(())
    }

    /// Reads back every fault in effect.
    pub async fn active(&self) -> anyhow::Result<ActiveFaults> {
        let reads = self.cluster.nodes().iter().map(|node| async move {
            let state = container_state(&self.cluster, &node.container).await?;
            let rules = match self.in_netns("read", node, &partition::list_script()).await {
                Ok(listing) => Ok(partition::parse_rules(&listing.unwrap_or_default())),
                Err(e) => Err(e.to_string()),
            };
            anyhow::Ok((node.name.clone(), state, rules))
        });
        let mut faults = ActiveFaults::default();
        let mut rules = BTreeMap::new();
        for (name, state, node_rules) in try_join_all(reads).await? {
            match state.as_str() {
                "running" => {}
                "paused" => faults.paused.push(name.clone()),
                _ => faults.killed.push(name.clone()),
            }
            match node_rules {
                Ok(r) => {
                    rules.insert(name, r);
                }
                Err(e) => faults.unreadable.push(e),
            }
        }
        faults.partition = partition::grudge_from_rules(&rules, &self.addrs());
        let (links, unreadable) = self.active_links().await;
        faults.links = links;
        faults.unreadable.extend(unreadable);
        let (clocks, unreadable) = self.active_clocks().await;
        for (node, setting) in clocks {
            if let Some(rate) = setting.shift.rate {
                faults.clock_rates.insert(node.clone(), rate);
            }
            faults.clocks.insert(node, setting.shift.offset_secs);
        }
        faults.unreadable.extend(unreadable);
        faults.out_of_config = self.out_of_config().await;
        Ok(faults)
    }
}

impl FaultExecutor for DockerFaults {
    type Error = FaultError;

    async fn kill(&self, nodes: &[NodeName]) -> Result<(), FaultError> {
        let nodes = self.resolve(nodes)?;
        try_join_all(nodes.iter().map(|n| self.kill_one(n))).await?;
        Ok(())
    }

    async fn start(&self, nodes: &[NodeName]) -> Result<(), FaultError> {
        let nodes = self.resolve(nodes)?;
        try_join_all(nodes.iter().map(|n| async move {
            // A clock running at a rate goes on from where it was in the new process.
            let stopped = !matches!(
                container_state(&self.cluster, &n.container)
                    .await
                    .as_deref(),
                Ok("running" | "paused")
            );
            if stopped {
                self.reanchor_clock(n, true).await?;
            }
            self.start_one(n).await?;
            if stopped {
                self.reanchor_clock(n, false).await?;
            }
            Ok(())
        }))
        .await?;
        Ok(())
    }

    async fn pause(&self, nodes: &[NodeName]) -> Result<(), FaultError> {
        let nodes = self.resolve(nodes)?;
        try_join_all(nodes.iter().map(|n| self.pause_one(n))).await?;
        Ok(())
    }

    async fn resume(&self, nodes: &[NodeName]) -> Result<(), FaultError> {
        let nodes = self.resolve(nodes)?;
        try_join_all(nodes.iter().map(|n| self.resume_one(n))).await?;
        Ok(())
    }

    async fn partition(&self, grudge: &Grudge) -> Result<(), FaultError> {
        let rules = partition::rules_for(grudge, &self.addrs()).map_err(|node| {
            FaultError::UnknownNode {
                node,
                cluster: self.cluster.name().to_string(),
                known: self.addrs().keys().cloned().collect::<Vec<_>>().join(","),
            }
        })?;
        let nodes = self.resolve(&rules.keys().cloned().collect::<Vec<_>>())?;
        try_join_all(nodes.iter().map(|n| self.partition_one(n, &rules[&n.name]))).await?;
        tracing::info!(target: "faultline::nemesis", cluster = %self.cluster.name(), "partition: {}", partition::describe(grudge));
        Ok(())
    }

    async fn heal(&self) -> Result<(), FaultError> {
        try_join_all(self.cluster.nodes().iter().map(|n| self.heal_one(n))).await?;
        Ok(())
    }

    async fn degrade(&self, fault: &LinkFault) -> Result<(), FaultError> {
        self.degrade_links(fault).await
    }

    async fn restore(&self, kind: LinkKind) -> Result<(), FaultError> {
        self.restore_links(kind).await
    }

    async fn bump_clock(&self, nodes: &[NodeName], shift: ClockShift) -> Result<(), FaultError> {
        self.bump_clocks(nodes, shift).await
    }

    async fn reset_clocks(&self, nodes: &[NodeName]) -> Result<(), FaultError> {
        self.reset_clock_files(nodes).await
    }

    async fn remove_members(&self, nodes: &[NodeName]) -> Result<(), FaultError> {
        self.remove_from_config(nodes).await
    }

    async fn add_members(&self, nodes: &[NodeName]) -> Result<(), FaultError> {
        if !self
            .changed_membership
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            return Ok(());
        }
        self.add_to_config(nodes).await
    }

    async fn replace_members(&self, nodes: &[NodeName]) -> Result<(), FaultError> {
        self.replace_by_empty(nodes).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn active_faults_describe_themselves() {
        assert_eq!(ActiveFaults::default().describe(), "none");
        let mut faults = ActiveFaults {
            killed: vec!["n3".into()],
            paused: vec!["n2".into()],
            ..Default::default()
        };
        faults.partition.0.insert(
            "n1".into(),
            BTreeSet::from(["n2".to_string(), "n3".to_string()]),
        );
        assert_eq!(
            faults.describe(),
            "killed n3; paused n2; partition: n1 drops n2,n3"
        );
        let json = serde_json::to_value(&faults).unwrap();
        assert_eq!(json["partition"]["n1"], serde_json::json!(["n2", "n3"]));
    }
}
