//! Removing a cluster: everything labelled with its name, and nothing else. What blocks a
//! removal (a container faultline did not make, attached to the cluster's network or using one
//! of its volumes) is named with what to do about it, never removed: that is bad input, since
//! only the user can decide what happens to their container.

use std::collections::HashMap;

use anyhow::Context;
use bollard::query_parameters::{
    ListContainersOptionsBuilder, RemoveContainerOptionsBuilder, RemoveVolumeOptionsBuilder,
};
use bollard::Docker;

use super::docker::is_not_found;
use super::inventory::{list_containers, list_networks, list_volumes};
use super::names::{self, CLUSTER_LABEL};
use crate::exit::bad_input;

/// What `down` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removed {
    pub containers: usize,
    pub networks: usize,
    pub volumes: usize,
}

/// A container that is not the cluster's, in the way of removing one of its objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Foreign {
    pub name: String,
    /// The short (12-character) id.
    pub id: String,
}

/// An object of the cluster that could not be removed, and the foreign containers holding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    Network { name: String, users: Vec<Foreign> },
    Volume { name: String, users: Vec<Foreign> },
}

/// Removes everything labelled with this cluster: containers (SIGKILL, no grace: the data is in
/// the volume), then the network, then the volumes unless kept. Objects already gone are fine.
/// A network or volume held by a container without the cluster's label is left (with that
/// container), the rest is still removed, and the error (bad input) names them and what to do.
pub async fn down(docker: &Docker, name: &str, keep_volumes: bool) -> anyhow::Result<Removed> {
    names::validate(name)?;
    let mut removed = Removed::default();
    let containers = list_containers(docker, Some(name)).await?;
    let force = RemoveContainerOptionsBuilder::new()
        .force(true)
        .v(true)
        .build();
    for result in
        futures::future::join_all(containers.iter().filter_map(|c| c.id.clone()).map(|id| {
            let force = force.clone();
            async move {
                match docker.remove_container(&id, Some(force)).await {
                    Ok(()) => Ok(true),
                    Err(e) if is_not_found(&e) => Ok(false),
                    Err(e) => Err(e).with_context(|| format!("removing container {id}")),
                }
            }
        }))
        .await
    {
        removed.containers += usize::from(result?);
    }
    let mut blocked = Vec::new();
    for network in list_networks(docker, Some(name)).await? {
        let id = network.id.unwrap_or_default();
        let net = network.name.unwrap_or_else(|| id.clone());
        match docker.remove_network(&id).await {
            Ok(()) => removed.networks += 1,
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                let users = network_users(docker, name, &id).await?;
                if users.is_empty() {
                    return Err(e).with_context(|| format!("removing network {net}"));
                }
                blocked.push(Blocked::Network { name: net, users });
            }
        }
    }
    if !keep_volumes {
        for volume in list_volumes(docker, Some(name)).await? {
            let options = RemoveVolumeOptionsBuilder::new().force(true).build();
            match docker.remove_volume(&volume, Some(options)).await {
                Ok(()) => removed.volumes += 1,
                Err(e) if is_not_found(&e) => {}
                Err(e) => {
                    let users = volume_users(docker, name, &volume).await?;
                    if users.is_empty() {
                        return Err(e).with_context(|| format!("removing volume {volume}"));
                    }
                    blocked.push(Blocked::Volume {
                        name: volume,
                        users,
                    });
                }
            }
        }
    }
    if blocked.is_empty() {
        Ok(removed)
    } else {
        Err(bad_input(blocked_message(name, &removed, &blocked)))
    }
}

fn short(id: &str) -> String {
    id.chars().take(12).collect()
}

fn is_ours(labels: Option<&HashMap<String, String>>, cluster: &str) -> bool {
    labels
        .and_then(|l| l.get(CLUSTER_LABEL))
        .map(String::as_str)
        == Some(cluster)
}

/// The containers attached to a network that do not carry the cluster's label.
async fn network_users(docker: &Docker, cluster: &str, id: &str) -> anyhow::Result<Vec<Foreign>> {
    let network = match docker.inspect_network(id, None).await {
        Ok(n) => n,
        Err(e) if is_not_found(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("inspecting network {id}")),
    };
    let mut users = Vec::new();
    for (cid, endpoint) in network.containers.unwrap_or_default() {
        let labels = match docker.inspect_container(&cid, None).await {
            Ok(c) => c.config.and_then(|c| c.labels),
            Err(e) if is_not_found(&e) => continue,
            Err(e) => return Err(e).with_context(|| format!("inspecting container {cid}")),
        };
        if !is_ours(labels.as_ref(), cluster) {
            users.push(Foreign {
                name: endpoint.name.unwrap_or_else(|| short(&cid)),
                id: short(&cid),
            });
        }
    }
    users.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(users)
}

/// The containers, running or not, that use a volume and do not carry the cluster's label.
async fn volume_users(
    docker: &Docker,
    cluster: &str,
    volume: &str,
) -> anyhow::Result<Vec<Foreign>> {
    let options = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&HashMap::from([("volume", vec![volume])]))
        .build();
    let containers = docker
        .list_containers(Some(options))
        .await
        .with_context(|| format!("listing the containers that use volume {volume}"))?;
    let mut users: Vec<Foreign> = containers
        .into_iter()
        .filter(|c| !is_ours(c.labels.as_ref(), cluster))
        .map(|c| {
            let id = short(c.id.as_deref().unwrap_or_default());
            let name = c
                .names
                .and_then(|n| n.into_iter().next())
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_else(|| id.clone());
            Foreign { name, id }
        })
        .collect();
    users.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(users)
}

/// What was left and why, and what the user can do: faultline removes only what it made.
pub fn blocked_message(cluster: &str, removed: &Removed, blocked: &[Blocked]) -> String {
    let list = |users: &[Foreign]| {
        users
            .iter()
            .map(|u| format!("{} ({})", u.name, u.id))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut s = format!(
        "cluster {cluster} is only partly removed ({} containers, {} networks, {} volumes \
         removed): containers that faultline did not make hold the rest, and faultline never \
         removes what it did not make",
        removed.containers, removed.networks, removed.volumes
    );
    let mut todo = Vec::new();
    for b in blocked {
        match b {
            Blocked::Network { name, users } => {
                s.push_str(&format!(
                    "\n  network {name} has containers attached: {}",
                    list(users)
                ));
                for u in users {
                    todo.push(format!("docker network disconnect {name} {}", u.name));
                }
            }
            Blocked::Volume { name, users } => {
                s.push_str(&format!("\n  volume {name} is used by: {}", list(users)));
                for u in users {
                    todo.push(format!("docker rm {}", u.name));
                }
            }
        }
    }
    todo.dedup();
    s.push_str(&format!(
        "\ndisconnect or remove them yourself (e.g. `{}`), then run \
         `faultline cluster down --name {cluster}` again",
        todo.join("`, `")
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blocked_removal_names_the_foreign_containers_and_what_to_do() {
        let blocked = [
            Blocked::Network {
                name: "faultline-x".into(),
                users: vec![Foreign {
                    name: "mine".into(),
                    id: "0123456789ab".into(),
                }],
            },
            Blocked::Volume {
                name: "faultline-x-n1-data".into(),
                users: vec![Foreign {
                    name: "backup".into(),
                    id: "ba0123456789".into(),
                }],
            },
        ];
        let removed = Removed {
            containers: 3,
            networks: 0,
            volumes: 2,
        };
        let m = blocked_message("x", &removed, &blocked);
        for needle in [
            "cluster x is only partly removed (3 containers, 0 networks, 2 volumes removed)",
            "network faultline-x has containers attached: mine (0123456789ab)",
            "volume faultline-x-n1-data is used by: backup (ba0123456789)",
            "`docker network disconnect faultline-x mine`",
            "`docker rm backup`",
            "`faultline cluster down --name x` again",
            "never removes what it did not make",
        ] {
            assert!(m.contains(needle), "{needle:?} in\n{m}");
        }
    }

    #[test]
    fn only_the_clusters_label_makes_a_container_ours() {
        let labels = |k: &str, v: &str| Some(HashMap::from([(k.to_string(), v.to_string())]));
        assert!(is_ours(labels(CLUSTER_LABEL, "x").as_ref(), "x"));
        assert!(!is_ours(labels(CLUSTER_LABEL, "y").as_ref(), "x"));
        assert!(!is_ours(labels("other", "x").as_ref(), "x"));
        assert!(!is_ours(None, "x"));
    }
}
