//! Faults as data: the vocabulary, partitions ("grudges"), seeded schedules, and the trait
//! through which a cluster executes them. No Docker and no HTTP here.
//!
//! - `fault`: the executor trait and [`fault::Grudge`] (the contract with `src/cluster`);
//! - `target`: which nodes a fault hits (`random-node`, `leader`, `minority`, ...);
//! - `clock`: clock faults as data (an offset and a rate);
//! - `link`: link faults as data (loss, bandwidth, delay over a pattern of links);
//! - `partition`: partition patterns as grudge builders (`halves`, `majorities-ring`, `bridge`, ...);
//! - `action`: concrete faults as inverse pairs and their execution, plus the final heal and
//!   the clock strobe;
//! - `schedule`: fault windows generated from a seed, or given explicitly.

pub mod action;
pub mod clock;
pub mod fault;
pub mod link;
pub mod partition;
pub mod schedule;
pub mod target;

pub use action::{heal_all, strobe, Action, HealError};
pub use clock::{ClockRate, ClockShift};
pub use link::{Delay, LinkFault, LinkKind, LinkPattern, Percent, Rate, Shape};
pub use partition::Pattern;
pub use schedule::{FaultSpec, Schedule, ScheduleConfig, Window};
pub use target::Target;

/// Errors while turning a fault description into concrete nodes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("the cluster has no nodes to target")]
    NoNodes,
    #[error("fault targets the leader but no leader is known right now")]
    NoLeader,
    #[error("node {0:?} is not in the cluster (nodes: {1})")]
    UnknownNode(String, String),
    #[error("pattern {pattern} needs at least {min} nodes, the cluster has {have}")]
    TooFewNodes {
        pattern: &'static str,
        min: usize,
        have: usize,
    },
}

/// The smallest majority of `n` nodes.
pub fn majority(n: usize) -> usize {
    n / 2 + 1
}
