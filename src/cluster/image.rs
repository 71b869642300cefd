//! The node image: the faultline binary as a thin layer over a Debian base, tagged by content
//! hash so an unchanged binary builds nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateImageOptionsBuilder, TagImageOptionsBuilder,
};
use bollard::Docker;
use futures::StreamExt;
use sha2::{Digest, Sha256};

use super::docker::is_not_found;

/// The recipe, compiled in so building needs nothing but the binary.
const DOCKERFILE: &str = include_str!("../../docker/Dockerfile");
pub const REPO: &str = "faultline/node";
/// Built locally by `docker/build-base.sh`, no registry needed.
pub const LOCAL_BASE: &str = "faultline/base:bookworm";
/// The registry base, for machines that can pull.
pub const REGISTRY_BASE: &str = "debian:bookworm-slim";

/// Where the node image's parts come from; also the flags of every command that builds it.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct BuildOptions {
    /// The faultline binary to put in the image (default: the running one).
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
    /// The base image (default: faultline/base:bookworm, built with docker/build-base.sh when
    /// missing, else debian:bookworm-slim).
    #[arg(long, value_name = "IMAGE")]
    pub base: Option<String>,
    /// The repository's docker/ directory, where build-base.sh lives.
    #[arg(long, value_name = "DIR")]
    pub docker_dir: Option<PathBuf>,
}

impl Built {
    /// What was built and how long it took, a line each, for a person.
    pub fn summary(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(took) = self.base_build {
            lines.push(format!(
                "built base image {} in {:.1} s",
                self.base,
                took.as_secs_f64()
            ));
        }
        lines.push(if self.built {
            format!(
                "built {} over {} in {:.1} s",
                self.tag,
                self.base,
                self.elapsed.as_secs_f64()
            )
        } else {
            format!(
                "{} is up to date ({:.1} s)",
                self.tag,
                self.elapsed.as_secs_f64()
            )
        });
        lines
    }
}

/// The outcome of `ensure`.
#[derive(Debug, Clone)]
pub struct Built {
    /// `faultline/node:<hash12>`.
    pub tag: String,
    pub base: String,
    /// False when an image with this content hash already existed.
    pub built: bool,
    /// How long building the base took, when it had to be built.
    pub base_build: Option<Duration>,
    pub elapsed: Duration,
}

/// The tag for the node image of `binary` (the running faultline by default), building the image
/// first if no image with that content exists.
pub async fn ensure(docker: &Docker, opts: &BuildOptions) -> anyhow::Result<Built> {
    let start = Instant::now();
    let binary_path = match &opts.binary {
        Some(path) => path.clone(),
        None => std::env::current_exe().context("could not locate the running faultline binary")?,
    };
    let binary = tokio::fs::read(&binary_path)
        .await
        .with_context(|| format!("reading the binary {}", binary_path.display()))?;

    let (base, base_build) = resolve_base(docker, opts).await?;
    let base_id = docker
        .inspect_image(&base)
        .await
        .with_context(|| format!("inspecting the base image {base}"))?
        .id
        .unwrap_or_default();
    let hash = content_hash(&binary, &base_id);
    let tag = format!("{REPO}:{}", &hash[..12]);

    let built = match docker.inspect_image(&tag).await {
        Ok(_) => {
            tracing::debug!(target: "faultline::cluster", %tag, "image is up to date");
            false
        }
        Err(e) if is_not_found(&e) => {
            build(docker, &tag, &base, &binary).await?;
            true
        }
        Err(e) => return Err(e).with_context(|| format!("inspecting image {tag}")),
    };
    let latest = TagImageOptionsBuilder::new()
        .repo(REPO)
        .tag("latest")
        .build();
    docker
        .tag_image(&tag, Some(latest))
        .await
        .with_context(|| format!("tagging {tag} as {REPO}:latest"))?;
    Ok(Built {
        tag,
        base,
        built,
        base_build,
        elapsed: start.elapsed(),
    })
}

/// What the image depends on: the recipe, the exact base image and the binary.
fn content_hash(binary: &[u8], base_id: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(DOCKERFILE.as_bytes());
    hasher.update(base_id.as_bytes());
    hasher.update(binary);
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The context the engine builds from: the Dockerfile and the binary, nothing else.
fn context_tar(binary: &[u8]) -> anyhow::Result<Vec<u8>> {
    tar_of(&[
        ("Dockerfile", DOCKERFILE.as_bytes(), 0o644),
        ("faultline", binary, 0o755),
    ])
}

/// A build context's files and their modes, in order (for tests of the contexts).
#[cfg(test)]
pub fn context_entries(tar_bytes: &[u8]) -> Vec<(String, u32)> {
    tar::Archive::new(tar_bytes)
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.path().unwrap().display().to_string(),
                e.header().mode().unwrap(),
            )
        })
        .collect()
}

/// A build context: each file with its mode.
pub fn tar_of(files: &[(&str, &[u8], u32)]) -> anyhow::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data, mode) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(*mode);
        header.set_cksum();
        tar.append_data(&mut header, name, *data)
            .context("writing the build context")?;
    }
    tar.into_inner().context("writing the build context")
}

/// A build context of a whole directory (a user's, with its Dockerfile at the root).
pub fn tar_dir(dir: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.append_dir_all(".", dir)
        .with_context(|| format!("packing {} as a build context", dir.display()))?;
    tar.into_inner()
        .with_context(|| format!("packing {} as a build context", dir.display()))
}

async fn build(docker: &Docker, tag: &str, base: &str, binary: &[u8]) -> anyhow::Result<()> {
    tracing::info!(target: "faultline::cluster", %tag, %base, "building the node image");
    build_context(docker, tag, base, "node", context_tar(binary)?)
        .await
        .map_err(|(e, _)| e)
}

/// Builds `tag` from a context (`Dockerfile` at its root, `ARG BASE`), labelled
/// `io.faultline.image=<kind>`. On failure, also the build's last lines of output.
pub async fn build_context(
    docker: &Docker,
    tag: &str,
    base: &str,
    kind: &str,
    context: Vec<u8>,
) -> Result<(), (anyhow::Error, Vec<String>)> {
    let buildargs = HashMap::from([("BASE", base)]);
    let labels = HashMap::from([("io.faultline.image", kind)]);
    let options = BuildImageOptionsBuilder::new()
        .dockerfile("Dockerfile")
        .t(tag)
        .buildargs(&buildargs)
        .labels(&labels)
        .rm(true)
        .forcerm(true)
        .build();
    let mut stream = docker.build_image(
        options,
        None,
        Some(bollard::body_full(bytes::Bytes::from(context))),
    );
    let mut last_lines: Vec<String> = Vec::new();
    while let Some(item) = stream.next().await {
        let info = match item.with_context(|| format!("building {tag} over {base}")) {
            Ok(info) => info,
            Err(e) => return Err((e, last_lines)),
        };
        if let Some(detail) = info.error_detail {
            let e = anyhow::anyhow!(
                "building {tag} over {base} failed: {}",
                detail.message.unwrap_or_default()
            );
            return Err((e, last_lines));
        }
        if let Some(line) = info.stream {
            let line = line.trim_end();
            if !line.is_empty() {
                tracing::debug!(target: "faultline::cluster", "build: {line}");
                last_lines.push(line.to_string());
                if last_lines.len() > 10 {
                    last_lines.remove(0);
                }
            }
        }
    }
    Ok(())
}

/// The base: the one asked for; else the local base when present; else the registry base when
/// already pulled; else the local base built now by `build-base.sh`; else the registry base
/// pulled now. Returns how long a local build took.
async fn resolve_base(
    docker: &Docker,
    opts: &BuildOptions,
) -> anyhow::Result<(String, Option<Duration>)> {
    if let Some(base) = &opts.base {
        if !exists(docker, base).await? {
            pull(docker, base).await.with_context(|| {
                format!("the base image {base} is not here and could not be pulled")
            })?;
        }
        return Ok((base.clone(), None));
    }
    if exists(docker, LOCAL_BASE).await? {
        return Ok((LOCAL_BASE.to_string(), None));
    }
    if exists(docker, REGISTRY_BASE).await? {
        return Ok((REGISTRY_BASE.to_string(), None));
    }
    let script = opts
        .docker_dir
        .clone()
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("docker"))
        .join("build-base.sh");
    match build_base(&script).await {
        Ok(took) => return Ok((LOCAL_BASE.to_string(), Some(took))),
        Err(e) => {
            tracing::warn!(target: "faultline::cluster", "{e:#}; trying to pull {REGISTRY_BASE}")
        }
    }
    pull(docker, REGISTRY_BASE).await.with_context(|| {
        format!(
            "no base image: {LOCAL_BASE} could not be built and {REGISTRY_BASE} could not be \
             pulled; run `sudo {}` (Debian's debootstrap, no registry needed), then retry",
            script.display()
        )
    })?;
    Ok((REGISTRY_BASE.to_string(), None))
}

async fn exists(docker: &Docker, image: &str) -> anyhow::Result<bool> {
    match docker.inspect_image(image).await {
        Ok(_) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(e).with_context(|| format!("inspecting image {image}")),
    }
}

async fn build_base(script: &Path) -> anyhow::Result<Duration> {
    if !script.is_file() {
        bail!(
            "{} not found (pass --docker-dir with the repository's docker/ directory)",
            script.display()
        );
    }
    let start = Instant::now();
    tracing::info!(
        target: "faultline::cluster",
        "base image {LOCAL_BASE} missing: building it with {} (about 30 s)",
        script.display()
    );
    let status = tokio::process::Command::new("bash")
        .arg(script)
        .arg(LOCAL_BASE)
        .stdout(std::process::Stdio::null())
        .status()
        .await
        .with_context(|| format!("running {}", script.display()))?;
    if !status.success() {
        bail!("{} failed ({status})", script.display());
    }
    let took = start.elapsed();
    tracing::info!(
        target: "faultline::cluster",
        "built {LOCAL_BASE} in {:.1} s",
        took.as_secs_f64()
    );
    Ok(took)
}

/// Pulls an image, giving up after a minute (a host without a registry may hang on DNS).
async fn pull(docker: &Docker, image: &str) -> anyhow::Result<()> {
    let options = CreateImageOptionsBuilder::new().from_image(image).build();
    let pulling = async {
        let mut stream = docker.create_image(Some(options), None, None);
        while let Some(item) = stream.next().await {
            item.with_context(|| format!("pulling {image}"))?;
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(Duration::from_secs(60), pulling)
        .await
        .with_context(|| format!("pulling {image} timed out after 60 s"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_depends_on_binary_and_base() {
        let a = content_hash(b"binary", "sha256:base1");
        assert_eq!(a.len(), 64);
        assert_eq!(a, content_hash(b"binary", "sha256:base1"));
        assert_ne!(a, content_hash(b"binary2", "sha256:base1"));
        assert_ne!(a, content_hash(b"binary", "sha256:base2"));
    }

    #[test]
    fn the_context_holds_the_dockerfile_and_an_executable_binary() {
        let tar_bytes = context_tar(b"\x7fELF").unwrap();
        let entries = context_entries(&tar_bytes);
        assert_eq!(
            entries,
            vec![("Dockerfile".into(), 0o644), ("faultline".into(), 0o755)]
        );
        assert!(DOCKERFILE.contains("ARG BASE=debian:bookworm-slim"));
    }
}
