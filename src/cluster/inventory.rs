//! Finding what faultline made: every list filters on the cluster label, so nothing without it
//! is ever seen, let alone touched.

use std::collections::BTreeMap;

use anyhow::Context;
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
};
use bollard::Docker;

use super::names::{self, CLUSTER_LABEL};

/// One line of `cluster ls`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ClusterSummary {
    pub name: String,
    pub nodes: usize,
    pub running: usize,
    pub subnet: Option<String>,
    pub volumes: usize,
}

/// Every faultline cluster on this engine, including half-removed ones (volumes only).
pub async fn ls(docker: &Docker) -> anyhow::Result<Vec<ClusterSummary>> {
    let mut clusters: BTreeMap<String, ClusterSummary> = BTreeMap::new();
    for c in list_containers(docker, None).await? {
        let Some(labels) = c.labels.as_ref() else {
            continue;
        };
        let (Some(name), false) = (
            labels.get(CLUSTER_LABEL),
            labels.contains_key(names::HELPER_LABEL),
        ) else {
            continue;
        };
        let summary = clusters.entry(name.clone()).or_default();
        summary.name.clone_from(name);
        summary.nodes += 1;
        if c.state.map(|s| s.to_string()) == Some("running".into()) {
            summary.running += 1;
        }
    }
    for n in list_networks(docker, None).await? {
        let Some(name) = n.labels.as_ref().and_then(|l| l.get(CLUSTER_LABEL)) else {
            continue;
        };
        let summary = clusters.entry(name.clone()).or_default();
        summary.name.clone_from(name);
        summary.subnet = n
            .ipam
            .as_ref()
            .and_then(|i| i.config.as_ref())
            .and_then(|c| c.first())
            .and_then(|c| c.subnet.clone());
    }
    for v in list_volume_objects(docker, None).await? {
        let Some(name) = v.labels.get(CLUSTER_LABEL) else {
            continue;
        };
        let summary = clusters.entry(name.clone()).or_default();
        summary.name.clone_from(name);
        summary.volumes += 1;
    }
    Ok(clusters.into_values().collect())
}

pub async fn list_containers(
    docker: &Docker,
    cluster: Option<&str>,
) -> anyhow::Result<Vec<bollard::models::ContainerSummary>> {
    let options = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&names::filter(cluster))
        .build();
    docker
        .list_containers(Some(options))
        .await
        .context("listing faultline containers")
}

pub async fn list_networks(
    docker: &Docker,
    cluster: Option<&str>,
) -> anyhow::Result<Vec<bollard::models::Network>> {
    let options = ListNetworksOptionsBuilder::new()
        .filters(&names::filter(cluster))
        .build();
    docker
        .list_networks(Some(options))
        .await
        .context("listing faultline networks")
}

pub async fn list_volume_objects(
    docker: &Docker,
    cluster: Option<&str>,
) -> anyhow::Result<Vec<bollard::models::Volume>> {
    let options = ListVolumesOptionsBuilder::new()
        .filters(&names::filter(cluster))
        .build();
    Ok(docker
        .list_volumes(Some(options))
        .await
        .context("listing faultline volumes")?
        .volumes
        .unwrap_or_default())
}

pub async fn list_volumes(docker: &Docker, cluster: Option<&str>) -> anyhow::Result<Vec<String>> {
    Ok(list_volume_objects(docker, cluster)
        .await?
        .into_iter()
        .map(|v| v.name)
        .collect())
}
