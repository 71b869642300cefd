//! The ack path: a client write is proposed to Raft and answered only after openraft has
//! committed it on a quorum (each member fsynced it) and applied it here.
//!
//! Writes are batched before Raft: openraft 0.9 waits for each log append's fsync inside its
//! core loop, so one entry per client write would cap throughput at one write per fsync. The
//! batcher proposes everything that queued up while the previous batch was in flight as one
//! entry; each request is still applied in order and acknowledged only after that entry commits
//! and applies.

use std::time::Duration;

use axum::http::StatusCode;
use openraft::error::{ClientWriteError, RaftError};
use openraft::ServerState;
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::error::ApiError;
use super::state::{AppState, Local};
use super::types::{NodeId, Raft, Request, Response};

/// Requests per entry; bounds entry size and the work lost to one failed proposal.
const MAX_BATCH: usize = 512;
/// Batches in flight at once: one accumulates while the other commits.
const IN_FLIGHT: usize = 2;

type Waiter = (Request, oneshot::Sender<Local<Response>>);

#[derive(Clone)]
pub struct WriteBatcher {
    tx: mpsc::UnboundedSender<Waiter>,
}

impl WriteBatcher {
    pub fn spawn(raft: Raft, id: NodeId, timeout: Duration) -> WriteBatcher {
        let (tx, mut rx) = mpsc::unbounded_channel::<Waiter>();
        tokio::spawn(async move {
            let slots = std::sync::Arc::new(Semaphore::new(IN_FLIGHT));
            while let Some(first) = rx.recv().await {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    return;
                };
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(w) => batch.push(w),
                        Err(_) => break,
                    }
                }
                let raft = raft.clone();
                tokio::spawn(async move {
                    propose_batch(&raft, id, timeout, batch).await;
                    drop(permit);
                });
            }
        });
        WriteBatcher { tx }
    }
}

pub async fn propose(st: &AppState, req: Request) -> Local<Response> {
    // Decide here whether to forward, before anything is proposed: once a write is in the
    // batcher, openraft's `ForwardToLeader` no longer proves it was not proposed (see below).
    if let Some(leader) = not_leader(st) {
        return Local::NotLeader { leader };
    }
    let (tx, rx) = oneshot::channel();
    if st.writes.tx.send((req, tx)).is_err() {
        return Local::Err(ApiError::unavailable(
            "the write batcher stopped; nothing was proposed",
        ));
    }
    rx.await.unwrap_or_else(|_| {
        Local::Err(ApiError::indefinite(
            StatusCode::SERVICE_UNAVAILABLE,
            "the write batcher stopped while the write was in flight",
        ))
    })
}

/// `Some(leader address)` when the metrics say this node is not the leader. They lag the core,
/// so a stale "leader" only means openraft refuses below (answered as indefinite), and a stale
/// "not leader" only forwards a request that was never proposed.
fn not_leader(st: &AppState) -> Option<Option<String>> {
    let m = st.raft.metrics();
    let m = m.borrow();
    if m.state == ServerState::Leader {
        return None;
    }
    let leader = m
        .current_leader
        .filter(|l| *l != st.id)
        .and_then(|l| m.membership_config.membership().get_node(&l))
        .map(|n| n.addr.clone());
    Some(leader)
}

async fn propose_batch(raft: &Raft, id: NodeId, timeout: Duration, batch: Vec<Waiter>) {
    let (reqs, waiters): (Vec<Request>, Vec<_>) = batch.into_iter().unzip();
    let n = reqs.len();
    let entry = if n == 1 {
        reqs.into_iter().next().expect("one request")
    } else {
        Request::Batch { reqs }
    };
    let outcome = match tokio::time::timeout(timeout, raft.client_write(entry)).await {
        Ok(Ok(resp)) => match resp.data {
            Response::Batch { resps } if n > 1 && resps.len() == n => {
                for ((_, w), r) in waiters.into_iter().map(|w| ((), w)).zip(resps) {
                    let _ = w.send(Local::Done(r));
                }
                return;
            }
            r if n == 1 => Local::Done(r),
            other => Local::Err(ApiError::indefinite(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("node {id}: a batch of {n} writes applied with an unexpected result {other:?}"),
            )),
        },
        // openraft answers this both when it refused the entry (not the leader any more) and
        // when it appended the entry, lost leadership and had the entry overwritten by the new
        // leader's log. The overwritten entry may still be on another member that a later
        // leader commits, so forwarding the request could apply it twice: the outcome is unknown.
        Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
            Local::Err(ApiError::indefinite(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "node {id}: lost leadership while the write was in flight; it may or may not take effect (new leader: {})",
                    f.leader_node.map_or_else(|| "unknown".to_owned(), |n| n.addr)
                ),
            ))
        }
        Ok(Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e)))) => {
            Local::Err(ApiError::unavailable(e.to_string()))
        }
        // The entry may already be in the log and commit later.
        Ok(Err(RaftError::Fatal(e))) => Local::Err(ApiError::indefinite(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("raft stopped while proposing: {e}"),
        )),
        Err(_) => Local::Err(ApiError::indefinite(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "node {id}: the write was proposed but not committed within {timeout:?}; it may still take effect"
            ),
        )),
    };
    for w in waiters {
        let _ = w.send(outcome.clone());
    }
}
