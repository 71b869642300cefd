//! Clock faults: libfaketime is preloaded into faultline's node (the node image installs it; a
//! cluster started for clock faults preloads it through the containers' environment, see
//! `ClusterSpec::clock_faults`) and reads a control file in the container,
//! `/etc/faultline-clock`, at most once a second. Writing `+30s` there moves the node's wall
//! clock (as its process sees it) 30 s ahead of the host's; `+0s` puts it back. The monotonic
//! clock is left alone, as a real clock step (NTP, `settimeofday`) leaves it: faking it would
//! make it run backwards when a bump is undone, which no kernel does and which runtimes assert
//! against (openraft aborts a node on it; a demo run showed exactly that). The host's clock, and every other container's, is untouched. The file is written and
//! read back through Docker's archive API, which works on running, paused and stopped containers
//! alike (a stopped node comes back with its clock as the file says).

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::OnceLock;

use bollard::query_parameters::{
    DownloadFromContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
use futures::future::try_join_all;
use futures::StreamExt;
use nemesis::fault::NodeName;

use super::faults::{DockerFaults, FaultError};
use super::NodeInfo;

/// The control file libfaketime reads (`FAKETIME_TIMESTAMP_FILE`).
pub const CONTROL_DIR: &str = "/etc";
pub const CONTROL_NAME: &str = "faultline-clock";
/// libfaketime's thread-safe build, as Debian's `libfaketime` installs it.
pub const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

/// The environment that preloads libfaketime and points it at the control file. Without the
/// file (a fresh node) it fakes nothing.
pub fn preload_env() -> &'static [String] {
    static ENV: OnceLock<Vec<String>> = OnceLock::new();
    ENV.get_or_init(|| {
        vec![
            format!("LD_PRELOAD={LIBFAKETIME}"),
            format!("FAKETIME_TIMESTAMP_FILE={CONTROL_DIR}/{CONTROL_NAME}"),
            "FAKETIME_CACHE_DURATION=1".into(),
            // Wall clock only: see the module's comment.
            "FAKETIME_DONT_FAKE_MONOTONIC=1".into(),
        ]
    })
}

/// What the control file holds for an offset: `+30s`, `-90s`, `+0s`.
pub fn spec(offset_secs: i64) -> String {
    format!("{offset_secs:+}s")
}

/// The offset a control file says, in seconds (`None` for anything faultline did not write).
pub fn parse_spec(text: &str) -> Option<i64> {
    text.trim().strip_suffix('s')?.parse().ok()
}

impl DockerFaults {
    fn clock_err(op: &'static str, node: &NodeInfo, message: String) -> FaultError {
        FaultError::Failed {
            op,
            node: node.name.clone(),
            message,
        }
    }

    /// Writes the control file through the archive API, then reads it back.
    async fn write_clock(
        &self,
        op: &'static str,
        node: &NodeInfo,
        offset_secs: i64,
    ) -> Result<(), FaultError> {
        let text = format!("{}\n", spec(offset_secs));
        let tar = super::image::tar_of(&[(CONTROL_NAME, text.as_bytes(), 0o644)])
            .map_err(|e| Self::clock_err(op, node, format!("{e:#}")))?;
        let options = UploadToContainerOptionsBuilder::new()
            .path(CONTROL_DIR)
            .build();
        self.cluster
            .docker()
            .upload_to_container(
                &node.container,
                Some(options),
                bollard::body_full(tar.into()),
            )
            .await
            .map_err(|e| {
                Self::clock_err(
                    op,
                    node,
                    format!("writing {CONTROL_DIR}/{CONTROL_NAME}: {e}"),
                )
            })?;
        match self.read_clock(node).await {
            Ok(Some(read)) if read == offset_secs => Ok(()),
            Ok(other) => Err(Self::clock_err(
                op,
                node,
                format!(
                    "{CONTROL_DIR}/{CONTROL_NAME} reads back {other:?}, not {}",
                    spec(offset_secs)
                ),
            )),
            Err(e) => Err(Self::clock_err(op, node, e)),
        }
    }

    /// The offset in the node's control file; `None` when there is none (never shifted).
    pub(super) async fn read_clock(&self, node: &NodeInfo) -> Result<Option<i64>, String> {
        let path = format!("{CONTROL_DIR}/{CONTROL_NAME}");
        let options = DownloadFromContainerOptionsBuilder::new()
            .path(&path)
            .build();
        let mut stream = self
            .cluster
            .docker()
            .download_from_container(&node.container, Some(options));
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(b) => bytes.extend_from_slice(&b),
                Err(e) if super::docker::is_not_found(&e) => return Ok(None),
                Err(e) => return Err(format!("reading {path} of {}: {e}", node.name)),
            }
        }
        let mut archive = tar::Archive::new(bytes.as_slice());
        let mut entries = archive
            .entries()
            .map_err(|e| format!("reading {path} of {}: {e}", node.name))?;
        let Some(entry) = entries.next() else {
            return Ok(None);
        };
        let mut text = String::new();
        entry
            .and_then(|mut e| e.read_to_string(&mut text))
            .map_err(|e| format!("reading {path} of {}: {e}", node.name))?;
        parse_spec(&text).map(Some).ok_or_else(|| {
            format!(
                "{path} of {} holds {text:?}, which faultline did not write",
                node.name
            )
        })
    }

    /// Whether the node's container preloads libfaketime (it was started for clock faults).
    pub async fn clock_preloaded(&self, node: &NodeInfo) -> Result<bool, String> {
        let want = &preload_env()[0];
        let env = self
            .cluster
            .docker()
            .inspect_container(&node.container, None)
            .await
            .map_err(|e| format!("inspecting {}: {e}", node.container))?
            .config
            .and_then(|c| c.env)
            .unwrap_or_default();
        Ok(env.iter().any(|e| e == want))
    }

    pub(super) async fn bump_clocks(
        &self,
        nodes: &[NodeName],
        offset_secs: i64,
    ) -> Result<(), FaultError> {
        let nodes = self.resolve(nodes)?;
        // A node without the preload would ignore the file: refuse rather than pretend.
        for n in &nodes {
            match self.clock_preloaded(n).await {
                Ok(true) => {}
                Ok(false) => {
                    return Err(Self::clock_err(
                        "clock",
                        n,
                        "the node was started without libfaketime preloaded; start the cluster \
                             with `faultline cluster up --clock-faults` (a campaign with clock \
                             faults does this itself)"
                            .to_string(),
                    ))
                }
                Err(e) => return Err(Self::clock_err("clock", n, e)),
            }
        }
        try_join_all(
            nodes
                .iter()
                .map(|n| self.write_clock("clock", n, offset_secs)),
        )
        .await?;
        tracing::info!(target: "faultline::nemesis", cluster = %self.cluster.name(), "clock {} on {}", spec(offset_secs), nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>().join(","));
        Ok(())
    }

    /// Puts the clocks back (`+0s`) where a shift is in place; nodes never shifted are left
    /// alone.
    pub(super) async fn reset_clock_files(&self, nodes: &[NodeName]) -> Result<(), FaultError> {
        let nodes = self.resolve(nodes)?;
        try_join_all(nodes.iter().map(|n| async move {
            match self.read_clock(n).await {
                Ok(None) | Ok(Some(0)) => Ok(()),
                Ok(Some(_)) => self.write_clock("reset-clock", n, 0).await,
                // Something else in the file: overwrite it with the real time, verified.
                Err(_) => self.write_clock("reset-clock", n, 0).await,
            }
        }))
        .await?;
        Ok(())
    }

    /// Every shifted clock, read back from the nodes' control files; unreadable ones as messages.
    pub async fn active_clocks(&self) -> (BTreeMap<NodeName, i64>, Vec<String>) {
        let reads = self
            .cluster
            .nodes()
            .iter()
            .map(|n| async move { (n.name.clone(), self.read_clock(n).await) });
        let mut clocks = BTreeMap::new();
        let mut unreadable = Vec::new();
        for (name, read) in futures::future::join_all(reads).await {
            match read {
                Ok(Some(offset)) if offset != 0 => {
                    clocks.insert(name, offset);
                }
                Ok(_) => {}
                Err(e) => unreadable.push(e),
            }
        }
        (clocks, unreadable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_file_specs_round_trip() {
        assert_eq!(spec(30), "+30s");
        assert_eq!(spec(-90), "-90s");
        assert_eq!(spec(0), "+0s");
        for offset in [30, -90, 0, 86_400] {
            assert_eq!(parse_spec(&format!("{}\n", spec(offset))), Some(offset));
        }
        assert_eq!(parse_spec("@2020-01-01 00:00:00"), None);
        let env = preload_env();
        assert!(env[0].starts_with("LD_PRELOAD=") && env[0].ends_with("libfaketimeMT.so.1"));
        assert_eq!(env[1], "FAKETIME_TIMESTAMP_FILE=/etc/faultline-clock");
        assert!(env.contains(&"FAKETIME_DONT_FAKE_MONOTONIC=1".to_string()));
    }
}
