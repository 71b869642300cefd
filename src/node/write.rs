//! The ack path: a client write is proposed to Raft and answered only after openraft has
//! committed it on a quorum (each member fsynced it) and applied it here.
//!
//! Writes are batched before Raft: openraft 0.9 waits for each log append's fsync inside its
//! core loop, so one entry per client write would cap throughput at one write per fsync. The
//! batcher proposes everything that queued up while the previous batch was in flight as one
//! entry; each request is still applied in order and acknowledged only after that entry commits
//! and applies.
//!
//! Every write is measured first: one whose command is over `limits::MAX_COMMAND_BYTES` as JSON
//! is refused (413), and a batch grows only up to that size, so no entry outgrows the body
//! limit of the followers' `/raft/append` route.
//!
//! Three planted bugs live here (see `bugs.rs`): `early-ack` answers a blind write once the entry
//! is in the leader's own log, `racy-cas` splits cas into a read and a separate put, and
//! `split-txn` splits a transaction into its reads and, in a separate entry, its appends.

use std::time::Duration;

use axum::http::StatusCode;
use openraft::error::{ClientWriteError, RaftError};
use openraft::ServerState;
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::bugs::UnsafeBug;
use super::error::ApiError;
use super::kv::KvData;
use super::limits::MAX_COMMAND_BYTES;
use super::read;
use super::state::{AppState, Local};
use super::types::{MicroOp, NodeId, Raft, Request, Response};

/// Requests per entry; bounds the work lost to one failed proposal (its bytes are bounded by
/// `MAX_COMMAND_BYTES`).
const MAX_BATCH: usize = 512;
/// Batches in flight at once: one accumulates while the other commits.
const IN_FLIGHT: usize = 2;

struct Waiter {
    req: Request,
    /// `req.encoded_len()`, measured once on the way in.
    len: usize,
    tx: oneshot::Sender<Local<Response>>,
}

#[derive(Clone)]
pub struct WriteBatcher {
    tx: mpsc::UnboundedSender<Waiter>,
}

impl WriteBatcher {
    pub fn spawn(raft: Raft, id: NodeId, timeout: Duration) -> WriteBatcher {
        let (tx, mut rx) = mpsc::unbounded_channel::<Waiter>();
        tokio::spawn(async move {
            let slots = std::sync::Arc::new(Semaphore::new(IN_FLIGHT));
            // A write that did not fit in the previous batch leads the next one.
            let mut carried = None;
            loop {
                let first = match carried.take() {
                    Some(w) => w,
                    None => match rx.recv().await {
                        Some(w) => w,
                        None => return,
                    },
                };
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    return;
                };
                let (batch, rest) = fill_batch(first, &mut rx);
                carried = rest;
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

/// Adds the writes queued behind `first` while the batch stays within [`MAX_BATCH`] writes and
/// [`MAX_COMMAND_BYTES`]; returns the batch and the first write that did not fit, if any.
fn fill_batch(
    first: Waiter,
    rx: &mut mpsc::UnboundedReceiver<Waiter>,
) -> (Vec<Waiter>, Option<Waiter>) {
    let mut bytes = Request::EMPTY_BATCH_LEN + Request::batched_len(first.len);
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        let Ok(w) = rx.try_recv() else { break };
        bytes += Request::batched_len(w.len);
        if bytes > MAX_COMMAND_BYTES {
            return (batch, Some(w));
        }
        batch.push(w);
    }
    (batch, None)
}

/// Refuses a write whose command would be over [`MAX_COMMAND_BYTES`] in the log: replicated, it
/// would be refused by the followers, which would then depose the leader.
fn check_size(req: &Request) -> Result<usize, ApiError> {
    let len = req.encoded_len();
    if len > MAX_COMMAND_BYTES {
        return Err(ApiError::too_large(
            format!(
                "the write takes {len} bytes as JSON in the replicated log, over the limit of \
                 {MAX_COMMAND_BYTES} (a control character takes 6 bytes there, a quote or \
                 backslash 2); nothing was proposed"
            ),
            MAX_COMMAND_BYTES,
        ));
    }
    Ok(len)
}

pub async fn propose(st: &AppState, req: Request) -> Local<Response> {
    let len = match check_size(&req) {
        Ok(len) => len,
        Err(e) => return Local::Err(e),
    };
    if st.bugs.has(UnsafeBug::RacyCas) {
        if let Request::Cas { key, from, to } = req {
            return racy_cas(st, key, from, to).await;
        }
    }
    if st.bugs.has(UnsafeBug::SplitTxn) {
        if let Request::Txn { ops } = &req {
            let is_read = |op: &MicroOp| matches!(op, MicroOp::R { .. } | MicroOp::Get { .. });
            if ops.iter().any(is_read) && !ops.iter().all(is_read) {
                let Request::Txn { ops } = req else {
                    unreachable!("matched above")
                };
                return split_txn(st, ops).await;
            }
        }
    }
    if st.bugs.has(UnsafeBug::EarlyAck) && is_blind(&req) && read::believes_it_leads(st) {
        return early_ack(st, req).await;
    }
    batched(st, req, len).await
}

async fn batched(st: &AppState, req: Request, len: usize) -> Local<Response> {
    // Decide here whether to forward, before anything is proposed: once a write is in the
    // batcher, openraft's `ForwardToLeader` no longer proves it was not proposed (see below).
    if let Some(leader) = not_leader(st) {
        return Local::NotLeader { leader };
    }
    let (tx, rx) = oneshot::channel();
    if st.writes.tx.send(Waiter { req, len, tx }).is_err() {
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

/// Writes whose answer does not depend on the state they apply to: a put, or a transaction of
/// appends only.
fn is_blind(req: &Request) -> bool {
    match req {
        Request::Put { .. } => true,
        Request::Txn { ops } => ops
            .iter()
            .all(|op| matches!(op, MicroOp::Append { .. } | MicroOp::W { .. })),
        Request::Cas { .. } | Request::Batch { .. } => false,
    }
}

/// PLANTED BUG `early-ack`: propose, wait only until this node's own log holds a new entry, and
/// answer success, while the quorum round (which may never complete) carries on unobserved.
async fn early_ack(st: &AppState, req: Request) -> Local<Response> {
    let mut metrics = st.raft.metrics();
    let before = metrics.borrow().last_log_index;
    // A blind write's answer is the same whatever state it meets.
    let answer = KvData::default().apply(&req);
    let committed = match st.raft.client_write_ff(req).await {
        Ok(rx) => rx,
        Err(e) => return Local::Err(ApiError::unavailable(format!("raft stopped: {e}"))),
    };
    tokio::spawn(async move {
        let _ = committed.await;
    });
    let in_own_log = async {
        loop {
            if metrics.borrow_and_update().last_log_index > before {
                return true;
            }
            if metrics.changed().await.is_err() {
                return false;
            }
        }
    };
    match tokio::time::timeout(st.client_timeout, in_own_log).await {
        Ok(true) => Local::Done(answer),
        _ => Local::Err(ApiError::indefinite(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "node {}: the write did not reach the local log in time",
                st.id
            ),
        )),
    }
}

/// PLANTED BUG `racy-cas`: compare on a (linearizable) read, then store with a separate put;
/// another write can land between the two.
async fn racy_cas(st: &AppState, key: String, from: Option<String>, to: String) -> Local<Response> {
    match read::read_register(st, &key).await {
        Local::Done(current) if current != from => Local::Done(Response::CasMismatch { current }),
        Local::Done(_) => {
            let put = Request::Put { key, value: to };
            let len = put.encoded_len();
            batched(st, put, len).await
        }
        Local::NotLeader { leader } => Local::NotLeader { leader },
        Local::Err(e) => Local::Err(e),
    }
}

/// PLANTED BUG `split-txn`: the transaction's reads go through Raft as one entry, its appends
/// and writes as another; the answers are put back in the transaction's order. Appends of other transactions
/// committed between the two entries are missed by the reads, and the reads miss the
/// transaction's own appends.
async fn split_txn(st: &AppState, ops: Vec<MicroOp>) -> Local<Response> {
    let (reads, appends): (Vec<MicroOp>, Vec<MicroOp>) = ops
        .iter()
        .cloned()
        .partition(|op| matches!(op, MicroOp::R { .. } | MicroOp::Get { .. }));
    let mut answers = Vec::with_capacity(2);
    for part in [reads, appends] {
        let req = Request::Txn { ops: part };
        let len = req.encoded_len();
        match batched(st, req, len).await {
            Local::Done(Response::Txn { ops }) => answers.push(ops),
            Local::Done(other) => return Local::Done(other),
            Local::NotLeader { leader } => return Local::NotLeader { leader },
            Local::Err(e) => return Local::Err(e),
        }
    }
    let mut appended = answers.pop().unwrap_or_default().into_iter();
    let mut read = answers.pop().unwrap_or_default().into_iter();
    let merged = ops
        .iter()
        .filter_map(|op| match op {
            MicroOp::R { .. } | MicroOp::Get { .. } => read.next(),
            MicroOp::Append { .. } | MicroOp::W { .. } => appended.next(),
        })
        .collect();
    Local::Done(Response::Txn { ops: merged })
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
    let (reqs, waiters): (Vec<Request>, Vec<_>) = batch.into_iter().map(|w| (w.req, w.tx)).unzip();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_writes_whose_answer_ignores_the_state_are_acked_early() {
        let put = Request::Put {
            key: "k".into(),
            value: "v".into(),
        };
        let append = MicroOp::Append {
            key: "k".into(),
            value: "1".into(),
        };
        let read = MicroOp::R { key: "k".into() };
        assert!(is_blind(&put));
        assert!(is_blind(&Request::Txn {
            ops: vec![append.clone()]
        }));
        assert!(!is_blind(&Request::Txn {
            ops: vec![append, read]
        }));
        assert!(!is_blind(&Request::Cas {
            key: "k".into(),
            from: None,
            to: "v".into()
        }));
    }

    fn waiter(value_len: usize) -> Waiter {
        let req = Request::Put {
            key: "k".into(),
            value: "v".repeat(value_len),
        };
        let len = req.encoded_len();
        Waiter {
            req,
            len,
            tx: oneshot::channel().0,
        }
    }

    #[test]
    fn batches_stay_within_the_command_limit_and_carry_the_rest_over() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        for _ in 0..3 {
            tx.send(waiter(MAX_COMMAND_BYTES / 3)).unwrap();
        }
        let (batch, rest) = fill_batch(waiter(MAX_COMMAND_BYTES / 3), &mut rx);
        assert_eq!(batch.len(), 2, "a third write would pass the limit");
        let entry = Request::Batch {
            reqs: batch.into_iter().map(|w| w.req).collect(),
        };
        assert!(serde_json::to_vec(&entry).unwrap().len() <= MAX_COMMAND_BYTES);
        let (batch, rest) = fill_batch(rest.expect("the write that did not fit"), &mut rx);
        assert_eq!((batch.len(), rest.is_none()), (2, true));

        for _ in 0..MAX_BATCH + 5 {
            tx.send(waiter(1)).unwrap();
        }
        let (batch, rest) = fill_batch(waiter(1), &mut rx);
        assert_eq!((batch.len(), rest.is_none()), (MAX_BATCH, true));
    }

    #[test]
    fn writes_are_measured_as_escaped_json() {
        let put = |value: String| Request::Put {
            key: "k".into(),
            value,
        };
        assert!(check_size(&put("x".repeat(MAX_COMMAND_BYTES - 100))).is_ok());
        // A sixth of the limit in bytes, six times it as JSON.
        let err = check_size(&put("\u{1}".repeat(MAX_COMMAND_BYTES / 6 + 1))).unwrap_err();
        assert_eq!(err.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(err.definite, "nothing was proposed");
    }
}
