//! A snapshot chunk from the leader counts as a heartbeat.
//!
//! In openraft 0.9 it does not: only the last chunk resets a follower's election timer, and the
//! leader sends a follower no heartbeats while a snapshot is in flight to it. A follower that
//! takes longer than an election timeout to receive and install a large snapshot therefore
//! stands for election in the middle of it, and the leader steps down at the higher term.
//!
//! So while InstallSnapshot RPCs from the current leader are being handled, and for a grace of
//! one maximum election timeout after the last one ends, this node starts no election. That is
//! all: it still votes, and a leader that falls silent mid-transfer costs the follower one grace
//! period before it may stand.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::types::Raft;

#[derive(Clone)]
pub struct ElectionHold {
    raft: Raft,
    grace: Duration,
    state: Arc<Mutex<State>>,
}

struct State {
    /// Snapshot RPCs being handled now.
    active: usize,
    /// When the last one ended.
    released: Instant,
    /// Whether a task is waiting to resume elections.
    watching: bool,
}

/// Holds elections off until dropped (and a grace after).
pub struct Guard(ElectionHold);

impl ElectionHold {
    pub fn new(raft: Raft, grace: Duration) -> ElectionHold {
        ElectionHold {
            raft,
            grace,
            state: Arc::new(Mutex::new(State {
                active: 0,
                released: Instant::now(),
                watching: false,
            })),
        }
    }

    /// Call while handling a snapshot RPC from a leader at least as new as this node's vote.
    pub fn hold(&self) -> Guard {
        let mut s = self.state.lock().expect("election hold poisoned");
        if s.active == 0 && !s.watching {
            tracing::info!(target: "faultline::node", "a snapshot from the leader is arriving: no election until it is installed");
        }
        s.active += 1;
        // Under the lock, so the watcher cannot re-enable elections between the two.
        self.raft.runtime_config().elect(false);
        Guard(self.clone())
    }

    fn release(&self) {
        let mut s = self.state.lock().expect("election hold poisoned");
        s.active -= 1;
        s.released = Instant::now();
        if !s.watching {
            s.watching = true;
            tokio::spawn(self.clone().resume_when_quiet());
        }
    }

    /// Re-enables elections once no snapshot RPC has been handled for [`Self::grace`].
    async fn resume_when_quiet(self) {
        loop {
            let wake = {
                let mut s = self.state.lock().expect("election hold poisoned");
                let quiet_since = if s.active > 0 {
                    Instant::now()
                } else {
                    s.released
                };
                if s.active == 0 && quiet_since.elapsed() >= self.grace {
                    s.watching = false;
                    self.raft.runtime_config().elect(true);
                    tracing::info!(target: "faultline::node", "snapshot transfer over: elections allowed again");
                    return;
                }
                quiet_since + self.grace
            };
            tokio::time::sleep_until(wake.into()).await;
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.release();
    }
}
