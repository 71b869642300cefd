//! What a cluster looks like now: each container's state, each node's Raft status (from its
//! `/status`), the leader, and the faults in effect.

use std::time::Duration;

use anyhow::Context;
use serde::Serialize;

use super::client::NodeStatus;
use super::docker::is_not_found;
use super::faults::ActiveFaults;
use super::node_system::StatusProbe;
use super::{Cluster, NodeInfo};

/// One node, as `cluster status --json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeState {
    pub name: String,
    pub id: u64,
    /// Where faultline (and a person with `curl`) reaches the node's client port.
    pub addr: String,
    /// The node's address on the cluster network, when it differs from `addr` (published ports).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_addr: Option<String>,
    /// The container's state: running, paused, exited, missing, ...
    pub state: String,
    pub role: Option<String>,
    pub term: Option<u64>,
    /// The leader this node knows of, by name.
    pub leader: Option<String>,
    pub last_log_index: Option<u64>,
    pub applied_index: Option<u64>,
    /// The node's wall clock (ms since the Unix epoch) as it reported it, when it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_ms: Option<u64>,
    /// Snapshots the node installed from a leader since it started, when it reports it (a node
    /// that joined empty shows how it caught up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshots_installed: Option<u64>,
    /// Why the node's status could not be read, when it could not.
    pub error: Option<String>,
    /// The id the node reports for itself (faultline's node id, etcd's member id).
    #[serde(skip)]
    pub raft_id: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterStatus {
    pub name: String,
    pub subnet: String,
    pub leader: Option<String>,
    pub nodes: Vec<NodeState>,
    pub faults: ActiveFaults,
}

pub async fn cluster_status(cluster: &Cluster) -> anyhow::Result<ClusterStatus> {
    let executor = cluster.faults();
    let (nodes, faults) = tokio::join!(node_states(cluster), executor.active());
    let nodes = nodes?;
    Ok(ClusterStatus {
        name: cluster.name().to_string(),
        subnet: cluster.subnet().to_string(),
        leader: leader_of(&nodes),
        nodes,
        faults: faults?,
    })
}

/// Every node's state, read in parallel; a node that does not answer is reported, not an error.
pub async fn node_states(cluster: &Cluster) -> anyhow::Result<Vec<NodeState>> {
    let client = cluster.system().prober(PROBE_TIMEOUT)?;
    let reads = cluster
        .nodes()
        .iter()
        .map(|node| read_node(cluster, &*client, node));
    let (mut nodes, leaders): (Vec<NodeState>, Vec<Option<u64>>) =
        futures::future::try_join_all(reads)
            .await?
            .into_iter()
            .unzip();
    // A node names its leader by the leader's own id (a hash, for etcd): the node that reports
    // that id as its own is the leader it means.
    let ids: Vec<(u64, String)> = nodes
        .iter()
        .filter_map(|n| Some((n.raft_id?, n.name.clone())))
        .collect();
    for (node, leader) in nodes.iter_mut().zip(leaders) {
        node.leader = leader.and_then(|l| {
            ids.iter()
                .find(|(id, _)| *id == l)
                .map(|(_, name)| name.clone())
        });
    }
    Ok(nodes)
}

/// How long a status probe may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);

async fn read_node(
    cluster: &Cluster,
    api: &dyn StatusProbe,
    node: &NodeInfo,
) -> anyhow::Result<(NodeState, Option<u64>)> {
    let state = container_state(cluster, &node.container).await?;
    let mut out = NodeState {
        name: node.name.clone(),
        id: node.id,
        addr: node.dial.to_string(),
        network_addr: (node.dial != node.addr).then(|| node.addr.to_string()),
        state: state.clone(),
        role: None,
        term: None,
        leader: None,
        last_log_index: None,
        applied_index: None,
        time_ms: None,
        snapshots_installed: None,
        error: None,
        raft_id: None,
    };
    if state != "running" {
        return Ok((out, None));
    }
    let mut leader = None;
    match api.probe(node.dial).await {
        Ok(NodeStatus {
            id,
            role,
            term,
            leader: follows,
            last_log_index,
            applied_index,
            time_ms,
            snapshots_installed,
            ..
        }) => {
            out.time_ms = time_ms;
            out.snapshots_installed = snapshots_installed;
            out.raft_id = Some(id);
            out.role = Some(role);
            out.term = Some(term);
            leader = follows;
            out.last_log_index = last_log_index;
            out.applied_index = applied_index;
        }
        Err(e) => out.error = Some(e),
    }
    Ok((out, leader))
}

/// `running`, `paused`, `exited`, ... or `missing` when the container is gone.
pub async fn container_state(cluster: &Cluster, container: &str) -> anyhow::Result<String> {
    match cluster.docker().inspect_container(container, None).await {
        Ok(c) => Ok(c
            .state
            .and_then(|s| s.status)
            .map(|s| s.to_string())
            .unwrap_or_else(|| "unknown".into())),
        Err(e) if is_not_found(&e) => Ok("missing".into()),
        Err(e) => Err(e).with_context(|| format!("inspecting container {container}")),
    }
}

/// A stopped container's exit code: `None` while it runs or is paused (or is restarting);
/// `Some(None)` when it is gone or its code is unknown.
pub async fn exit_code(cluster: &Cluster, container: &str) -> anyhow::Result<Option<Option<i64>>> {
    match cluster.docker().inspect_container(container, None).await {
        Ok(c) => {
            let state = c.state.unwrap_or_default();
            let status = state.status.map(|s| s.to_string()).unwrap_or_default();
            Ok(match status.as_str() {
                "exited" | "dead" => Some(state.exit_code),
                _ => None,
            })
        }
        Err(e) if is_not_found(&e) => Ok(Some(None)),
        Err(e) => Err(e).with_context(|| format!("inspecting container {container}")),
    }
}

/// The node that says it leads in the highest term. An isolated old leader may still believe
/// it leads, but in an older term than the majority's new leader.
pub fn leader_of(nodes: &[NodeState]) -> Option<String> {
    nodes
        .iter()
        .filter(|n| n.role.as_deref() == Some("leader"))
        .max_by_key(|n| n.term.unwrap_or(0))
        .map(|n| n.name.clone())
}

pub async fn wait_for_leader(cluster: &Cluster, timeout: Duration) -> anyhow::Result<String> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let nodes = node_states(cluster).await?;
        if let Some(leader) = leader_of(&nodes) {
            return Ok(leader);
        }
        if tokio::time::Instant::now() >= deadline {
            let seen = nodes
                .iter()
                .map(|n| {
                    let what = match (&n.role, &n.error) {
                        (Some(role), _) => role.clone(),
                        (None, Some(e)) => e.clone(),
                        (None, None) => "no status".into(),
                    };
                    format!("{} {} ({what})", n.name, n.state)
                })
                .collect::<Vec<_>>()
                .join("; ");
            anyhow::bail!("no leader after {:.0} s: {seen}", timeout.as_secs_f64());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, role: Option<&str>, term: u64) -> NodeState {
        NodeState {
            name: name.into(),
            id: crate::cluster::names::node_id(name).unwrap(),
            addr: String::new(),
            network_addr: None,
            time_ms: None,
            snapshots_installed: None,
            state: "running".into(),
            role: role.map(String::from),
            term: Some(term),
            leader: None,
            last_log_index: None,
            applied_index: None,
            error: None,
            raft_id: None,
        }
    }

    #[test]
    fn the_leader_is_the_one_in_the_highest_term() {
        let nodes = [
            node("n1", Some("leader"), 2),
            node("n2", Some("leader"), 3),
            node("n3", Some("follower"), 3),
        ];
        assert_eq!(leader_of(&nodes).as_deref(), Some("n2"));
        assert_eq!(leader_of(&nodes[2..]), None);
        assert_eq!(leader_of(&[node("n1", None, 0)]), None);
    }
}
