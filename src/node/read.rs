//! The read path: linearizable reads by read-index. The leader confirms with a quorum that it is
//! still the leader and waits until its state machine has applied up to the commit index it had
//! at that moment; only then does it read. Followers never read locally; they forward.
//!
//! Confirmations are batched: one round of `ensure_linearizable` serves every read that was
//! waiting when the round *started* (never one that arrived later), as etcd's read-index does.
//! That keeps one quorum round-trip per batch instead of one per read. A round whose quorum did
//! not answer in time is tried again (with every read waiting by then) until the client timeout.
//!
//! A restarted leader needs one more step. openraft 0.9 restores a node whose saved vote is a
//! committed vote for itself as leader of the same term, without an election (openraft#1511).
//! Its read index is then `max(first entry of its term, committed)`, and `committed` is only
//! what was saved before the crash: entries of that term acknowledged after the last save are
//! in its log but neither known committed nor applied, and a read would miss them. Every entry
//! it could have acknowledged is in the log it recovered (openraft 0.9 fsyncs a leader's entry
//! before replicating it), so until it has applied up to the end of that log, or its vote
//! changes (any later leadership starts with a fresh no-op entry), reads also wait for that.
//!
//! Three planted bugs live here (see `bugs.rs`): `stale-read` skips all of it on every node,
//! `lease-read` skips the quorum confirmation on a node that believes it leads, and
//! `clock-lease` serves reads locally under a leader lease measured on the wall clock, and
//! `removed-read` skips the read index on a node the newest configuration leaves out.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::http::StatusCode;
use openraft::error::{CheckIsLeaderError, Fatal, RaftError};
use openraft::{BasicNode, ServerState};
use tokio::sync::{mpsc, oneshot};

use super::bugs::UnsafeBug;
use super::error::ApiError;
use super::state::{AppState, Local};
use super::types::{NodeId, Raft, Vote};

type Waiter = oneshot::Sender<Local<()>>;

/// The log a node recovered while its vote made it leader of a term it led before the restart.
#[derive(Clone, Copy, Debug)]
pub struct RestartBarrier {
    /// The recovered vote; once the vote is greater, the barrier no longer applies.
    pub vote: Vote,
    /// The last recovered log index: reads wait until it is applied.
    pub last_index: u64,
}

/// PLANTED BUG `clock-lease`: a leader lease. Every confirmation round that a quorum answered
/// renews it to the round's start plus `length`, and while it holds the leader reads locally,
/// with no round. That much is the textbook lease (Raft thesis, 6.4.1): `length` is half the
/// minimum election timeout, and openraft's followers refuse to vote for anyone else for a
/// maximum election timeout after the leader's last heartbeat they saw, so no other leader can
/// exist before it ends. The bug: it is measured on the *wall clock* (`SystemTime`), which NTP,
/// an operator or a clock fault can step or skew, not the monotonic clock. A renewal never
/// shortens the lease (confirmations can finish out of order), so a wall clock stepped back
/// keeps the lease of before the step for as long as the step, and a slow one stretches it.
pub struct ClockLease {
    length: Duration,
    /// The vote the lease was confirmed under, and when (wall clock) it ends.
    held: Mutex<Option<(Vote, SystemTime)>>,
}

impl ClockLease {
    pub fn new(length: Duration) -> ClockLease {
        ClockLease {
            length,
            held: Mutex::new(None),
        }
    }

    /// A round that started at `started` under `vote` was confirmed by a quorum.
    fn renew(&self, vote: Vote, started: SystemTime) {
        let until = started + self.length;
        let mut held = self.held.lock().expect("lease lock poisoned");
        *held = match *held {
            Some((v, old)) if v == vote && old > until => Some((v, old)),
            _ => Some((vote, until)),
        };
    }

    /// Whether this node leads under the vote its lease was confirmed with, and the wall clock
    /// says the lease has not ended.
    fn holds(&self, raft: &Raft, id: NodeId) -> bool {
        let Some((vote, until)) = *self.held.lock().expect("lease lock poisoned") else {
            return false;
        };
        let m = raft.metrics();
        let m = m.borrow();
        m.state == ServerState::Leader
            && m.current_leader == Some(id)
            && m.vote == vote
            && SystemTime::now() < until
    }
}

/// Handle to the task that runs leadership confirmations for waiting reads.
#[derive(Clone)]
pub struct ReadGate {
    tx: mpsc::UnboundedSender<Waiter>,
}

impl ReadGate {
    pub fn spawn(
        raft: Raft,
        id: NodeId,
        timeout: Duration,
        mut barrier: Option<RestartBarrier>,
        lease: Option<Arc<ClockLease>>,
    ) -> ReadGate {
        let (tx, mut rx) = mpsc::unbounded_channel::<Waiter>();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while let Ok(w) = rx.try_recv() {
                    batch.push(w);
                }
                // Looked at before the round: metrics lag the core, so a later vote already seen
                // means the round runs under a later leadership, which has its own no-op. Only a
                // greater vote counts: metrics published before start-up finished hold a default
                // (smaller) one.
                if barrier.is_some_and(|b| raft.metrics().borrow().vote > b.vote) {
                    tracing::info!(target: "faultline::node", "vote changed since restart; reads no longer wait for the recovered log");
                    barrier = None;
                }
                let deadline = Instant::now() + timeout;
                let mut round;
                let res = loop {
                    let left = deadline.saturating_duration_since(Instant::now());
                    // PLANTED BUG `clock-lease`: the round's start on the wall clock.
                    round = (SystemTime::now(), raft.metrics().borrow().vote);
                    let (res, may_retry) =
                        confirm(&raft, id, left, barrier.map(|b| b.last_index)).await;
                    if !may_retry
                        || deadline.saturating_duration_since(Instant::now()) < RETRY_PAUSE * 2
                    {
                        break res;
                    }
                    tokio::time::sleep(RETRY_PAUSE).await;
                    // The next round starts after every read now waiting arrived: it serves
                    // them too.
                    while let Ok(w) = rx.try_recv() {
                        batch.push(w);
                    }
                };
                if let (Local::Done(()), Some(lease)) = (&res, &lease) {
                    lease.renew(round.1, round.0);
                }
                if let (Local::Done(()), Some(b)) = (&res, barrier) {
                    tracing::info!(target: "faultline::node", applied = b.last_index, "restored leader applied its recovered log; reads use the read index alone");
                    barrier = None;
                }
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
    // PLANTED BUG `clock-lease`: a leader lease, measured on the wall clock.
    if let Some(lease) = &st.clock_lease {
        if lease.holds(&st.raft, st.id) {
            return Local::Done(local_read(st, key));
        }
    }
    // PLANTED BUG `removed-read`: a node on its way out drains its clients from local state.
    if st.bugs.has(UnsafeBug::RemovedRead) && left_out(st) {
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

/// Whether the newest configuration this node knows (the last of a joint one) has it as no
/// voter: it is being removed, or it is a learner. A node with no configuration yet (one that
/// waits to join) is not left out of anything.
fn left_out(st: &AppState) -> bool {
    let m = st.raft.metrics();
    let m = m.borrow();
    m.membership_config
        .membership()
        .get_joint_config()
        .last()
        .is_some_and(|voters| !voters.contains(&st.id))
}

async fn linearizable(st: &AppState) -> Local<()> {
    let (tx, rx) = oneshot::channel();
    if st.reads.tx.send(tx).is_err() {
        return Local::Err(ApiError::unavailable("the read gate stopped"));
    }
    rx.await
        .unwrap_or_else(|_| Local::Err(ApiError::unavailable("the read gate stopped")))
}

/// Pause before another confirmation round when a quorum did not answer in time. openraft
/// gives each confirming heartbeat only the heartbeat interval (100 ms), which a loaded machine
/// can miss even with every peer up; a read fails only once its whole timeout has passed.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Confirms leadership with a quorum, then waits until the state machine has applied the read
/// index and, after a restart as leader, `barrier` (see the module doc). The flag says whether
/// a later round may succeed (the quorum did not answer, but nothing says we were deposed).
async fn confirm(
    raft: &Raft,
    id: NodeId,
    timeout: Duration,
    barrier: Option<u64>,
) -> (Local<()>, bool) {
    let round = async {
        raft.ensure_linearizable().await?;
        if let Some(index) = barrier {
            raft.wait(None)
                .applied_index_at_least(Some(index), "restored leader applies its recovered log")
                .await
                .map_err(|_| RaftError::Fatal(Fatal::Stopped))?;
        }
        Ok::<(), RaftError<NodeId, CheckIsLeaderError<NodeId, BasicNode>>>(())
    };
    let res = match tokio::time::timeout(timeout, round).await {
        Ok(Ok(())) => Local::Done(()),
        Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => Local::NotLeader {
            leader: f.leader_node.map(|n| n.addr),
        },
        Ok(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(e)))) => {
            return (
                Local::Err(ApiError::unavailable(format!(
                    "node {id}: cannot confirm leadership: {e}"
                ))),
                true,
            );
        }
        Ok(Err(RaftError::Fatal(e))) => Local::Err(ApiError::unavailable(format!(
            "node {id}: raft stopped: {e}"
        ))),
        // A read changes nothing, so failing it is always definite.
        Err(_) => Local::Err(ApiError {
            status: StatusCode::GATEWAY_TIMEOUT,
            error: format!(
                "node {id}: could not confirm leadership and apply up to the read index within {timeout:?}"
            ),
            definite: true,
            extra: None,
        }),
    };
    (res, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn until(lease: &ClockLease) -> Option<(Vote, SystemTime)> {
        *lease.held.lock().unwrap()
    }

    #[test]
    fn a_clock_lease_runs_from_the_rounds_start_and_never_shortens_under_one_vote() {
        let lease = ClockLease::new(Duration::from_millis(200));
        let v1 = Vote::new_committed(1, 1);
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        lease.renew(v1, t);
        assert_eq!(until(&lease), Some((v1, t + Duration::from_millis(200))));
        // A later round extends it.
        lease.renew(v1, t + Duration::from_secs(1));
        assert_eq!(until(&lease), Some((v1, t + Duration::from_millis(1_200))));
        // A round that started earlier on the wall clock (it finished out of order, or the
        // clock was stepped back) does not shorten it: the planted bug's lever.
        lease.renew(v1, t - Duration::from_secs(30));
        assert_eq!(until(&lease), Some((v1, t + Duration::from_millis(1_200))));
        // Another vote (a later term) starts a new lease.
        let v2 = Vote::new_committed(2, 1);
        lease.renew(v2, t - Duration::from_secs(30));
        assert_eq!(until(&lease), Some((v2, t - Duration::from_millis(29_800))));
    }
}
