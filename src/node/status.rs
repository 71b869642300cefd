//! `GET /status`: this node's view of the cluster, answered locally (never forwarded).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use openraft::ServerState;
use serde::Serialize;

use super::state::AppState;
use super::types::NodeId;

#[derive(Debug, Serialize)]
pub struct Status {
    pub id: NodeId,
    pub role: &'static str,
    pub term: u64,
    pub leader: Option<NodeId>,
    pub last_log_index: u64,
    pub applied_index: u64,
    pub membership: Membership,
    pub nodes: BTreeMap<String, String>,
    /// The node's wall clock, in ms since the Unix epoch: what a clock fault moves.
    pub time_ms: u64,
    /// Snapshots received from a leader and installed since the process started.
    pub snapshots_installed: u64,
}

#[derive(Debug, Serialize)]
pub struct Membership {
    pub voters: Vec<NodeId>,
    pub learners: Vec<NodeId>,
}

pub fn role_name(s: ServerState) -> &'static str {
    match s {
        ServerState::Leader => "leader",
        ServerState::Follower => "follower",
        ServerState::Candidate => "candidate",
        ServerState::Learner => "learner",
        ServerState::Shutdown => "shutdown",
    }
}

pub async fn get_status(State(st): State<AppState>) -> Json<Status> {
    let m = st.raft.metrics().borrow().clone();
    let mem = m.membership_config.membership();
    let snapshots_installed = st
        .sm
        .read()
        .expect("state lock poisoned")
        .snapshots_installed;
    Json(Status {
        id: st.id,
        role: role_name(m.state),
        term: m.current_term,
        leader: m.current_leader,
        last_log_index: m.last_log_index.unwrap_or(0),
        applied_index: m.last_applied.map(|l| l.index).unwrap_or(0),
        membership: Membership {
            voters: mem.voter_ids().collect(),
            learners: mem.learner_ids().collect(),
        },
        nodes: mem
            .nodes()
            .map(|(id, n)| (id.to_string(), n.addr.clone()))
            .collect(),
        time_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        snapshots_installed,
    })
}
