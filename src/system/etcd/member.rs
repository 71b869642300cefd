//! An etcd member's command line, rendered once here for every way a member is started.
//!
//! `ClusterSpec.command` is one command for every container, but each member's flags differ
//! (its name and addresses). So the cluster's containers all run [`container_command`]: the
//! image's entrypoint (`docker/etcd/faultline-etcd-member`) followed by these same flags with
//! placeholders, which the entrypoint fills in from the container's hostname (`n<i>`) and
//! address; [`command`] renders the same flags with the addresses known, for anything that can
//! give each member its own command. Both come from one function, so they cannot drift apart.
//!
//! A killed member is started again with the same command on the same volume: its data dir
//! holds its WAL, and etcd then ignores the `--initial-*` flags and rejoins as itself.

use serde::{Deserialize, Serialize};

use crate::cluster::names;
use crate::cluster::subnet::{node_addr, Subnet};

/// Where members serve clients (the v3 JSON gateway) and each other.
pub const CLIENT_PORT: u16 = 2379;
pub const PEER_PORT: u16 = 2380;
/// etcd's data dir, inside the node's volume (mounted at `/data`).
pub const DATA_DIR: &str = "/data/etcd";
/// The image's entrypoint, which fills in the per-member placeholders.
pub const ENTRYPOINT: &str = "/usr/local/bin/faultline-etcd-member";

/// Raft timings. etcd's defaults (100 ms heartbeats, 1 s election timeout) are what users run;
/// they also survive a loaded 2-core test machine without elections nobody asked for, while a
/// killed or isolated leader is still replaced within a few seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timing {
    pub heartbeat_ms: u32,
    pub election_ms: u32,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            heartbeat_ms: 100,
            election_ms: 1000,
        }
    }
}

impl Timing {
    /// etcd refuses to start unless the election timeout is at least five heartbeats (and at
    /// most 50 s).
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.heartbeat_ms == 0
            || u64::from(self.election_ms) < 5 * u64::from(self.heartbeat_ms)
            || self.election_ms > 50_000
        {
            anyhow::bail!(
                "etcd needs 0 < 5 x heartbeat ({} ms) <= election timeout ({} ms) <= 50000 ms",
                self.heartbeat_ms,
                self.election_ms
            );
        }
        Ok(())
    }
}

/// A cluster of etcd members `n1..=n<nodes>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Members {
    /// The faultline cluster name, also etcd's `--initial-cluster-token`.
    pub cluster: String,
    pub nodes: u64,
    pub timing: Timing,
    /// More etcd flags, appended as given (placeholders work in them too).
    pub extra: Vec<String>,
}

impl Members {
    pub fn new(cluster: impl Into<String>, nodes: u64) -> Members {
        Members {
            cluster: cluster.into(),
            nodes,
            timing: Timing::default(),
            extra: Vec::new(),
        }
    }

    /// The command every container of the cluster runs (`ClusterSpec.command`).
    pub fn container_command(&self) -> Vec<String> {
        let mut command = vec![ENTRYPOINT.to_string(), self.nodes.to_string()];
        command.extend(self.flags("@NAME@", "@IP@", |j| format!("@IP{j}@")));
        command
    }

    /// Member `id`'s own command (`etcd` and its flags) with the cluster in `subnet`.
    pub fn command(&self, id: u64, subnet: &Subnet) -> Vec<String> {
        let mut command = vec!["etcd".to_string()];
        command.extend(
            self.flags(&names::node(id), &node_addr(subnet, id).to_string(), |j| {
                node_addr(subnet, j).to_string()
            }),
        );
        command
    }

    /// etcd's flags for the member called `name` at `ip`, with member `n<j>` at `peer_ip(j)`.
    fn flags(&self, name: &str, ip: &str, peer_ip: impl Fn(u64) -> String) -> Vec<String> {
        let initial_cluster = (1..=self.nodes)
            .map(|j| format!("{}=http://{}:{PEER_PORT}", names::node(j), peer_ip(j)))
            .collect::<Vec<_>>()
            .join(",");
        let mut flags: Vec<String> = [
            ("--name", name.to_string()),
            ("--data-dir", DATA_DIR.to_string()),
            (
                "--listen-client-urls",
                format!("http://0.0.0.0:{CLIENT_PORT}"),
            ),
            (
                "--advertise-client-urls",
                format!("http://{ip}:{CLIENT_PORT}"),
            ),
            ("--listen-peer-urls", format!("http://0.0.0.0:{PEER_PORT}")),
            (
                "--initial-advertise-peer-urls",
                format!("http://{ip}:{PEER_PORT}"),
            ),
            ("--initial-cluster", initial_cluster),
            ("--initial-cluster-state", "new".to_string()),
            ("--initial-cluster-token", self.cluster.clone()),
            ("--heartbeat-interval", self.timing.heartbeat_ms.to_string()),
            ("--election-timeout", self.timing.election_ms.to_string()),
            // Structured logs on stderr, read by `cluster logs` like any node's.
            ("--logger", "zap".to_string()),
            ("--log-outputs", "stderr".to_string()),
        ]
        .into_iter()
        .flat_map(|(flag, value)| [flag.to_string(), value])
        .collect();
        flags.extend(self.extra.iter().cloned());
        flags
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag<'a>(command: &'a [String], name: &str) -> &'a str {
        let i = command
            .iter()
            .position(|a| a == name)
            .unwrap_or_else(|| panic!("no {name} in {command:?}"));
        &command[i + 1]
    }

    #[test]
    fn a_member_gets_its_name_addresses_and_the_whole_cluster() {
        let subnet = Subnet::parse("10.77.3.0/24").unwrap();
        let c = Members::new("t-etcd", 3).command(2, &subnet);
        assert_eq!(c[0], "etcd");
        assert_eq!(flag(&c, "--name"), "n2");
        assert_eq!(flag(&c, "--data-dir"), "/data/etcd");
        assert_eq!(flag(&c, "--listen-client-urls"), "http://0.0.0.0:2379");
        assert_eq!(
            flag(&c, "--advertise-client-urls"),
            "http://10.77.3.12:2379"
        );
        assert_eq!(flag(&c, "--listen-peer-urls"), "http://0.0.0.0:2380");
        assert_eq!(
            flag(&c, "--initial-advertise-peer-urls"),
            "http://10.77.3.12:2380"
        );
        assert_eq!(
            flag(&c, "--initial-cluster"),
            "n1=http://10.77.3.11:2380,n2=http://10.77.3.12:2380,n3=http://10.77.3.13:2380"
        );
        assert_eq!(flag(&c, "--initial-cluster-state"), "new");
        assert_eq!(flag(&c, "--initial-cluster-token"), "t-etcd");
        assert_eq!(flag(&c, "--heartbeat-interval"), "100");
        assert_eq!(flag(&c, "--election-timeout"), "1000");
    }

    #[test]
    fn the_container_command_holds_the_same_flags_with_placeholders() {
        let mut members = Members::new("t-etcd", 3);
        members.extra = vec!["--snapshot-count".into(), "1000".into()];
        let c = members.container_command();
        assert_eq!(&c[..2], &[ENTRYPOINT.to_string(), "3".to_string()]);
        assert_eq!(flag(&c, "--name"), "@NAME@");
        assert_eq!(flag(&c, "--advertise-client-urls"), "http://@IP@:2379");
        assert_eq!(
            flag(&c, "--initial-cluster"),
            "n1=http://@IP1@:2380,n2=http://@IP2@:2380,n3=http://@IP3@:2380"
        );
        assert_eq!(flag(&c, "--snapshot-count"), "1000");

        // Filling the placeholders in as the entrypoint does gives exactly `command`.
        let subnet = Subnet::parse("10.77.9.0/24").unwrap();
        for id in 1..=3 {
            let filled: Vec<String> = c[2..]
                .iter()
                .map(|a| {
                    let mut a = a
                        .replace("@NAME@", &names::node(id))
                        .replace("@IP@", &node_addr(&subnet, id).to_string());
                    for j in 1..=3 {
                        a = a.replace(&format!("@IP{j}@"), &node_addr(&subnet, j).to_string());
                    }
                    a
                })
                .collect();
            assert_eq!(filled, members.command(id, &subnet)[1..], "n{id}");
        }
    }

    #[test]
    fn timings_are_checked_as_etcd_does() {
        Timing::default().validate().unwrap();
        Timing {
            heartbeat_ms: 50,
            election_ms: 250,
        }
        .validate()
        .unwrap();
        for (heartbeat_ms, election_ms) in [(0, 1000), (100, 499), (100, 60_000)] {
            let t = Timing {
                heartbeat_ms,
                election_ms,
            };
            assert!(t.validate().is_err(), "{t:?}");
        }
    }
}
