//! Membership changes, for systems whose nodes change their Raft configuration at run time
//! (faultline's node: `POST /cluster/remove`, `POST /cluster/add`, forwarded to the leader).
//!
//! - remove: the configuration without the nodes is committed; they keep running, outside it.
//! - add: each node joins as a learner, catches up (by snapshot when the leader has compacted
//!   what it misses) and is promoted to voter; nodes that vote already are left alone.
//! - replace: one node at a time, so the cluster never loses more than one copy of its data:
//!   out of the configuration, its container and volume removed, a new container with an empty
//!   volume (same name, address and labels) started to join (`--join`: it does not initialize a
//!   cluster of its own), then added as above. The new container keeps `--join`, so later kills
//!   and starts restart it from its new volume.
//!
//! Every step returns once the configuration the leader reports says it is done.

use std::time::{Duration, Instant};

use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder, RemoveVolumeOptionsBuilder,
};
use nemesis::fault::NodeName;
use serde_json::json;

use super::client::{MembershipView, NodeStatus};
use super::docker::is_not_found;
use super::faults::{DockerFaults, FaultError};
use super::names;
use super::NodeInfo;

/// How long a configuration change may take: adding a node may mean sending it a snapshot.
const CHANGE_DEADLINE: Duration = Duration::from_secs(75);
/// How long a replaced node's new container has to answer before it is added.
const SERVE_DEADLINE: Duration = Duration::from_secs(30);
/// How long a change waits for a leader to ask.
const LEADER_DEADLINE: Duration = Duration::from_secs(20);
/// Poll interval of the waits below (each has a deadline).
const POLL: Duration = Duration::from_millis(200);

impl DockerFaults {
    /// Whether this cluster's system changes membership at run time, or why not.
    fn membership_supported(&self, op: &'static str, nodes: &[NodeInfo]) -> Result<(), FaultError> {
        self.cluster
            .system()
            .membership()
            .map_err(|why| FaultError::Failed {
                op,
                node: names_of(nodes),
                message: format!("this system cannot change its membership: {why}"),
            })
    }

    pub async fn remove_from_config(&self, nodes: &[NodeName]) -> Result<(), FaultError> {
        let targets = self.resolve(nodes)?;
        self.membership_supported("remove", &targets)?;
        let all = self.cluster.nodes().len();
        let voters = self.voters("remove", &targets).await?;
        self.changed_membership
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let remaining = voters
            .iter()
            .filter(|v| !targets.iter().any(|t| t.id == **v))
            .count();
        if remaining == 0 || all < 2 {
            return Err(FaultError::Failed {
                op: "remove",
                node: names_of(&targets),
                message: "removing them would leave no voter; a membership change needs at \
                          least one node that stays"
                    .into(),
            });
        }
        for node in &targets {
            if !voters.contains(&node.id) {
                continue;
            }
            self.post_change("remove", node, "/cluster/remove", json!({"id": node.id}))
                .await?;
        }
        self.wait_config("remove", &targets, |m, t| {
            !m.voters.contains(&t.id) && !m.learners.contains(&t.id)
        })
        .await
    }

    /// Makes the nodes voters, whoever removed them (`faultline cluster add`); the executor's
    /// `add_members` (window ends, the final heal) calls it only after this executor changed
    /// the membership itself.
    pub async fn add_to_config(&self, nodes: &[NodeName]) -> Result<(), FaultError> {
        let targets = self.resolve(nodes)?;
        if self.cluster.system().membership().is_err() {
            // Nothing can have been removed from such a system (removal is refused), so the
            // final heal's add has nothing to do.
            return Ok(());
        }
        let voters = self.voters("add", &targets).await?;
        for node in &targets {
            if voters.contains(&node.id) {
                continue;
            }
            let body = json!({"id": node.id, "addr": node.addr.to_string()});
            self.post_change("add", node, "/cluster/add", body).await?;
        }
        self.wait_config("add", &targets, |m, t| m.voters.contains(&t.id))
            .await
    }

    pub async fn replace_by_empty(&self, nodes: &[NodeName]) -> Result<(), FaultError> {
        let targets = self.resolve(nodes)?;
        self.membership_supported("replace", &targets)?;
        for node in &targets {
            self.remove_from_config(std::slice::from_ref(&node.name))
                .await?;
            self.recreate_empty(node).await?;
            self.wait_serving(node).await?;
            self.add_to_config(std::slice::from_ref(&node.name)).await?;
        }
        Ok(())
    }

    /// The voters, as the leader reports them. Waits (up to a deadline) through an election:
    /// one follows every removal of a leader.
    async fn voters(&self, op: &'static str, targets: &[NodeInfo]) -> Result<Vec<u64>, FaultError> {
        let deadline = Instant::now() + LEADER_DEADLINE;
        loop {
            match self.configuration().await {
                Ok(m) => return Ok(m.voters),
                Err(message) if Instant::now() >= deadline => {
                    return Err(FaultError::Failed {
                        op,
                        node: names_of(targets),
                        message: format!("{message}, {}s after asking", LEADER_DEADLINE.as_secs()),
                    })
                }
                Err(_) => tokio::time::sleep(POLL).await, // poll again, before the deadline
            }
        }
    }

    /// The nodes that do not vote in the leader's configuration; none when the system does not
    /// change membership or no leader reports one (nothing to say then).
    pub async fn out_of_config(&self) -> Vec<NodeName> {
        if self.cluster.system().membership().is_err() {
            return Vec::new();
        }
        match self.configuration().await {
            Ok(m) => self
                .cluster
                .nodes()
                .iter()
                .filter(|n| !m.voters.contains(&n.id))
                .map(|n| n.name.clone())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The configuration the leader reports.
    pub async fn configuration(&self) -> Result<MembershipView, String> {
        let statuses = self.statuses().await;
        let leader = statuses
            .iter()
            .filter_map(|(_, s)| s.as_ref().ok())
            .filter(|s| s.role == "leader")
            .max_by_key(|s| s.term);
        match leader {
            Some(s) => s
                .membership
                .clone()
                .ok_or_else(|| "the leader's status carries no membership".to_string()),
            None => Err(format!(
                "no node leads right now ({})",
                statuses
                    .iter()
                    .map(|(n, s)| match s {
                        Ok(s) => format!("{n}: {}", s.role),
                        Err(e) => format!("{n}: {e}"),
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
        }
    }

    async fn statuses(&self) -> Vec<(String, Result<NodeStatus, String>)> {
        let probe = match self.cluster.system().prober(super::status::PROBE_TIMEOUT) {
            Ok(p) => p,
            Err(e) => return vec![("probe".into(), Err(format!("{e:#}")))],
        };
        let nodes = self.cluster.nodes();
        let answers = futures::future::join_all(nodes.iter().map(|n| probe.probe(n.dial))).await;
        nodes.iter().map(|n| n.name.clone()).zip(answers).collect()
    }

    /// Sends a change to the leader (any node forwards it; the leader saves a hop), then to
    /// the other nodes in turn if it cannot be reached.
    async fn post_change(
        &self,
        op: &'static str,
        node: &NodeInfo,
        path: &str,
        body: serde_json::Value,
    ) -> Result<(), FaultError> {
        let failed = |message: String| FaultError::Failed {
            op,
            node: node.name.clone(),
            message,
        };
        let http = reqwest::Client::builder()
            .timeout(CHANGE_DEADLINE)
            .connect_timeout(Duration::from_secs(1))
            .no_proxy()
            .build()
            .map_err(|e| failed(format!("building the HTTP client: {e}")))?;
        let leader = self.cluster.leader().await.ok().flatten();
        let mut order: Vec<&NodeInfo> = self.cluster.nodes().iter().collect();
        order.sort_by_key(|n| (Some(&n.name) != leader.as_ref(), n.id == node.id, n.id));
        let mut errors = Vec::new();
        for via in order {
            let url = format!("http://{}{path}", via.dial);
            match http.post(&url).json(&body).send().await {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => {
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    errors.push(format!("{}: HTTP {status} {}", via.name, text.trim()));
                }
                Err(e) => errors.push(format!("{}: {}", via.name, super::client::chain(&e))),
            }
        }
        Err(failed(errors.join("; ")))
    }

    /// Waits until the leader's configuration satisfies `done` for every target.
    async fn wait_config(
        &self,
        op: &'static str,
        targets: &[NodeInfo],
        done: impl Fn(&MembershipView, &NodeInfo) -> bool,
    ) -> Result<(), FaultError> {
        let deadline = Instant::now() + CHANGE_DEADLINE;
        loop {
            let last = self.configuration().await;
            if let Ok(m) = &last {
                if targets.iter().all(|t| done(m, t)) {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(FaultError::Failed {
                    op,
                    node: names_of(targets),
                    message: format!(
                        "the configuration did not change within {}s (last seen: {})",
                        CHANGE_DEADLINE.as_secs(),
                        match last {
                            Ok(m) => format!("voters {:?}, learners {:?}", m.voters, m.learners),
                            Err(e) => e,
                        }
                    ),
                });
            }
            tokio::time::sleep(POLL).await; // poll again, before the deadline above
        }
    }

    /// Waits until a node answers its status.
    async fn wait_serving(&self, node: &NodeInfo) -> Result<(), FaultError> {
        let probe = self
            .cluster
            .system()
            .prober(super::status::PROBE_TIMEOUT)
            .map_err(|e| FaultError::Failed {
                op: "replace",
                node: node.name.clone(),
                message: format!("{e:#}"),
            })?;
        let deadline = Instant::now() + SERVE_DEADLINE;
        loop {
            let last = probe.probe(node.dial).await;
            if last.is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(FaultError::Failed {
                    op: "replace",
                    node: node.name.clone(),
                    message: format!(
                        "the new node did not answer within {}s: {}",
                        SERVE_DEADLINE.as_secs(),
                        last.err().unwrap_or_default()
                    ),
                });
            }
            tokio::time::sleep(POLL).await; // poll again, before the deadline above
        }
    }

    /// Removes a node's container and volume and creates them afresh: the same labels, address,
    /// image and command, plus `--join`, on an empty volume; then starts it.
    async fn recreate_empty(&self, node: &NodeInfo) -> Result<(), FaultError> {
        let docker = self.cluster.docker();
        let err = |op: &'static str| {
            move |source: bollard::errors::Error| FaultError::Docker {
                op,
                node: node.name.clone(),
                container: node.container.clone(),
                source,
            }
        };
        let inspect = docker
            .inspect_container(&node.container, None)
            .await
            .map_err(err("inspecting"))?;
        let config = inspect.config.unwrap_or_default();
        if config
            .labels
            .as_ref()
            .and_then(|l| l.get(names::CLUSTER_LABEL))
            != Some(&self.cluster.name().to_string())
        {
            return Err(FaultError::Failed {
                op: "replace",
                node: node.name.clone(),
                message: format!(
                    "container {} does not carry {}={}; faultline never touches it",
                    node.container,
                    names::CLUSTER_LABEL,
                    self.cluster.name()
                ),
            });
        }
        let volume = names::volume(self.cluster.name(), node.id);
        let volume_info = docker
            .inspect_volume(&volume)
            .await
            .map_err(err("inspecting volume"))?;
        let remove = RemoveContainerOptionsBuilder::new().force(true).build();
        docker
            .remove_container(&node.container, Some(remove))
            .await
            .map_err(err("removing"))?;
        let remove = RemoveVolumeOptionsBuilder::new().force(true).build();
        match docker.remove_volume(&volume, Some(remove)).await {
            Err(e) if !is_not_found(&e) => return Err(err("removing volume")(e)),
            _ => {}
        }
        docker
            .create_volume(bollard::models::VolumeCreateRequest {
                name: Some(volume.clone()),
                labels: Some(volume_info.labels),
                ..Default::default()
            })
            .await
            .map_err(err("creating volume"))?;
        let mut cmd = config.cmd.clone().unwrap_or_default();
        if !cmd.iter().any(|a| a == "--join") {
            cmd.push("--join".into());
        }
        let network = names::network(self.cluster.name());
        let body = ContainerCreateBody {
            hostname: config.hostname.clone(),
            image: config.image.clone(),
            entrypoint: config.entrypoint.clone(),
            cmd: Some(cmd),
            env: config.env.clone(),
            labels: config.labels.clone(),
            exposed_ports: config.exposed_ports.clone(),
            host_config: inspect.host_config.clone(),
            networking_config: Some(super::lifecycle::node_network(network, node)),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::new()
            .name(&node.container)
            .build();
        docker
            .create_container(Some(options), body)
            .await
            .map_err(err("creating"))?;
        docker
            .start_container(&node.container, None)
            .await
            .map_err(err("starting"))?;
        tracing::info!(target: "faultline::cluster", node = %node.name, "replaced by an empty node that joins");
        Ok(())
    }
}

fn names_of(nodes: &[NodeInfo]) -> String {
    nodes
        .iter()
        .map(|n| n.name.as_str())
        .collect::<Vec<_>>()
        .join(",")
}
