//! `faultline node` run arguments, validated into a [`NodeConfig`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::bugs::{Bugs, UnsafeBug};
use super::types::NodeId;
use crate::exit::bad_input;

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// This node's id (its entry in --peers is its own Raft address).
    #[arg(long)]
    pub id: Option<NodeId>,
    /// Address to serve the client API and Raft RPCs on.
    #[arg(long, default_value = "0.0.0.0:7000")]
    pub listen: String,
    /// The static initial cluster: `1=10.0.0.11:7000,2=10.0.0.12:7000,...` (optional with --join).
    #[arg(long)]
    pub peers: Option<String>,
    /// Where the log, vote, committed index and snapshots live.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Start empty and wait to be added with `POST /cluster/add` instead of forming the
    /// cluster from --peers.
    #[arg(long)]
    pub join: bool,
    /// Build a snapshot (and purge the log before it) every N applied entries.
    #[arg(long, default_value_t = 5000)]
    pub snapshot_every: u64,
    /// Log entries kept behind a snapshot, so a briefly lagging follower catches up by entries.
    #[arg(long, default_value_t = 1000)]
    pub snapshot_keep: u64,
    /// Leader heartbeat period.
    #[arg(long, default_value_t = 100)]
    pub heartbeat_ms: u64,
    /// Lower bound of the randomised election timeout.
    #[arg(long, default_value_t = 400)]
    pub election_min_ms: u64,
    /// Upper bound of the randomised election timeout.
    #[arg(long, default_value_t = 800)]
    pub election_max_ms: u64,
    /// How long a client write or read may wait for Raft before answering 504.
    #[arg(long, default_value_t = 5000)]
    pub client_timeout_ms: u64,
    /// Plant a consensus bug (repeatable). Each one breaks safety on purpose, to prove the
    /// harness catches it; never use it for anything else.
    #[arg(long = "unsafe-bug", value_enum, value_name = "BUG")]
    pub unsafe_bug: Vec<UnsafeBug>,
}

#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub id: NodeId,
    pub listen: String,
    pub peers: BTreeMap<NodeId, String>,
    pub data_dir: PathBuf,
    pub join: bool,
    pub snapshot_every: u64,
    pub snapshot_keep: u64,
    pub heartbeat_ms: u64,
    pub election_min_ms: u64,
    pub election_max_ms: u64,
    pub client_timeout: Duration,
    pub bugs: Bugs,
}

impl RunArgs {
    pub fn validate(self) -> anyhow::Result<NodeConfig> {
        let id = self.id.ok_or_else(|| {
            bad_input("--id is required to run a node (or use `node inspect DIR`)")
        })?;
        let data_dir = self
            .data_dir
            .ok_or_else(|| bad_input("--data-dir is required"))?;
        // A joining node learns the cluster from the leader that adds it.
        let peers = match (&self.peers, self.join) {
            (Some(p), _) => parse_peers(p)?,
            (None, true) => BTreeMap::new(),
            (None, false) => return Err(bad_input(
                "--peers is required, e.g. --peers 1=10.0.0.11:7000,2=10.0.0.12:7000 (or --join)",
            )),
        };
        if !self.join && !peers.contains_key(&id) {
            return Err(bad_input(format!(
                "--peers has no entry for this node's id {id}: add {id}=HOST:PORT (its own Raft address)"
            )));
        }
        if self.election_min_ms <= self.heartbeat_ms || self.election_max_ms <= self.election_min_ms
        {
            return Err(bad_input(format!(
                "election timeouts must satisfy heartbeat < min < max (got {} < {} < {})",
                self.heartbeat_ms, self.election_min_ms, self.election_max_ms
            )));
        }
        if self.snapshot_every == 0 {
            return Err(bad_input("--snapshot-every must be at least 1"));
        }
        Ok(NodeConfig {
            id,
            listen: self.listen,
            peers,
            data_dir,
            join: self.join,
            snapshot_every: self.snapshot_every,
            snapshot_keep: self.snapshot_keep,
            heartbeat_ms: self.heartbeat_ms,
            election_min_ms: self.election_min_ms,
            election_max_ms: self.election_max_ms,
            client_timeout: Duration::from_millis(self.client_timeout_ms),
            bugs: Bugs::from_list(&self.unsafe_bug),
        })
    }
}

pub fn parse_peers(s: &str) -> anyhow::Result<BTreeMap<NodeId, String>> {
    let mut out: BTreeMap<NodeId, String> = BTreeMap::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, addr) = part
            .split_once('=')
            .ok_or_else(|| bad_input(format!("--peers entry `{part}` is not ID=HOST:PORT")))?;
        let id: NodeId = id
            .trim()
            .parse()
            .map_err(|_| bad_input(format!("--peers entry `{part}`: `{id}` is not a node id")))?;
        let addr = addr.trim();
        if !addr.contains(':') {
            return Err(bad_input(format!(
                "--peers entry `{part}`: `{addr}` has no port"
            )));
        }
        // Two ids on one address would make a node vote for itself as another member.
        if let Some((other, _)) = out.iter().find(|(_, a)| a.as_str() == addr) {
            return Err(bad_input(format!(
                "--peers gives nodes {other} and {id} the same address {addr}: each node needs its own"
            )));
        }
        if out.insert(id, addr.to_owned()).is_some() {
            return Err(bad_input(format!("--peers names node {id} twice")));
        }
    }
    if out.is_empty() {
        return Err(bad_input("--peers is empty"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_parse_and_reject_garbage() {
        let p = parse_peers("1=10.0.0.11:7000, 2=10.0.0.12:7000").unwrap();
        assert_eq!(p[&2], "10.0.0.12:7000");
        assert!(parse_peers("1=a:1,1=b:2").is_err());
        let shared = parse_peers("1=a:1,2=b:2,3=b:2").unwrap_err().to_string();
        assert!(
            shared.contains("nodes 2 and 3 the same address b:2"),
            "{shared}"
        );
        assert!(parse_peers("x=a:1").is_err());
        assert!(parse_peers("1=nohost").is_err());
        assert!(parse_peers("").is_err());
    }
}
