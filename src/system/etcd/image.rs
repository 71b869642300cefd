//! The etcd image: Debian's `etcd-server` over the node image's Debian base, with the member
//! entrypoint, built through the Docker API and tagged by content hash so an unchanged recipe
//! builds nothing.
//!
//! By hand, on a machine with a registry (or with `faultline/base:bookworm` from
//! `docker/build-base.sh`):
//!
//! ```text
//! docker build --build-arg BASE=debian:bookworm-slim -t faultline/etcd:dev docker/etcd
//! ```
//!
//! The build runs `apt-get install etcd-server`, so Debian's archive must be reachable from
//! build containers. Where it is not, fetch the packages on a host that can
//! (`apt-get download etcd-server`), add them to `docker/etcd/`, and install them with
//! `dpkg -i` in the Dockerfile instead.

use anyhow::{bail, Context};
use bollard::Docker;
use sha2::{Digest, Sha256};

use crate::cluster::docker::is_not_found;
use crate::cluster::image::{LOCAL_BASE, REGISTRY_BASE};

/// The recipe and the entrypoint, compiled in so building needs nothing else.
const DOCKERFILE: &str = include_str!("../../../docker/etcd/Dockerfile");
const ENTRYPOINT: &str = include_str!("../../../docker/etcd/faultline-etcd-member");
pub const REPO: &str = "faultline/etcd";
/// The value of the image's `io.faultline.image` label.
pub const IMAGE_KIND: &str = "etcd";

/// The tag of the etcd image over `base` (by default the local Debian base, else an already
/// pulled `debian:bookworm-slim`), building it first unless an image with that content hash
/// exists. Nothing is pulled: a missing base is an error saying how to make one.
pub async fn ensure(docker: &Docker, base: Option<String>) -> anyhow::Result<String> {
    let base = resolve_base(docker, base).await?;
    let base_id = docker
        .inspect_image(&base)
        .await
        .with_context(|| format!("inspecting the base image {base}"))?
        .id
        .unwrap_or_default();
    let tag = format!("{REPO}:{}", &content_hash(&base_id)[..12]);
    match docker.inspect_image(&tag).await {
        Ok(_) => {
            tracing::debug!(target: "faultline::system", %tag, "etcd image is up to date");
        }
        Err(e) if is_not_found(&e) => build(docker, &tag, &base).await?,
        Err(e) => return Err(e).with_context(|| format!("inspecting image {tag}")),
    }
    // `faultline/etcd:latest` names the newest, for campaigns that describe etcd themselves
    // (`kind: http`).
    let latest = bollard::query_parameters::TagImageOptionsBuilder::new()
        .repo(REPO)
        .tag("latest")
        .build();
    docker
        .tag_image(&tag, Some(latest))
        .await
        .with_context(|| format!("tagging {tag} as {REPO}:latest"))?;
    Ok(tag)
}

/// The base asked for, else the node image's local base, else the registry base if present.
async fn resolve_base(docker: &Docker, base: Option<String>) -> anyhow::Result<String> {
    let candidates = match base {
        Some(base) => vec![base],
        None => vec![LOCAL_BASE.to_string(), REGISTRY_BASE.to_string()],
    };
    for candidate in &candidates {
        match docker.inspect_image(candidate).await {
            Ok(_) => return Ok(candidate.clone()),
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(e).with_context(|| format!("inspecting image {candidate}")),
        }
    }
    bail!(
        "no base image for the etcd image: {} not found; build {LOCAL_BASE} with \
         `sudo docker/build-base.sh` (Debian's debootstrap, no registry needed) or \
         `faultline image build`, or pull {REGISTRY_BASE}",
        candidates.join(" and ")
    )
}

/// What the image depends on: the recipe, the entrypoint and the exact base image.
fn content_hash(base_id: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [DOCKERFILE, ENTRYPOINT, base_id] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The context the engine builds from: the Dockerfile and the entrypoint, nothing else.
fn context_tar() -> anyhow::Result<Vec<u8>> {
    crate::cluster::image::tar_of(&[
        ("Dockerfile", DOCKERFILE.as_bytes(), 0o644),
        ("faultline-etcd-member", ENTRYPOINT.as_bytes(), 0o755),
    ])
}

async fn build(docker: &Docker, tag: &str, base: &str) -> anyhow::Result<()> {
    tracing::info!(target: "faultline::system", %tag, %base, "building the etcd image (apt-get install etcd-server)");
    crate::cluster::image::build_context(docker, tag, base, IMAGE_KIND, context_tar()?)
        .await
        .map_err(|(e, last_lines)| {
            e.context(format!(
                "{}\n(apt-get needs Debian's archive reachable from build containers; see \
                 src/system/etcd/image.rs for the offline route)",
                last_lines.join("\n")
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_depends_on_the_base() {
        let a = content_hash("sha256:base1");
        assert_eq!(a.len(), 64);
        assert_eq!(a, content_hash("sha256:base1"));
        assert_ne!(a, content_hash("sha256:base2"));
    }

    #[test]
    fn the_context_holds_the_recipe_and_an_executable_entrypoint() {
        let tar_bytes = context_tar().unwrap();
        let entries = crate::cluster::image::context_entries(&tar_bytes);
        assert_eq!(
            entries,
            vec![
                ("Dockerfile".into(), 0o644),
                ("faultline-etcd-member".into(), 0o755)
            ]
        );
        assert!(DOCKERFILE.contains("etcd-server"));
        assert!(DOCKERFILE.contains("LABEL io.faultline.image=etcd"));
        assert!(ENTRYPOINT.contains("exec etcd"));
        assert!(ENTRYPOINT.starts_with("#!/bin/bash"));
    }
}
