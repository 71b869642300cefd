//! openraft's `RaftLogStorage` over the segment log. Entries are kept in memory from the last
//! purge on (snapshots bound that), so readers never touch the disk; the files exist for restart.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{AnyError, EntryPayload, OptionalSend, RaftLogReader, StorageIOError};

use super::disk;
use super::segment;
use super::writer::{self, Cmd};
use crate::node::fsutil;
use crate::node::limits::{APPEND_BATCH_BYTES, ENTRY_ENVELOPE_BYTES};
use crate::node::read::RestartBarrier;
use crate::node::types::{Entry, LogId, NodeId, StorageError, TypeConfig, Vote};

#[derive(Default)]
struct Mem {
    entries: BTreeMap<u64, Entry>,
    last_purged: Option<LogId>,
}

/// The log store handed to Raft; its readers share the in-memory entries.
pub struct LogStore {
    mem: Arc<Mutex<Mem>>,
    vote: Option<Vote>,
    committed: Option<LogId>,
    tx: Sender<Cmd>,
}

#[derive(Clone)]
pub struct LogReader {
    mem: Arc<Mutex<Mem>>,
}

impl LogStore {
    /// Recovers the log in `data_dir` and starts its writer thread.
    #[cfg(test)]
    pub fn open(data_dir: &Path) -> anyhow::Result<LogStore> {
        LogStore::open_with(data_dir, false)
    }

    /// As [`LogStore::open`]; `lazy_fsync` plants the `lazy-fsync` bug in the writer thread.
    pub fn open_with(data_dir: &Path, lazy_fsync: bool) -> anyhow::Result<LogStore> {
        let rec = disk::recover(data_dir)?;
        let vote: Option<Vote> = fsutil::read_json(&data_dir.join("vote.json"))?;
        let committed_path = data_dir.join("committed.json");
        let committed: Option<Option<LogId>> = match fsutil::read_json(&committed_path) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(target: "faultline::node", "ignoring the committed-index hint: {e:#}");
                None
            }
        };
        tracing::info!(
            target: "faultline::node",
            entries = rec.entries.len(),
            first = ?rec.entries.keys().next(),
            last = ?rec.entries.keys().next_back(),
            purged = ?rec.last_purged.map(|l| l.index),
            committed = ?committed.flatten().map(|l| l.index),
            vote = ?vote,
            "recovered the raft log"
        );
        let committed = clamp_committed(committed.flatten(), &rec.entries, rec.last_purged);
        let (tx, rx) = std::sync::mpsc::channel();
        writer::spawn(rec.disk, PathBuf::from(data_dir), rx, lazy_fsync)?;
        Ok(LogStore {
            mem: Arc::new(Mutex::new(Mem {
                entries: rec.entries,
                last_purged: rec.last_purged,
            })),
            vote,
            committed,
            tx,
        })
    }

    /// What reads must wait for if openraft restores node `id` as leader without an election:
    /// the end of the recovered log (see `read.rs`). `None` when it will start as a follower.
    pub fn restart_barrier(&self, id: NodeId) -> Option<RestartBarrier> {
        let vote = self.vote?;
        if !vote.is_committed() || vote.leader_id().voted_for() != Some(id) {
            return None;
        }
        let mem = self.mem.lock().expect("log mutex poisoned");
        let last = mem.entries.keys().next_back().copied();
        let last_index = last.or(mem.last_purged.map(|p| p.index))?;
        Some(RestartBarrier { vote, last_index })
    }

    // StorageError is openraft's type; its size is not ours to choose.
    #[allow(clippy::result_large_err)]
    fn send(&self, cmd: Cmd) -> Result<(), StorageError> {
        self.tx.send(cmd).map_err(|_| {
            io_err(StorageIOError::write_logs(AnyError::error(
                "the log writer thread stopped",
            )))
        })
    }

    async fn call(
        &self,
        make: impl FnOnce(writer::Reply) -> Cmd,
        err: fn(AnyError) -> StorageIOError<u64>,
    ) -> Result<(), StorageError> {
        let (done, rx) = tokio::sync::oneshot::channel();
        self.send(make(done))?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(io_err(err(AnyError::error(e)))),
            Err(_) => Err(io_err(err(AnyError::error(
                "the log writer thread stopped",
            )))),
        }
    }
}

/// The committed index is only a restart hint; if a torn tail took entries it names, restart
/// from what the log still holds and let the leader tell us the rest.
fn clamp_committed(
    committed: Option<LogId>,
    entries: &BTreeMap<u64, Entry>,
    purged: Option<LogId>,
) -> Option<LogId> {
    let last = entries.values().next_back().map(|e| e.log_id).or(purged);
    match (committed, last) {
        (Some(c), Some(l)) if c.index > l.index => {
            tracing::warn!(
                target: "faultline::node",
                committed = c.index,
                last = l.index,
                "the saved committed index is past the recovered log; restarting from the log's end"
            );
            Some(l)
        }
        (Some(c), None) => {
            tracing::warn!(target: "faultline::node", committed = c.index, "the saved committed index names an empty log; ignoring it");
            None
        }
        (c, _) => c,
    }
}

/// An upper bound of `e`'s JSON in an AppendEntries body, so a batch bounded by it cannot
/// outgrow the peer's body limit (see `limits`).
fn encoded_len(e: &Entry) -> usize {
    ENTRY_ENVELOPE_BYTES
        + match &e.payload {
            EntryPayload::Blank => 0,
            EntryPayload::Normal(req) => req.encoded_len(),
            // Rare, and its size grows with the member list: measure it.
            EntryPayload::Membership(m) => serde_json::to_vec(m).map_or(4096, |v| v.len()),
        }
}

/// Entries from `[start, end)`, stopping before [`APPEND_BATCH_BYTES`] would be passed (always
/// at least one entry when the range holds any, as openraft requires).
fn limited(mem: &Mutex<Mem>, start: u64, end: u64) -> Vec<Entry> {
    let mem = mem.lock().expect("log mutex poisoned");
    let mut out = Vec::new();
    let mut bytes = 0;
    for e in mem.entries.range(start..end).map(|(_, e)| e) {
        bytes += encoded_len(e);
        if !out.is_empty() && bytes > APPEND_BATCH_BYTES {
            break;
        }
        out.push(e.clone());
    }
    out
}

fn io_err(e: StorageIOError<u64>) -> StorageError {
    StorageError::IO { source: e }
}

impl RaftLogReader<TypeConfig> for LogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let mem = self.mem.lock().expect("log mutex poisoned");
        Ok(mem.entries.range(range).map(|(_, e)| e.clone()).collect())
    }

    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry>, StorageError> {
        Ok(limited(&self.mem, start, end))
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let mem = self.mem.lock().expect("log mutex poisoned");
        Ok(mem.entries.range(range).map(|(_, e)| e.clone()).collect())
    }

    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry>, StorageError> {
        Ok(limited(&self.mem, start, end))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogReader;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let mem = self.mem.lock().expect("log mutex poisoned");
        let last = mem.entries.values().next_back().map(|e| e.log_id);
        Ok(LogState {
            last_purged_log_id: mem.last_purged,
            last_log_id: last.or(mem.last_purged),
        })
    }

    async fn get_log_reader(&mut self) -> LogReader {
        LogReader {
            mem: self.mem.clone(),
        }
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let v = *vote;
        self.call(
            |done| Cmd::SaveVote { vote: v, done },
            StorageIOError::write_vote,
        )
        .await?;
        self.vote = Some(v);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.committed = committed;
        self.send(Cmd::SaveCommitted(committed))
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut records = Vec::new();
        let mut batch = Vec::new();
        for e in entries {
            let mut buf = Vec::new();
            segment::encode(&e, &mut buf).map_err(|err| {
                io_err(StorageIOError::write_log_entry(
                    e.log_id,
                    AnyError::error(format!("{err:#}")),
                ))
            })?;
            records.push((e.log_id.index, buf));
            batch.push(e);
        }
        {
            let mut mem = self.mem.lock().expect("log mutex poisoned");
            for e in batch {
                mem.entries.insert(e.log_id.index, e);
            }
        }
        self.send(Cmd::Append {
            records,
            done: callback,
        })
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        tracing::info!(target: "faultline::node", since = log_id.index, "truncating conflicting log entries");
        {
            let mut mem = self.mem.lock().expect("log mutex poisoned");
            mem.entries.split_off(&log_id.index);
        }
        let since = log_id.index;
        self.call(
            |done| Cmd::Truncate { since, done },
            StorageIOError::write_logs,
        )
        .await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        tracing::debug!(target: "faultline::node", upto = log_id.index, "purging the log");
        {
            let mut mem = self.mem.lock().expect("log mutex poisoned");
            let keep = mem.entries.split_off(&(log_id.index + 1));
            mem.entries = keep;
            mem.last_purged = Some(log_id);
        }
        self.call(
            |done| Cmd::Purge { upto: log_id, done },
            StorageIOError::write_logs,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::types::Request;
    use openraft::CommittedLeaderId;

    fn put_batch(index: u64, n: usize) -> Entry {
        let reqs = (0..n)
            .map(|i| Request::Put {
                key: format!("key-{i}"),
                value: "x".repeat(100),
            })
            .collect();
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(Request::Batch { reqs }),
        }
    }

    #[test]
    fn replication_payloads_are_bounded_in_bytes_but_never_empty() {
        let mem = Mutex::new(Mem::default());
        {
            let mut m = mem.lock().unwrap();
            for i in 1..=100 {
                m.entries.insert(i, put_batch(i, 100));
            }
            // One entry alone larger than the budget.
            m.entries.insert(101, put_batch(101, 2000));
        }
        let got = limited(&mem, 1, 101);
        let bytes: usize = got
            .iter()
            .map(|e| serde_json::to_vec(e).unwrap().len())
            .sum();
        assert!(!got.is_empty() && got.len() < 100, "{} entries", got.len());
        assert!(bytes <= APPEND_BATCH_BYTES, "{bytes} bytes");
        assert_eq!(got[0].log_id.index, 1);
        assert_eq!(limited(&mem, 101, 102).len(), 1);
        assert!(limited(&mem, 102, 110).is_empty());
        assert_eq!(limited(&mem, 5, 6).len(), 1);
    }

    #[test]
    fn encoded_len_bounds_every_kind_of_entry() {
        let log_id = LogId::new(CommittedLeaderId::new(u64::MAX, u64::MAX), u64::MAX);
        let members: std::collections::BTreeMap<u64, openraft::BasicNode> = (1..=5)
            .map(|i| {
                (
                    u64::MAX - i,
                    openraft::BasicNode::new("[::ffff:10.0.0.1]:65535"),
                )
            })
            .collect();
        let ids: std::collections::BTreeSet<u64> = members.keys().copied().collect();
        let payloads = [
            EntryPayload::Blank,
            put_batch(1, 3).payload,
            EntryPayload::Membership(openraft::Membership::new(vec![ids], members)),
        ];
        for payload in payloads {
            let e = Entry { log_id, payload };
            let actual = serde_json::to_vec(&e).unwrap().len();
            assert!(encoded_len(&e) >= actual, "{} < {actual}", encoded_len(&e));
        }
    }
}
