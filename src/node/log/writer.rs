//! The log's single writer thread: it takes every pending command, writes the appends, fsyncs
//! once, and only then tells Raft the entries are flushed. One fsync per batch, not per entry,
//! is what lets throughput exceed the disk's fsync rate.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use openraft::storage::LogFlushed;
use tokio::sync::oneshot;

use super::disk::{purged_path, LogDisk};
use crate::node::fsutil;
use crate::node::types::{LogId, TypeConfig, Vote};

pub type Reply = oneshot::Sender<Result<(), String>>;

pub enum Cmd {
    Append {
        /// `(index, encoded record)` in log order.
        records: Vec<(u64, Vec<u8>)>,
        done: LogFlushed<TypeConfig>,
    },
    Truncate {
        since: u64,
        done: Reply,
    },
    Purge {
        upto: LogId,
        done: Reply,
    },
    SaveVote {
        vote: Vote,
        done: Reply,
    },
    /// A hint for restart (how far to re-apply); losing the latest one is safe (the state is
    /// rebuilt from the log, and a leader restored after a restart serves reads only once it
    /// has applied its whole recovered log, see `read.rs`), so it is written at most every
    /// [`COMMITTED_EVERY`] and never waited for.
    SaveCommitted(Option<LogId>),
}

const COMMITTED_EVERY: Duration = Duration::from_millis(100);

/// The planted `lazy-fsync` bug writes held entries this often.
const LAZY_EVERY: Duration = Duration::from_secs(1);

/// PLANTED BUG `lazy-fsync`: appended records wait here, in this process's memory, while Raft
/// has already been told they are durable. A plain `write()` would survive kill -9 in the page
/// cache, so they must not reach the file until the periodic write.
struct Lazy {
    held: Vec<(u64, Vec<u8>)>,
    written_at: Instant,
}

pub fn spawn(
    disk: LogDisk,
    data_dir: PathBuf,
    rx: Receiver<Cmd>,
    lazy_fsync: bool,
) -> anyhow::Result<()> {
    std::thread::Builder::new()
        .name("raft-log-writer".into())
        .spawn(move || {
            Writer {
                disk,
                data_dir,
                committed_at: None,
                lazy: lazy_fsync.then(|| Lazy {
                    held: Vec::new(),
                    written_at: Instant::now(),
                }),
            }
            .run(rx)
        })
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("starting the log writer thread: {e}"))
}

struct Writer {
    disk: LogDisk,
    data_dir: PathBuf,
    committed_at: Option<Instant>,
    lazy: Option<Lazy>,
}

impl Writer {
    fn run(mut self, rx: Receiver<Cmd>) {
        // Once a write failed the files may not match memory: refuse everything after it, so
        // Raft stops instead of acknowledging entries that are not on disk.
        let mut failed: Option<String> = None;
        let mut committed = None;
        loop {
            // A throttled hint must still be written once the interval has passed, even if
            // nothing else arrives (an idle cluster after its last write): otherwise the hint
            // stays behind the log for good, and a restart re-applies less than it could.
            let committed_wait = committed.is_some().then(|| {
                self.committed_at.map_or(Duration::ZERO, |t| {
                    COMMITTED_EVERY.saturating_sub(t.elapsed())
                })
            });
            let first = match committed_wait.into_iter().chain(self.lazy_wait()).min() {
                Some(wait) => match rx.recv_timeout(wait) {
                    Ok(cmd) => Some(cmd),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                },
                None => match rx.recv() {
                    Ok(cmd) => Some(cmd),
                    Err(_) => break,
                },
            };
            let mut batch: Vec<Cmd> = first.into_iter().collect();
            batch.extend(rx.try_iter());
            let mut flushed: Vec<LogFlushed<TypeConfig>> = Vec::new();
            for cmd in batch {
                match cmd {
                    Cmd::Append { records, done } if self.lazy.is_some() => {
                        let lazy = self.lazy.as_mut().expect("checked by the guard");
                        lazy.held.extend(records);
                        // The bug: durable as far as Raft knows, though nothing is on disk.
                        match &failed {
                            None => done.log_io_completed(Ok(())),
                            Some(e) => done.log_io_completed(Err(std::io::Error::other(e.clone()))),
                        }
                    }
                    Cmd::Append { records, done } => {
                        if failed.is_none() {
                            if let Err(e) = self.append(&records) {
                                failed = Some(format!("{e:#}"));
                            }
                        }
                        flushed.push(done);
                    }
                    Cmd::SaveCommitted(c) => committed = Some(c),
                    other => {
                        self.flush(&mut failed, &mut flushed);
                        let (res, done) = match other {
                            Cmd::Truncate { since, done } => (self.truncate(since, &failed), done),
                            Cmd::Purge { upto, done } => (self.purge(upto, &failed), done),
                            Cmd::SaveVote { vote, done } => (self.save_vote(&vote, &failed), done),
                            Cmd::Append { .. } | Cmd::SaveCommitted(_) => unreachable!(),
                        };
                        if let Err(e) = &res {
                            failed.get_or_insert_with(|| e.clone());
                        }
                        let _ = done.send(res);
                    }
                }
            }
            self.flush(&mut failed, &mut flushed);
            if self
                .lazy
                .as_ref()
                .is_some_and(|l| l.written_at.elapsed() >= LAZY_EVERY)
            {
                self.write_held(&mut failed);
            }
            let due = self
                .committed_at
                .is_none_or(|t| t.elapsed() >= COMMITTED_EVERY);
            if due {
                // After a failed write the hint is dropped, not kept pending (nothing may be
                // written any more, and a pending hint would make the wait above spin).
                if let (Some(c), None) = (committed.take(), &failed) {
                    self.committed_at = Some(Instant::now());
                    if let Err(e) = self.save_committed(c) {
                        tracing::warn!(target: "faultline::node", "saving the committed index: {e:#}");
                    }
                }
            }
        }
        tracing::debug!(target: "faultline::node", "log writer stopped");
    }

    /// lazy-fsync: how long until the held entries are due on disk (`None` when none are held),
    /// so they are written when a second has passed even if no command arrives.
    fn lazy_wait(&self) -> Option<Duration> {
        self.lazy
            .as_ref()
            .filter(|l| !l.held.is_empty())
            .map(|l| LAZY_EVERY.saturating_sub(l.written_at.elapsed()))
    }

    /// lazy-fsync: writes and fsyncs the held entries, long after Raft was told they were.
    fn write_held(&mut self, failed: &mut Option<String>) {
        let Some(lazy) = self.lazy.as_mut() else {
            return;
        };
        lazy.written_at = Instant::now();
        let held = std::mem::take(&mut lazy.held);
        if held.is_empty() || failed.is_some() {
            return;
        }
        if let Err(e) = self.append(&held).and_then(|()| self.disk.sync()) {
            *failed = Some(format!("{e:#}"));
        }
    }

    fn append(&mut self, records: &[(u64, Vec<u8>)]) -> anyhow::Result<()> {
        for (index, bytes) in records {
            self.disk.append(*index, bytes)?;
        }
        Ok(())
    }

    /// fsyncs what was appended, then acknowledges each waiting append.
    fn flush(&mut self, failed: &mut Option<String>, waiting: &mut Vec<LogFlushed<TypeConfig>>) {
        if waiting.is_empty() {
            return;
        }
        if failed.is_none() {
            let t = Instant::now();
            if let Err(e) = self.disk.sync() {
                *failed = Some(format!("{e:#}"));
            }
            tracing::trace!(target: "faultline::node::log", appends = waiting.len(), fsync_us = t.elapsed().as_micros() as u64, "group commit");
        }
        for done in waiting.drain(..) {
            match failed {
                None => done.log_io_completed(Ok(())),
                Some(e) => done.log_io_completed(Err(std::io::Error::other(e.clone()))),
            }
        }
    }

    fn truncate(&mut self, since: u64, failed: &Option<String>) -> Result<(), String> {
        check(failed)?;
        if let Some(lazy) = self.lazy.as_mut() {
            lazy.held.retain(|(index, _)| *index < since);
        }
        self.disk.truncate(since).map_err(|e| format!("{e:#}"))
    }

    fn purge(&mut self, upto: LogId, failed: &Option<String>) -> Result<(), String> {
        check(failed)?;
        if self.lazy.is_some() {
            // Purging works on the files, so the held entries it may cover go first (purges
            // follow snapshots, every few thousand entries: the bug stays a bug).
            let mut f = None;
            self.write_held(&mut f);
            check(&f)?;
        }
        // openraft purges in small steps after every snapshot; two fsyncs per step would stall
        // the group commit, so the marker is made durable only when the files depend on it.
        if self.disk.purge_needs_marker(upto.index) {
            let bytes = serde_json::to_vec(&upto).map_err(|e| e.to_string())?;
            fsutil::write_atomic(&self.data_dir, "purged.json", &bytes)
                .map_err(|e| format!("{e:#}"))?;
            debug_assert!(purged_path(&self.data_dir).exists());
        }
        self.disk.purge(upto.index).map_err(|e| format!("{e:#}"))
    }

    fn save_vote(&mut self, vote: &Vote, failed: &Option<String>) -> Result<(), String> {
        check(failed)?;
        let bytes = serde_json::to_vec(vote).map_err(|e| e.to_string())?;
        fsutil::write_atomic(&self.data_dir, "vote.json", &bytes).map_err(|e| format!("{e:#}"))
    }

    fn save_committed(&mut self, c: Option<LogId>) -> anyhow::Result<()> {
        let bytes = serde_json::to_vec(&c)?;
        // No fsync: two fsyncs per save would stall the log's group commit, and a lost or torn
        // hint only means re-applying less at restart (see `LogStore::open`).
        fsutil::write_replace_unsynced(&self.data_dir, "committed.json", &bytes)
    }
}

fn check(failed: &Option<String>) -> Result<(), String> {
    match failed {
        Some(e) => Err(format!("an earlier log write failed: {e}")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::log::disk;
    use openraft::CommittedLeaderId;

    #[test]
    fn the_latest_committed_hint_is_written_even_when_nothing_follows() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let rec = disk::recover(&dir).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        spawn(rec.disk, dir.clone(), rx, false).unwrap();
        let id = |i| Some(LogId::new(CommittedLeaderId::new(1, 1), i));
        // The first hint is saved at once; the later ones fall inside the throttle interval.
        for i in 1..=3 {
            tx.send(Cmd::SaveCommitted(id(i))).unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let saved: Option<Option<LogId>> = fsutil::read_json(&dir.join("committed.json"))
                .ok()
                .flatten();
            if saved == Some(id(3)) {
                break;
            }
            assert!(Instant::now() < deadline, "the hint stayed at {saved:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(tx);
    }
}
