//! Planted consensus bugs, each off unless the node is started with `--unsafe-bug NAME`.
//!
//! They exist to prove that faultline's campaigns catch real mistakes: each one is a genuine code
//! path through this node (the read path, the ack path, the log writer, cas), never a simulation
//! in the harness. Where a bug lives: `stale-read`, `lease-read`, `clock-lease` and `removed-read` in `read.rs`, `early-ack`,
//! `racy-cas` and `split-txn` in `write.rs`, `lazy-fsync` in `log/writer.rs`, `crash` in
//! `state_machine.rs`.

use clap::ValueEnum;

/// A planted bug. Every one of them breaks linearizability or durability: never use them outside
/// a test of the harness itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, ValueEnum)]
pub enum UnsafeBug {
    /// PLANTED BUG: every node answers reads from its own state machine, with no read index and
    /// no leader check (a follower or a deposed leader returns stale values).
    StaleRead,
    /// PLANTED BUG: the leader acknowledges a put or a blind append once the entry is in its own
    /// log, before a quorum has it (an isolated leader's acknowledged writes are lost).
    EarlyAck,
    /// PLANTED BUG: log entries stay in memory and reach the disk (write + fsync) once a second,
    /// while Raft is told at once that they are durable (kill -9 of a majority loses acknowledged
    /// writes).
    LazyFsync,
    /// PLANTED BUG: cas is a linearizable read followed by a separate put through Raft, not one
    /// atomic entry (two concurrent cas from the same value both succeed).
    RacyCas,
    /// PLANTED BUG: a node that believes it is the leader serves reads locally without
    /// confirming with a quorum that it still leads (Consul's `default` read mode and etcd 0.4's
    /// reads, both caught by Jepsen in 2014: a deposed leader behind a partition answers stale
    /// values).
    LeaseRead,
    /// PLANTED BUG: a transaction that reads and appends is proposed as two entries, its reads
    /// first and its appends after, not as one atomic entry (another transaction's appends can
    /// land in between: read skew, write skew, and a transaction that does not see its own
    /// appends).
    SplitTxn,
    /// PLANTED BUG: the leader serves reads locally under a leader lease (renewed by each
    /// quorum-confirmed read round, half the minimum election timeout long) that it measures on
    /// the wall clock instead of the monotonic clock: safe while clocks behave, but a leader
    /// whose clock is stepped back or runs slow keeps serving reads after a partition deposed it.
    /// Only clock faults expose it.
    ClockLease,
    /// PLANTED BUG: a node that sees the configuration moving on without it (the newest
    /// configuration it knows leaves it out: it is being removed, or it is a learner still
    /// catching up) answers reads from its own state machine, to drain its clients gracefully,
    /// though no entry reaches it any more (a removed node, or a joining one, returns stale
    /// values). Only membership changes ever leave a node out: kills, pauses and partitions never
    /// trigger it.
    RemovedRead,
    /// PLANTED BUG: every replica's state machine panics when it applies log entry 200 (a
    /// poison pill), and the node process aborts: the cluster stops serving. Its data stays
    /// consistent; only the crash checker sees it.
    Crash,
}

impl UnsafeBug {
    pub fn name(self) -> &'static str {
        match self {
            UnsafeBug::StaleRead => "stale-read",
            UnsafeBug::EarlyAck => "early-ack",
            UnsafeBug::LazyFsync => "lazy-fsync",
            UnsafeBug::RacyCas => "racy-cas",
            UnsafeBug::LeaseRead => "lease-read",
            UnsafeBug::SplitTxn => "split-txn",
            UnsafeBug::ClockLease => "clock-lease",
            UnsafeBug::Crash => "crash",
            UnsafeBug::RemovedRead => "removed-read",
        }
    }

    /// Every planted bug's name, as `--unsafe-bug` and campaign files spell them.
    pub fn names() -> Vec<&'static str> {
        UnsafeBug::value_variants()
            .iter()
            .map(|b| b.name())
            .collect()
    }
}

/// The bugs a node runs with; empty (the default) is the correct node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bugs(u16);

impl Bugs {
    pub fn from_list(list: &[UnsafeBug]) -> Bugs {
        Bugs(list.iter().fold(0, |acc, b| acc | Bugs::bit(*b)))
    }

    pub fn has(self, bug: UnsafeBug) -> bool {
        self.0 & Bugs::bit(bug) != 0
    }

    pub fn active(self) -> Vec<&'static str> {
        UnsafeBug::value_variants()
            .iter()
            .filter(|b| self.has(**b))
            .map(|b| b.name())
            .collect()
    }

    fn bit(bug: UnsafeBug) -> u16 {
        1 << (bug as u16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_clap() {
        for name in UnsafeBug::names() {
            let bug = UnsafeBug::from_str(name, false).unwrap();
            assert_eq!(bug.name(), name);
        }
        assert!(UnsafeBug::from_str("no-such-bug", false).is_err());
    }

    #[test]
    fn sets_hold_exactly_what_was_asked() {
        let bugs = Bugs::from_list(&[UnsafeBug::RacyCas, UnsafeBug::StaleRead]);
        assert!(bugs.has(UnsafeBug::RacyCas) && bugs.has(UnsafeBug::StaleRead));
        assert!(!bugs.has(UnsafeBug::LazyFsync));
        assert_eq!(bugs.active(), vec!["stale-read", "racy-cas"]);
        assert!(Bugs::default().active().is_empty());
    }
}
