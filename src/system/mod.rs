//! The systems faultline can test, each an adapter: which image its members run, the command
//! each container starts with, the port clients reach it on, and the client that speaks its
//! protocol (an implementation of [`crate::cluster::client::Client`], which also answers who
//! leads: the member that says it leads in the highest term).
//!
//! - faultline's own openraft node (`crate::node`, spoken to by `cluster::client::HttpClient`);
//! - [`etcd`]: etcd 3.4 (Debian's `etcd-server`) over its v3 JSON gateway.
//!
//! - [`http`]: any image whose nodes answer HTTP, described in the campaign.
//!
//! A campaign names its system in a `system:` section ([`SystemSpec`]). The cluster holds it as
//! a [`NodeSystem`] (what `cluster` needs to know: the container command, the port, the data
//! directory, the status probe) and keeps it in a label on its containers, so later commands
//! (`cluster status`, `fault`, `kv`) know what they talk to; [`connect`] reads it back.
//! `system` builds on `cluster`, never the reverse.

pub mod etcd;
pub mod http;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use serde::{Deserialize, Serialize};
use workloads::{Request, Response};

use crate::cluster::client::{Client, HttpClient, NodeStatus};
use crate::cluster::image::BuildOptions;
use crate::cluster::names::{self, SYSTEM_LABEL};
use crate::cluster::node_system::{Container, NodeSystem, StatusProbe};
use crate::cluster::{Cluster, NodeInfo};

/// What a cluster runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum SystemSpec {
    /// faultline's own openraft key-value node.
    #[default]
    Faultline,
    /// etcd 3.4; `reads: serializable` serves reads from each member's local state.
    Etcd {
        #[serde(default)]
        reads: etcd::Reads,
    },
    /// Any image whose nodes answer HTTP, as the campaign describes it.
    Http(Box<http::HttpSpec>),
}

impl SystemSpec {
    /// The kinds a campaign may name.
    pub const KINDS: &'static [&'static str] = &["faultline", "etcd", "http"];

    /// The systems a command line may name (`--system`): `faultline`, `etcd` or
    /// `etcd-serializable` (etcd whose reads each member serves from its local state).
    pub fn from_name(name: &str) -> Result<SystemSpec, String> {
        match name {
            "faultline" => Ok(SystemSpec::Faultline),
            "etcd" => Ok(SystemSpec::Etcd {
                reads: etcd::Reads::Linearizable,
            }),
            "etcd-serializable" => Ok(SystemSpec::Etcd {
                reads: etcd::Reads::Serializable,
            }),
            other => Err(format!(
                "unknown system {other:?}: use faultline, etcd or etcd-serializable"
            )),
        }
    }

    /// The name [`SystemSpec::from_name`] reads, for the systems it knows.
    pub fn name(&self) -> String {
        match self {
            SystemSpec::Etcd {
                reads: etcd::Reads::Serializable,
            } => "etcd-serializable".into(),
            other => other.kind().into(),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            SystemSpec::Faultline => "faultline",
            SystemSpec::Etcd { .. } => "etcd",
            SystemSpec::Http(_) => "http",
        }
    }

    /// `etcd` or `etcd (serializable reads)`, for messages.
    pub fn describe(&self) -> String {
        match self {
            SystemSpec::Etcd {
                reads: etcd::Reads::Serializable,
            } => "etcd (serializable reads)".into(),
            SystemSpec::Http(h) => format!("{} over http", h.image),
            other => other.kind().into(),
        }
    }

    /// The port each member serves clients on, inside its own network namespace.
    pub fn client_port(&self) -> u16 {
        match self {
            SystemSpec::Faultline => names::NODE_PORT,
            SystemSpec::Etcd { .. } => etcd::member::CLIENT_PORT,
            SystemSpec::Http(h) => h.port,
        }
    }

    /// Where each node's volume is mounted.
    pub fn data_dir(&self) -> &str {
        match self {
            SystemSpec::Http(h) => &h.data_dir,
            _ => names::DATA_DIR,
        }
    }

    /// Extra environment of every container.
    pub fn env(&self) -> &[String] {
        match self {
            SystemSpec::Http(h) => &h.env,
            _ => &[],
        }
    }

    /// What marks a panic or a fatal error in its nodes' logs (the crash checker looks for
    /// them): faultline's panic line (its hook's, or Rust's with a backtrace), Go's panics and
    /// fatal errors for etcd, the campaign's list (or both kinds) for an http system.
    pub fn crash_markers(&self) -> Vec<String> {
        const RUST: &[&str] = &["faultline hit a bug", "panicked at"];
        const GO: &[&str] = &["panic:", "fatal error:"];
        let list: Vec<&str> = match self {
            SystemSpec::Faultline => RUST.to_vec(),
            SystemSpec::Etcd { .. } => GO.to_vec(),
            SystemSpec::Http(h) if !h.crash_markers.is_empty() => {
                return h.crash_markers.clone();
            }
            SystemSpec::Http(_) => ["panicked at", "panic:", "fatal error:"].to_vec(),
        };
        list.into_iter().map(String::from).collect()
    }

    /// Whether its client can write a register and read it back (the recovery check's write):
    /// every system but an http one whose campaign describes no `read` or `write`.
    pub fn reads_and_writes_registers(&self) -> bool {
        match self {
            SystemSpec::Http(h) => h.operations.read.is_some() && h.operations.write.is_some(),
            _ => true,
        }
    }

    /// Whether the nodes take clock faults (libfaketime preloaded into a dynamically linked
    /// process), or why not.
    pub fn clock_faults(&self) -> Result<(), String> {
        clock_faults(self.kind())
    }

    /// Whether its members can be planted with faultline's bugs (`--unsafe-bug`).
    pub fn takes_planted_bugs(&self) -> bool {
        matches!(self, SystemSpec::Faultline)
    }

    /// The image its members run, built when missing.
    pub async fn image(&self, docker: &Docker, build: &BuildOptions) -> anyhow::Result<String> {
        match self {
            SystemSpec::Faultline => {
                let built = crate::cluster::image::ensure(docker, build).await?;
                tracing::info!(target: "faultline::cluster", image = %built.tag, built = built.built, "node image ready in {:.1}s", built.elapsed.as_secs_f64());
                Ok(built.tag)
            }
            SystemSpec::Etcd { .. } => etcd::image::ensure(docker, build.base.clone()).await,
            SystemSpec::Http(h) => h.ensure_image(docker).await,
        }
    }

    /// The entrypoint and command of `node`'s container, or `None` for faultline's node,
    /// whose command the cluster writes itself.
    pub fn container(
        &self,
        cluster: &str,
        node: &NodeInfo,
        nodes: &[NodeInfo],
    ) -> Option<Container> {
        match self {
            SystemSpec::Faultline => None,
            SystemSpec::Etcd { .. } => {
                let members = etcd::Members::new(cluster, nodes.len() as u64);
                Some((Some(members.container_command()), None))
            }
            SystemSpec::Http(h) => Some((
                h.entrypoint.clone(),
                Some(h.node_command(cluster, node, nodes)),
            )),
        }
    }

    /// Its client: `timeout` bounds each request.
    pub fn client(&self, timeout: Duration) -> anyhow::Result<SystemClient> {
        Ok(match self {
            SystemSpec::Faultline => SystemClient::Faultline(HttpClient::new(timeout)?),
            SystemSpec::Etcd { reads } => {
                SystemClient::Etcd(etcd::EtcdClient::new(timeout, *reads)?)
            }
            SystemSpec::Http(h) => {
                SystemClient::Http(http::client::HttpSystemClient::new(h, timeout)?)
            }
        })
    }

    /// The spec as the cluster holds it.
    pub fn shared(self) -> Arc<dyn NodeSystem> {
        Arc::new(self)
    }

    /// The spec of a cluster's system, when it is one of faultline's (it always is, unless a
    /// Rust user brought their own [`NodeSystem`]).
    pub fn of(system: &dyn NodeSystem) -> Option<&SystemSpec> {
        system.as_any().downcast_ref()
    }

    /// The label value: the spec as JSON.
    pub fn label(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| r#"{"kind":"faultline"}"#.into())
    }

    /// A spec read back from its label; a cluster from before systems had labels runs faultline.
    pub fn from_label(label: Option<&String>) -> anyhow::Result<SystemSpec> {
        match label {
            None => Ok(SystemSpec::Faultline),
            Some(text) => serde_json::from_str(text)
                .map_err(|e| anyhow::anyhow!("the cluster's {SYSTEM_LABEL} label {text:?}: {e}")),
        }
    }
}

/// The client of whichever system a cluster runs.
#[derive(Clone)]
pub enum SystemClient {
    Faultline(HttpClient),
    Etcd(etcd::EtcdClient),
    Http(http::client::HttpSystemClient),
}

impl Client for SystemClient {
    async fn call(&self, addr: SocketAddr, request: &Request) -> Response {
        match self {
            SystemClient::Faultline(c) => c.call(addr, request).await,
            SystemClient::Etcd(c) => c.call(addr, request).await,
            SystemClient::Http(c) => c.call(addr, request).await,
        }
    }

    async fn status(&self, addr: SocketAddr) -> Result<NodeStatus, String> {
        match self {
            SystemClient::Faultline(c) => c.status(addr).await,
            SystemClient::Etcd(c) => c.status(addr).await,
            SystemClient::Http(c) => c.status(addr).await,
        }
    }
}

/// The existing cluster called `name`, whatever system it runs.
pub async fn connect(name: &str) -> anyhow::Result<Cluster> {
    Cluster::connect(name, &|label| Ok(SystemSpec::from_label(label)?.shared())).await
}

/// Whether nodes of this system kind take clock faults (libfaketime preloaded into a dynamically
/// linked process that reads the clock through libc), or why not.
pub fn clock_faults(kind: &str) -> Result<(), String> {
    match kind {
        "faultline" => Ok(()),
        "etcd" => Err("etcd is a Go binary, which reads the clock without libc: a preloaded libfaketime has no effect on it".into()),
        _ => Err(format!("a {kind} system's image does not preload faultline's libfaketime (only faultline's own node image does)")),
    }
}

/// Whether a kind of system takes membership faults (`remove`, `replace`), or why not.
pub fn membership_changes(kind: &str) -> Result<(), String> {
    match kind {
        "faultline" => Ok(()),
        "etcd" => Err(
            "faultline does not drive etcd's member API (member add/remove with \
                       --initial-cluster-state existing) yet"
                .into(),
        ),
        _ => Err(format!(
            "a {kind} system describes no way to add or remove members (only faultline's own \
             node does)"
        )),
    }
}

impl NodeSystem for SystemSpec {
    fn membership(&self) -> Result<(), String> {
        membership_changes(self.kind())
    }

    fn kind(&self) -> &'static str {
        SystemSpec::kind(self)
    }

    fn describe(&self) -> String {
        SystemSpec::describe(self)
    }

    fn label(&self) -> String {
        SystemSpec::label(self)
    }

    fn client_port(&self) -> u16 {
        SystemSpec::client_port(self)
    }

    fn data_dir(&self) -> &str {
        SystemSpec::data_dir(self)
    }

    fn env(&self) -> &[String] {
        SystemSpec::env(self)
    }

    fn container(&self, cluster: &str, node: &NodeInfo, nodes: &[NodeInfo]) -> Option<Container> {
        SystemSpec::container(self, cluster, node, nodes)
    }

    fn prober(&self, timeout: Duration) -> anyhow::Result<Box<dyn StatusProbe>> {
        Ok(Box::new(self.client(timeout)?))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_read_from_campaign_yaml_and_round_trip_through_labels() {
        let etcd: SystemSpec = serde_yaml::from_str("{kind: etcd, reads: serializable}").unwrap();
        assert_eq!(
            etcd,
            SystemSpec::Etcd {
                reads: etcd::Reads::Serializable
            }
        );
        assert_eq!(SystemSpec::from_label(Some(&etcd.label())).unwrap(), etcd);
        let plain: SystemSpec = serde_yaml::from_str("{kind: etcd}").unwrap();
        assert_eq!(plain.client_port(), 2379);
        assert_eq!(SystemSpec::from_label(None).unwrap(), SystemSpec::Faultline);
        let e = serde_yaml::from_str::<SystemSpec>("{kind: etcd, raeds: serializable}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("raeds"), "{e}");
        let e = serde_yaml::from_str::<SystemSpec>("{kind: mongodb}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("mongodb"), "{e}");
    }
}
