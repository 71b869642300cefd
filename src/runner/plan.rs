//! A validated campaign: everything the phases need, with defaults and overrides applied.

use std::path::PathBuf;
use std::time::Duration;

use nemesis::Schedule;
use workloads::WorkloadConfig;

use super::campaign::Campaign;

#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    /// What is tested.
    pub system: crate::system::SystemSpec,
    pub cluster_name: String,
    pub nodes: u32,
    /// Extra `faultline node` arguments for every node (the campaign's planted bugs).
    pub node_args: Vec<String>,
    pub workload: WorkloadConfig,
    pub concurrency: u32,
    /// Total ops/s; 0 = unlimited.
    pub rate: u32,
    pub duration: Duration,
    pub ops: Option<u64>,
    pub schedule: Schedule,
    /// Fault kinds the campaign asks for (`kill`, `pause`, `partition`).
    pub fault_kinds: Vec<String>,
    /// What the run must cover (apply and observe at least once) to pass: every kind it asks
    /// for, and the modes of `nemesis.require`.
    pub required_coverage: Vec<String>,
    pub quiet: Duration,
    pub client_timeout: Duration,
    pub checker_time_limit: Duration,
    pub checker_memory_mb: u64,
    /// Whether the crash checker runs (`checker.crash`, on by default).
    pub crash_check: bool,
    /// Whether the linearizability checker runs while the run goes (`checker.online`, on by
    /// default; only for workloads checked per key for linearizability).
    pub online_check: bool,
    /// Whether a violation found online ends the run (`checker.stop_on_violation`).
    pub stop_on_violation: bool,
    /// What marks a panic or a fatal error in the system's logs.
    pub crash_markers: Vec<String>,
    pub seed: u64,
    pub out: PathBuf,
    /// The campaign as run (seed filled in), saved next to the results.
    pub campaign: Campaign,
}
