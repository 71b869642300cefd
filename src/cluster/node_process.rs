//! How a local `faultline node` process is started: one command line for the local test
//! target, the node benchmark and the integration tests, so they cannot drift apart.

use std::fmt::Display;
use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Command, Stdio};

/// One node's command line.
#[derive(Debug, Clone, Copy)]
pub struct NodeProcess<'a> {
    /// The `faultline` binary.
    pub exe: &'a Path,
    pub id: u64,
    /// The address its HTTP API (clients and Raft) listens on.
    pub listen: &'a str,
    /// Every member as `id=addr`, comma-separated (see [`peer_list`]).
    pub peers: &'a str,
    pub data_dir: &'a Path,
    /// Extra arguments (planted bugs, timings).
    pub args: &'a [String],
    /// Start with `--join`: the node is not in the static peer list and waits to be added.
    pub join: bool,
    /// Where its output goes, appended: a restarted node keeps one log.
    pub log: &'a Path,
}

impl NodeProcess<'_> {
    /// The command, ready to spawn, with its output appended to the log.
    pub fn command(&self) -> std::io::Result<Command> {
        let log = File::options().create(true).append(true).open(self.log)?;
        let mut cmd = Command::new(self.exe);
        cmd.arg("node")
            .args(["--id", &self.id.to_string()])
            .args(["--listen", self.listen])
            .args(["--peers", self.peers])
            .arg("--data-dir")
            .arg(self.data_dir)
            .args(self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if self.join {
            cmd.arg("--join");
        }
        Ok(cmd)
    }
}

/// `n` distinct free ports on 127.0.0.1, picked by the OS (the nodes bind them a moment later).
///
/// All `n` listeners stay open until every port is picked: picking one at a time lets the OS
/// hand the same port out twice, and two nodes given one address elect themselves into a
/// cluster that cannot exist.
pub fn free_addrs(n: usize) -> std::io::Result<Vec<SocketAddr>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    listeners.iter().map(TcpListener::local_addr).collect()
}

/// `1=127.0.0.1:7001,2=...`: the static peer list every node of a cluster is given.
pub fn peer_list<A: Display>(nodes: impl IntoIterator<Item = (u64, A)>) -> String {
    nodes
        .into_iter()
        .map(|(id, addr)| format!("{id}={addr}"))
        .collect::<Vec<_>>()
        .join(",")
}
