//! The read path: linearizable reads by read-index. The leader confirms with a quorum that it is
//! still the leader and waits until its state machine has applied up to the commit index it had
//! at that moment; only then does it read. Followers never read locally; they forward.
//!
//! Confirmations are batched: one round of `ensure_linearizable` serves every read that was
//! waiting when the round *started* (never one that arrived later), as etcd's read-index does.
//! That keeps one quorum round-trip per batch instead of one per read.
//!
//! Two planted bugs live here (see `bugs.rs`): `stale-read` skips all of it on every node, and
//! `lease-read` skips the quorum confirmation on a node that believes it leads.

use std::time::Duration;

use axum::http::StatusCode;
use openraft::error::{CheckIsLeaderError, RaftError};
use openraft::ServerState;
use tokio::sync::{mpsc, oneshot};

use super::bugs::UnsafeBug;
use super::error::ApiError;
use super::state::{AppState, Local};
use super::types::{NodeId, Raft};

type Waiter = oneshot::Sender<Local<()>>;

/// Handle to the task that runs leadership confirmations for waiting reads.
#[derive(Clone)]
pub struct ReadGate {
    tx: mpsc::UnboundedSender<Waiter>,
}

impl ReadGate {
    pub fn spawn(raft: Raft, id: NodeId, timeout: Duration) -> ReadGate {
        let (tx, mut rx) = mpsc::unbounded_channel::<Waiter>();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while let Ok(w) = rx.try_recv() {
                    batch.push(w);
                }
                let res = confirm(&raft, id, timeout).await;
                for w in batch {
                    let _ = w.send(res.clone());
                }
            }
        });
        ReadGate { tx }
    }
}

pub async fn read_register(st: &AppState, key: &str) -> Local<Option<String>> {
    // PLANTED BUG `stale-read`: whatever this node has applied, leader or not.
    if st.bugs.has(UnsafeBug::StaleRead) {
        return Local::Done(local_read(st, key));
    }
    // PLANTED BUG `lease-read`: believing it leads is taken as proof that it still does, with no
    // quorum round and no bound on how long ago it last heard from one.
    if st.bugs.has(UnsafeBug::LeaseRead) && believes_it_leads(st) {
        return Local::Done(local_read(st, key));
    }
    match linearizable(st).await {
        Local::Done(()) => {
            let sm = st.sm.read().expect("state lock poisoned");
            Local::Done(sm.kv.read(key))
        }
        Local::NotLeader { leader } => Local::NotLeader { leader },
        Local::Err(e) => Local::Err(e),
    }
}

fn local_read(st: &AppState, key: &str) -> Option<String> {
    st.sm.read().expect("state lock poisoned").kv.read(key)
}

/// What this node's own Raft state says, with no quorum asked: a deposed leader behind a
/// partition still says yes.
pub fn believes_it_leads(st: &AppState) -> bool {
    let m = st.raft.metrics();
    let m = m.borrow();
    m.state == ServerState::Leader && m.current_leader == Some(st.id)
}

async fn linearizable(st: &AppState) -> Local<()> {
    let (tx, rx) = oneshot::channel();
    if st.reads.tx.send(tx).is_err() {
        return Local::Err(ApiError::unavailable("the read gate stopped"));
    }
    rx.await
        .unwrap_or_else(|_| Local::Err(ApiError::unavailable("the read gate stopped")))
}

async fn confirm(raft: &Raft, id: NodeId, timeout: Duration) -> Local<()> {
    match tokio::time::timeout(timeout, raft.ensure_linearizable()).await {
        Ok(Ok(_)) => Local::Done(()),
        Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => Local::NotLeader {
            leader: f.leader_node.map(|n| n.addr),
        },
        Ok(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(e)))) => Local::Err(
            ApiError::unavailable(format!("node {id}: cannot confirm leadership: {e}")),
        ),
        Ok(Err(RaftError::Fatal(e))) => Local::Err(ApiError::unavailable(format!(
            "node {id}: raft stopped: {e}"
        ))),
        // A read changes nothing, so failing it is always definite.
        Err(_) => Local::Err(ApiError {
            status: StatusCode::GATEWAY_TIMEOUT,
            error: format!("node {id}: could not confirm leadership within {timeout:?}"),
            definite: true,
            extra: None,
        }),
    }
}
