//! The fault vocabulary and the executor trait.
//!
//! Faults come in inverse pairs (kill/start, pause/resume, partition/heal, degrade/restore,
//! bump-clock/reset-clocks, remove/add), as in Jepsen and turmoil, so a run can always be brought back to a healthy cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::clock::ClockShift;
use crate::link::{LinkFault, LinkKind};

/// A node's name in the cluster, e.g. `n1`.
pub type NodeName = String;

/// A partition as data: for each node, the set of nodes whose packets it drops.
/// Symmetric partitions list each pair in both directions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grudge(pub BTreeMap<NodeName, BTreeSet<NodeName>>);

/// Executes faults against a real cluster. Implemented in the `faultline` binary over Docker;
/// tests can implement it in memory.
///
/// Every method must return only once the fault is in effect (or has failed): a nemesis that
/// silently failed would make a green test a lie.
pub trait FaultExecutor: Send + Sync {
    type Error: std::error::Error + Send + Sync + 'static;

    /// SIGKILL the nodes' processes; their data survives.
    fn kill(&self, nodes: &[NodeName]) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Start killed nodes again.
    fn start(&self, nodes: &[NodeName]) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Freeze the nodes' processes (cgroup freezer).
    fn pause(&self, nodes: &[NodeName]) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Thaw paused nodes.
    fn resume(&self, nodes: &[NodeName]) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Drop packets as the grudge says, in addition to any partition already in place.
    fn partition(&self, grudge: &Grudge) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Remove every packet-drop rule this executor added (partitions only: link faults stay).
    fn heal(&self) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Degrade links (lose, slow or delay their packets) as the fault says, in addition to any
    /// link fault already in place.
    fn degrade(&self, fault: &LinkFault) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Remove every link fault of this kind that this executor added, and nothing else; a no-op
    /// when none is in place.
    fn restore(&self, kind: LinkKind) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Move the nodes' clocks (as the node's process sees them) by `shift.offset_secs` from real
    /// time and, with a rate, make them run that much faster or slower from now on, replacing
    /// any shift in place.
    fn bump_clock(
        &self,
        nodes: &[NodeName],
        shift: ClockShift,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Put the nodes' clocks back to real time; a no-op where none is shifted.
    fn reset_clocks(
        &self,
        nodes: &[NodeName],
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Take the nodes out of the Raft configuration (they keep running); returns once the
    /// configuration without them is committed.
    fn remove_members(
        &self,
        nodes: &[NodeName],
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Make the nodes voters again: each joins as a learner, catches up, and is promoted.
    /// A no-op for nodes that are voters already, and for a system without membership changes
    /// (nothing can have been removed there).
    fn add_members(
        &self,
        nodes: &[NodeName],
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Replace the nodes one at a time by new nodes with empty volumes (same names and
    /// addresses): out of the configuration, wiped, started to join, caught up, promoted.
    fn replace_members(
        &self,
        nodes: &[NodeName],
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}
