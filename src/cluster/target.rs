//! What the runner needs from a cluster. The Docker cluster implements it (in `src/cluster`);
//! `local` implements it over `faultline node` processes on 127.0.0.1.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use nemesis::fault::{FaultExecutor, NodeName};

/// How a node's process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exited {
    /// Its exit code (a signal `s` shows as `128 + s`, as a shell says), when known.
    pub code: Option<i64>,
    /// The last lines of its log, oldest first.
    pub last_lines: Vec<String>,
}

/// How many log lines an [`Exited`] carries.
pub const LAST_LINES: usize = 5;

/// A running cluster under test: its nodes, who leads, its logs, and its end. Faults come from
/// [`FaultExecutor`], whose methods must return only once the fault is in effect.
pub trait TestTarget: FaultExecutor + 'static {
    /// Every node's name (`n1`..) and the address clients reach its HTTP API on, in name order.
    fn nodes(&self) -> Vec<(NodeName, SocketAddr)>;

    /// The node the cluster currently agrees is leader, or `None` during an election.
    fn leader(&self) -> impl Future<Output = anyhow::Result<Option<NodeName>>> + Send;

    /// Whether the node's process (container) is running; a paused node is still running.
    /// Fault coverage uses it to observe that a kill took effect.
    fn is_running(&self, node: &NodeName) -> impl Future<Output = anyhow::Result<bool>> + Send;

    /// How the node's process ended, when it is not running (`None` while it runs or is
    /// paused). The crash checker asks it of nodes the nemesis did not kill.
    fn exited(
        &self,
        node: &NodeName,
    ) -> impl Future<Output = anyhow::Result<Option<Exited>>> + Send;

    /// Writes each node's log into `dir` and returns the files written.
    fn collect_logs(&self, dir: &Path)
        -> impl Future<Output = anyhow::Result<Vec<PathBuf>>> + Send;

    /// Removes the cluster and everything it created. Must be safe to call after a failed setup.
    fn teardown(&self) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// What to call the cluster in messages ("docker cluster smoke", "3 local nodes").
    fn describe(&self) -> String;
}
