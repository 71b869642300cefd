//! Creating, finding and removing clusters: one bridge network with a fixed subnet, one named
//! volume and one container per node, all labelled.

use std::collections::HashMap;
use std::net::SocketAddr;

use anyhow::{bail, Context};
use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig, Ipam, IpamConfig,
    NetworkCreateRequest, NetworkingConfig, PortBinding, VolumeCreateRequest,
};
use bollard::query_parameters::{CreateContainerOptionsBuilder, RemoveVolumeOptionsBuilder};
use bollard::Docker;
use futures::future::try_join_all;

use super::docker::{is_conflict, is_not_found, status_of};
pub use super::down::{down, Removed};
use super::inventory::{list_containers, list_networks, list_volumes};
use super::names::{self, CLUSTER_LABEL, DATA_DIR, NODE_LABEL, NODE_PORT, SYSTEM_LABEL};
use super::reach::{Reach, DIAL_LABEL};
use super::subnet::{self, Subnet};
use super::NodeSystem;
use super::{Cluster, ClusterSpec, NodeInfo};
use crate::exit::bad_input;

/// Reads what a cluster runs back from its containers' `io.faultline.system` label.
pub type SystemFromLabel =
    dyn Fn(Option<&String>) -> anyhow::Result<std::sync::Arc<dyn NodeSystem>> + Send + Sync;

pub async fn up(docker: Docker, spec: &ClusterSpec) -> anyhow::Result<Cluster> {
    names::validate(&spec.name)?;
    if spec.nodes == 0 || spec.nodes > subnet::MAX_NODES {
        return Err(bad_input(format!(
            "--nodes must be between 1 and {}, not {}",
            subnet::MAX_NODES,
            spec.nodes
        )));
    }
    check_image(&docker, &spec.image).await?;
    let kept = check_clash(&docker, spec).await?;

    let reach = super::reach::resolve(&docker, spec.reach, spec.nodes).await?;
    let subnet = kept_subnet(&docker, &kept).await?;
    let cluster = match create(&docker, spec, subnet, reach).await {
        Ok(cluster) => cluster,
        Err(e) => {
            // Nothing of a half-built cluster may linger. The clash check guarantees that
            // everything with this label was created just now, except volumes kept by an earlier
            // `down --keep-volumes`, which hold someone's data and stay.
            if let Err(cleanup) = undo(&docker, &spec.name, &kept).await {
                tracing::warn!(target: "faultline::cluster", "cleaning up after a failed up: {cleanup:#}");
            }
            return Err(e);
        }
    };
    if let Some(timeout) = spec.leader_timeout {
        if let Err(e) = cluster.wait_for_leader(timeout).await {
            // Say what each node's log said last: the reason is usually there.
            let mut last = Vec::new();
            for node in cluster.nodes() {
                if let Some(line) = super::logs::last_line(&cluster, node).await {
                    last.push(format!("{}: {line}", node.name));
                }
            }
            return Err(e).with_context(|| {
                format!(
                    "cluster {name} of {system} is running but elected no leader{logs}; read the \
                     nodes' logs (`faultline cluster logs n1 --name {name}`), then `faultline \
                     cluster down --name {name}`",
                    name = spec.name,
                    system = spec.system.describe(),
                    logs = if last.is_empty() {
                        String::new()
                    } else {
                        format!(" (last log lines: {})", last.join("; "))
                    }
                )
            });
        }
    }
    Ok(cluster)
}

async fn check_image(docker: &Docker, image: &str) -> anyhow::Result<()> {
    match docker.inspect_image(image).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => bail!(
            "image {image} not found; run `faultline image build` (or pass --image with an existing image)"
        ),
        Err(e) => Err(e).with_context(|| format!("inspecting image {image}")),
    }
}

/// Removes what a failed `up` created, keeping the volumes in `kept`.
async fn undo(docker: &Docker, name: &str, kept: &[String]) -> anyhow::Result<()> {
    down(docker, name, true).await?;
    for volume in list_volumes(docker, Some(name)).await? {
        if kept.contains(&volume) {
            continue;
        }
        let options = RemoveVolumeOptionsBuilder::new().force(true).build();
        match docker.remove_volume(&volume, Some(options)).await {
            Err(e) if !is_not_found(&e) => {
                return Err(e).with_context(|| format!("removing volume {volume}"))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Refuses to start when anything of this cluster exists already, labelled or not, except its
/// own kept volumes, which it returns.
async fn check_clash(docker: &Docker, spec: &ClusterSpec) -> anyhow::Result<Vec<String>> {
    let name = &spec.name;
    let ours = list_containers(docker, Some(name)).await?;
    let networks = list_networks(docker, Some(name)).await?;
    if !ours.is_empty() || !networks.is_empty() {
        bail!(
            "a cluster named {name} already exists; run `faultline cluster down --name {name}` \
             or choose another --name"
        );
    }
    let net = names::network(name);
    match docker.inspect_network(&net, None).await {
        Ok(_) => bail!(
            "a Docker network named {net} exists but was not made by faultline; \
             choose another --name (faultline never touches it)"
        ),
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(e).with_context(|| format!("inspecting network {net}")),
    }
    let mut kept = Vec::new();
    for id in 1..=spec.nodes {
        let container = names::container(name, id);
        match docker.inspect_container(&container, None).await {
            Ok(_) => bail!(
                "a container named {container} exists but was not made by faultline; \
                 choose another --name (faultline never touches it)"
            ),
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(e).with_context(|| format!("inspecting container {container}")),
        }
        let volume = names::volume(name, id);
        match docker.inspect_volume(&volume).await {
            Ok(v) if v.labels.get(CLUSTER_LABEL) != Some(name) => bail!(
                "a volume named {volume} exists but was not made by faultline for cluster {name}; \
                 choose another --name (faultline never touches it)"
            ),
            // A volume kept by `down --keep-volumes`: the node resumes from its data.
            Ok(_) => kept.push(volume),
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(e).with_context(|| format!("inspecting volume {volume}")),
        }
    }
    Ok(kept)
}

/// The subnet a cluster's kept volumes were made on: their nodes' data names peers by address,
/// so a cluster that resumes from them must come back on the same addresses.
async fn kept_subnet(docker: &Docker, kept: &[String]) -> anyhow::Result<Option<Subnet>> {
    for volume in kept {
        let v = docker
            .inspect_volume(volume)
            .await
            .with_context(|| format!("inspecting volume {volume}"))?;
        if let Some(s) = v.labels.get(SUBNET_LABEL).and_then(|s| Subnet::parse(s)) {
            return Ok(Some(s));
        }
    }
    Ok(None)
}

/// On the volumes of each node: the subnet the cluster was made on.
const SUBNET_LABEL: &str = "io.faultline.subnet";

async fn create(
    docker: &Docker,
    spec: &ClusterSpec,
    want: Option<Subnet>,
    reach: Reach,
) -> anyhow::Result<Cluster> {
    let subnet = create_network(docker, &spec.name, want).await?;
    let nodes: Vec<NodeInfo> = (1..=spec.nodes)
        .map(|id| node_info(&spec.name, subnet, id, spec.system.client_port(), reach))
        .collect();
    let peers = nodes
        .iter()
        .map(|n| format!("{}={}", n.id, n.addr))
        .collect::<Vec<_>>()
        .join(",");
    try_join_all(
        nodes
            .iter()
            .map(|n| create_node(docker, spec, (subnet, reach), n, &nodes, &peers)),
    )
    .await?;
    try_join_all(nodes.iter().map(|n| async move {
        docker
            .start_container(&n.container, None)
            .await
            .with_context(|| format!("starting container {}", n.container))
    }))
    .await?;
    tracing::info!(target: "faultline::cluster", cluster = %spec.name, %subnet, nodes = spec.nodes, ?reach, "cluster started");
    Ok(Cluster {
        docker: docker.clone(),
        name: spec.name.clone(),
        subnet,
        nodes,
        system: spec.system.clone(),
    })
}

/// Creates the bridge network on the first free /24. Another `up` may take the same subnet
/// between our look and our create; the engine then refuses, and we look again, this time at a
/// random free /24 so that racing `up`s spread out instead of colliding again.
async fn create_network(
    docker: &Docker,
    name: &str,
    want: Option<Subnet>,
) -> anyhow::Result<Subnet> {
    use rand::seq::SliceRandom;
    for attempt in 0..20 {
        let all = docker
            .list_networks(None)
            .await
            .context("listing Docker networks to find a free subnet")?;
        let mut taken: Vec<Subnet> = all
            .iter()
            .filter_map(|n| n.ipam.as_ref()?.config.as_ref())
            .flatten()
            .filter_map(|c| Subnet::parse(c.subnet.as_deref()?))
            .collect();
        if let Some(want) = want {
            if taken.contains(&want) {
                bail!(
                    "the kept volumes of cluster {name} hold nodes addressed on {want}, which \
                     another Docker network now uses; free it, or start afresh with \
                     `faultline cluster down --name {name}` (without --keep-volumes)"
                );
            }
        }
        // Subnets other clusters' kept volumes were made on are theirs to come back to.
        taken.extend(
            super::inventory::list_volume_objects(docker, None)
                .await?
                .iter()
                .filter(|v| v.labels.get(CLUSTER_LABEL).map(String::as_str) != Some(name))
                .filter_map(|v| Subnet::parse(v.labels.get(SUBNET_LABEL)?)),
        );
        let free = subnet::free(&taken);
        let chosen = match want {
            Some(ref want) => Some(want),
            None if attempt == 0 => free.first(),
            None => free.choose(&mut rand::thread_rng()),
        };
        let Some(&subnet) = chosen else {
            bail!(
                "no free subnet: every /24 of {}/16 overlaps an existing Docker network; remove \
                 unused clusters (`faultline cluster ls`, `faultline cluster down --name NAME`) \
                 or networks (`docker network ls`)",
                subnet::POOL
            );
        };
        let request = NetworkCreateRequest {
            name: names::network(name),
            driver: Some("bridge".into()),
            ipam: Some(Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some(subnet.to_string()),
                    gateway: Some(subnet.gateway().to_string()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            labels: Some(names::labels(name, None)),
            ..Default::default()
        };
        match docker.create_network(request).await {
            Ok(_) => return Ok(subnet),
            Err(e) if status_of(&e) == Some(403) || is_conflict(&e) => {
                tracing::debug!(target: "faultline::cluster", %subnet, "subnet taken meanwhile: {e}");
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("creating network {} on {subnet}", names::network(name))
                })
            }
        }
    }
    bail!(
        "could not create network {}: the engine kept refusing free-looking subnets",
        names::network(name)
    )
}

/// Node `id` of cluster `cluster`: its names, its address on `subnet` and how it is dialled.
fn node_info(cluster: &str, subnet: Subnet, id: u64, port: u16, reach: Reach) -> NodeInfo {
    let addr = SocketAddr::new(subnet::node_addr(&subnet, id).into(), port);
    NodeInfo {
        name: names::node(id),
        id,
        addr,
        dial: reach.dial(&subnet, id, addr),
        container: names::container(cluster, id),
    }
}

async fn create_node(
    docker: &Docker,
    spec: &ClusterSpec,
    (subnet, reach): (Subnet, Reach),
    node: &NodeInfo,
    nodes: &[NodeInfo],
    peers: &str,
) -> anyhow::Result<()> {
    let mut labels = names::labels(&spec.name, Some(node.id));
    labels.insert(SYSTEM_LABEL.to_string(), spec.system.label());
    if let Some(host) = reach.label() {
        labels.insert(DIAL_LABEL.to_string(), host);
    }
    let volume = names::volume(&spec.name, node.id);
    let mut volume_labels = labels.clone();
    volume_labels.insert(SUBNET_LABEL.to_string(), subnet.to_string());
    docker
        .create_volume(VolumeCreateRequest {
            name: Some(volume.clone()),
            labels: Some(volume_labels),
            ..Default::default()
        })
        .await
        .with_context(|| format!("creating volume {volume}"))?;

    let system = spec.system.container(&spec.name, node, nodes);
    let (entrypoint, cmd) = match (&spec.command, system) {
        (Some(command), _) => (Some(command.clone()), None),
        (None, Some(container)) => container,
        (None, None) => {
            let mut cmd: Vec<String> = vec![
                "node".into(),
                "--id".into(),
                node.id.to_string(),
                "--listen".into(),
                format!("0.0.0.0:{NODE_PORT}"),
                "--peers".into(),
                peers.to_string(),
                "--data-dir".into(),
                DATA_DIR.into(),
            ];
            cmd.extend(spec.node_args.iter().cloned());
            (None, Some(cmd))
        }
    };
    let network = names::network(&spec.name);
    let body = ContainerCreateBody {
        hostname: Some(node.name.clone()),
        image: Some(spec.image.clone()),
        entrypoint,
        cmd,
        // Plain text: logs are read as files (`cluster logs --out`, the runner's results).
        env: Some(
            ["FAULTLINE_LOG=info".to_string(), "NO_COLOR=1".to_string()]
                .into_iter()
                .chain(spec.system.env().iter().cloned())
                .chain(
                    spec.clock_faults
                        .then(super::clock::preload_env)
                        .unwrap_or_default()
                        .iter()
                        .cloned(),
                )
                .collect(),
        ),
        labels: Some(labels),
        exposed_ports: reach
            .bind_ip()
            .map(|_| vec![format!("{}/tcp", node.addr.port())]),
        host_config: Some(HostConfig {
            // iptables inside the node's namespace needs it; nothing else does.
            cap_add: Some(vec!["NET_ADMIN".into()]),
            binds: Some(vec![format!("{volume}:{}", spec.system.data_dir())]),
            network_mode: Some(network.clone()),
            port_bindings: published(reach, node),
            ..Default::default()
        }),
        networking_config: Some(node_network(network, node)),
        ..Default::default()
    };
    let options = CreateContainerOptionsBuilder::new()
        .name(&node.container)
        .build();
    docker
        .create_container(Some(options), body)
        .await
        .with_context(|| format!("creating container {}", node.container))?;
    Ok(())
}

/// A node's one endpoint: `network` at the node's fixed address (a replaced node keeps it).
pub(super) fn node_network(network: String, node: &NodeInfo) -> NetworkingConfig {
    NetworkingConfig {
        endpoints_config: Some(HashMap::from([(
            network,
            EndpointSettings {
                ipam_config: Some(EndpointIpamConfig {
                    ipv4_address: Some(node.addr.ip().to_string()),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )])),
    }
}

/// The engine-host port a node's client port is published on, when the cluster is reached so.
fn published(reach: Reach, node: &NodeInfo) -> Option<HashMap<String, Option<Vec<PortBinding>>>> {
    let host_ip = reach.bind_ip()?;
    Some(HashMap::from([(
        format!("{}/tcp", node.addr.port()),
        Some(vec![PortBinding {
            host_ip: Some(host_ip),
            host_port: Some(node.dial.port().to_string()),
        }]),
    )]))
}

/// The cluster called `name`, from its labelled network and containers.
pub async fn connect(
    docker: Docker,
    name: &str,
    system_from_label: &SystemFromLabel,
) -> anyhow::Result<Cluster> {
    names::validate(name)?;
    let networks = list_networks(&docker, Some(name)).await?;
    let subnet = networks
        .iter()
        .filter_map(|n| n.ipam.as_ref()?.config.as_ref())
        .flatten()
        .find_map(|c| Subnet::parse(c.subnet.as_deref()?));
    let Some(subnet) = subnet else {
        bail!(
            "no cluster named {name}; start one with `faultline cluster up --name {name}` \
             (`faultline cluster ls` lists the clusters)"
        );
    };
    let containers: Vec<_> = list_containers(&docker, Some(name))
        .await?
        .into_iter()
        .filter_map(|c| c.labels)
        .filter(|labels| !labels.contains_key(names::HELPER_LABEL))
        .collect();
    let system = system_from_label(containers.iter().find_map(|l| l.get(SYSTEM_LABEL)))?;
    let reach = Reach::from_label(containers.iter().find_map(|l| l.get(DIAL_LABEL)))?;
    let mut nodes: Vec<NodeInfo> = containers
        .iter()
        .filter_map(|labels| {
            let id = names::node_id(labels.get(NODE_LABEL)?)?;
            Some(node_info(name, subnet, id, system.client_port(), reach))
        })
        .collect();
    nodes.sort_by_key(|n| n.id);
    if nodes.is_empty() {
        bail!(
            "cluster {name} has a network but no nodes; run `faultline cluster down --name {name}`"
        );
    }
    Ok(Cluster {
        docker,
        name: name.to_string(),
        subnet,
        nodes,
        system,
    })
}
