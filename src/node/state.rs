//! What every HTTP handler shares.

use std::sync::Arc;
use std::time::Duration;

use super::state_machine::SharedState;
use super::types::{NodeId, Raft};

#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

pub struct Inner {
    pub id: NodeId,
    pub raft: Raft,
    pub sm: SharedState,
    pub client_timeout: Duration,
    /// For forwarding client requests to the leader.
    pub http: reqwest::Client,
    pub reads: super::read::ReadGate,
    pub writes: super::write::WriteBatcher,
    /// Keeps this node from standing for election while a snapshot from the leader arrives.
    pub election_hold: super::election_hold::ElectionHold,
    /// Planted bugs (`--unsafe-bug`); empty unless asked for.
    pub bugs: super::bugs::Bugs,
    /// The leader lease of the planted bug `clock-lease`; `None` without it.
    pub clock_lease: Option<Arc<super::read::ClockLease>>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// The outcome of trying an operation on this node.
#[derive(Clone)]
pub enum Local<T> {
    Done(T),
    /// This node is not the leader; nothing was proposed. `leader` is the address to forward to.
    NotLeader {
        leader: Option<String>,
    },
    Err(super::error::ApiError),
}
