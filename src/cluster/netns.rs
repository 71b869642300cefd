//! Running a shell script in a node's network namespace. Normally `docker exec` (about 0.1 s);
//! a paused container refuses exec, so then a short-lived helper container joins the node's
//! namespace instead (the freezer stops the node's processes, not its network namespace).

use anyhow::{bail, Context};
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use futures::StreamExt;

use super::docker::is_conflict;
use super::exec::{self, Output};
use super::names;

pub async fn run(
    docker: &Docker,
    cluster: &str,
    node_id: u64,
    script: &str,
) -> anyhow::Result<Output> {
    let container = names::container(cluster, node_id);
    match exec::run(docker, &container, &["sh", "-c", script]).await {
        Ok(out) => Ok(out),
        Err(e) if is_conflict(&e) => {
            tracing::debug!(target: "faultline::nemesis", %container, "exec refused ({e}); using a helper container");
            run_in_helper(docker, cluster, node_id, script).await
        }
        Err(e) => Err(e).with_context(|| format!("docker exec in {container}")),
    }
}

async fn run_in_helper(
    docker: &Docker,
    cluster: &str,
    node_id: u64,
    script: &str,
) -> anyhow::Result<Output> {
    let target = names::container(cluster, node_id);
    let image = docker
        .inspect_container(&target, None)
        .await
        .with_context(|| format!("inspecting container {target}"))?
        .config
        .and_then(|c| c.image)
        .with_context(|| format!("container {target} has no image"))?;
    let helper = Helper {
        name: format!("{target}-netns"),
        node: Some(node_id),
        role: "netns",
        image,
        network_mode: format!("container:{target}"),
    };
    run_once(docker, cluster, &helper, script).await
}

/// Runs a script in a throwaway container of `image` with a network namespace of its own (no
/// network), labelled as a helper of `cluster` and removed at once: a probe of what the host's
/// kernel can do (e.g. whether it has netem) before any cluster exists.
pub async fn run_probe(
    docker: &Docker,
    cluster: &str,
    image: &str,
    script: &str,
) -> anyhow::Result<Output> {
    let helper = Helper {
        name: format!("faultline-{cluster}-probe"),
        node: None,
        role: "probe",
        image: image.to_string(),
        network_mode: "none".into(),
    };
    run_once(docker, cluster, &helper, script).await
}

/// A short-lived helper container: its name, the node it serves (if any), its role label, its
/// image and the network namespace it runs in.
struct Helper {
    name: String,
    node: Option<u64>,
    role: &'static str,
    image: String,
    network_mode: String,
}

/// Creates the helper (labelled as `cluster`'s), runs `script` in it with `NET_ADMIN`, and
/// removes it whatever happened. A helper left over from an interrupted run would block the
/// name; a container of that name that faultline did not make is left alone, and said so.
async fn run_once(
    docker: &Docker,
    cluster: &str,
    helper: &Helper,
    script: &str,
) -> anyhow::Result<Output> {
    let mut labels = names::labels(cluster, helper.node);
    labels.insert(names::HELPER_LABEL.into(), helper.role.into());
    let body = ContainerCreateBody {
        image: Some(helper.image.clone()),
        entrypoint: Some(vec!["sh".into(), "-c".into()]),
        cmd: Some(vec![script.to_string()]),
        labels: Some(labels),
        host_config: Some(HostConfig {
            network_mode: Some(helper.network_mode.clone()),
            cap_add: Some(vec!["NET_ADMIN".into()]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let name = &helper.name;
    remove_ours(docker, cluster, name).await?;
    docker
        .create_container(
            Some(CreateContainerOptionsBuilder::new().name(name).build()),
            body,
        )
        .await
        .with_context(|| {
            format!(
                "creating {} container {name} from {}",
                helper.role, helper.image
            )
        })?;
    let result = run_helper(docker, name).await;
    if let Err(e) = remove_ours(docker, cluster, name).await {
        tracing::warn!(target: "faultline::nemesis", helper = %name, "removing {} container: {e:#}", helper.role);
    }
    result
}

async fn run_helper(docker: &Docker, helper: &str) -> anyhow::Result<Output> {
    docker
        .start_container(helper, None)
        .await
        .with_context(|| format!("starting helper container {helper}"))?;
    let mut exit_code = -1;
    let mut waits = docker.wait_container(helper, None);
    while let Some(item) = waits.next().await {
        match item {
            Ok(r) => exit_code = r.status_code,
            // bollard reports a non-zero exit as an error carrying the code.
            Err(bollard::errors::Error::DockerContainerWaitError { code, .. }) => exit_code = code,
            Err(e) => return Err(e).with_context(|| format!("waiting for helper {helper}")),
        }
    }
    let mut stdout = String::new();
    let mut stderr = String::new();
    let options = LogsOptionsBuilder::new().stdout(true).stderr(true).build();
    let mut logs = docker.logs(helper, Some(options));
    while let Some(item) = logs.next().await {
        match item.with_context(|| format!("reading the output of helper {helper}"))? {
            bollard::container::LogOutput::StdErr { message } => {
                stderr.push_str(&String::from_utf8_lossy(&message))
            }
            other => stdout.push_str(&String::from_utf8_lossy(&other.into_bytes())),
        }
    }
    if exit_code == -1 {
        bail!("helper {helper} ended without an exit code");
    }
    Ok(Output {
        exit_code,
        stdout,
        stderr,
    })
}

/// Removes the helper container `helper` of `cluster` if it exists, after checking that it is
/// one: labelled with the cluster and as a helper. Anything else of that name is not ours to
/// touch, and blocks the fault with an error that says so.
async fn remove_ours(docker: &Docker, cluster: &str, helper: &str) -> anyhow::Result<()> {
    let labels = match docker.inspect_container(helper, None).await {
        Ok(c) => c.config.and_then(|c| c.labels).unwrap_or_default(),
        Err(e) if super::docker::is_not_found(&e) => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("inspecting container {helper}")),
    };
    let ours = labels.get(names::CLUSTER_LABEL).map(String::as_str) == Some(cluster)
        && labels.contains_key(names::HELPER_LABEL);
    if !ours {
        bail!(
            "a container named {helper} exists but was not made by faultline for cluster \
             {cluster}; faultline never touches it: remove or rename it to let faults on \
             paused nodes run"
        );
    }
    let options = RemoveContainerOptionsBuilder::new().force(true).build();
    match docker.remove_container(helper, Some(options)).await {
        Err(e) if !super::docker::is_not_found(&e) => {
            Err(e).with_context(|| format!("removing helper container {helper}"))
        }
        _ => Ok(()),
    }
}
