//! openraft's `RaftStateMachine`: applies committed entries to [`KvData`] in memory and persists
//! it only as snapshots. On restart the state is the last snapshot plus the log re-applied up to
//! the saved committed index, which openraft does before serving.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use anyhow::Context;
use openraft::storage::RaftStateMachine;
use openraft::{AnyError, EntryPayload, OptionalSend, RaftSnapshotBuilder, StorageIOError};

use super::kv::KvData;
use super::snapshot;
use super::types::{
    Entry, LogId, Response, Snapshot, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};

#[derive(Default)]
pub struct SmState {
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership,
    pub kv: KvData,
    /// Snapshots received from a leader and installed since this process started: how a node
    /// that joined with an empty volume shows it caught up from a snapshot, not the log.
    pub snapshots_installed: u64,
}

/// The state the HTTP handlers read (after `ensure_linearizable`) and Raft writes.
pub type SharedState = Arc<RwLock<SmState>>;

struct Current {
    meta: SnapshotMeta,
    bytes: Vec<u8>,
}

pub struct StateMachine {
    state: SharedState,
    data_dir: PathBuf,
    current: Arc<RwLock<Option<Current>>>,
    counter: Arc<AtomicU64>,
    /// PLANTED BUG `crash`: the log index whose entry the state machine panics on.
    poison: Option<u64>,
}

/// The entry the planted `crash` bug cannot apply: early enough that a short campaign's writes
/// reach it, late enough that the cluster is serving when it does.
pub const POISON_INDEX: u64 = 200;

impl StateMachine {
    pub fn open(data_dir: &Path) -> anyhow::Result<StateMachine> {
        let mut state = SmState::default();
        let mut current = None;
        if let Some(file) = snapshot::load(data_dir)? {
            tracing::info!(
                target: "faultline::node",
                last = ?file.meta.last_log_id,
                id = %file.meta.snapshot_id,
                "loaded snapshot"
            );
            let bytes = serde_json::to_vec(&file.data).context("encoding the loaded snapshot")?;
            state = SmState {
                last_applied: file.meta.last_log_id,
                membership: file.meta.last_membership.clone(),
                kv: file.data,
                snapshots_installed: 0,
            };
            current = Some(Current {
                meta: file.meta,
                bytes,
            });
        }
        Ok(StateMachine {
            state: Arc::new(RwLock::new(state)),
            data_dir: data_dir.to_path_buf(),
            current: Arc::new(RwLock::new(current)),
            counter: Arc::new(AtomicU64::new(0)),
            poison: None,
        })
    }

    /// PLANTED BUG `crash`: every replica panics when it applies entry [`POISON_INDEX`], as a
    /// state machine does on an entry it cannot handle (a poison pill); the node's panic hook
    /// then aborts the process, as `panic = "abort"` would.
    pub fn with_poison_entry(mut self, planted: bool) -> StateMachine {
        self.poison = planted.then_some(POISON_INDEX);
        self
    }

    pub fn shared(&self) -> SharedState {
        self.state.clone()
    }

    fn builder(&self) -> SnapshotBuilder {
        SnapshotBuilder {
            state: self.state.clone(),
            data_dir: self.data_dir.clone(),
            current: self.current.clone(),
            counter: self.counter.clone(),
        }
    }
}

fn snap_err(e: impl std::fmt::Display) -> StorageError {
    StorageError::IO {
        source: StorageIOError::write_snapshot(None, AnyError::error(e)),
    }
}

/// Makes `data` (the state machine as JSON, already durable in the snapshot file) the snapshot
/// Raft sends to laggards.
fn make_current(current: &RwLock<Option<Current>>, meta: SnapshotMeta, data: Vec<u8>) {
    *current.write().expect("snapshot lock poisoned") = Some(Current { meta, bytes: data });
}

/// Runs `work` (encoding, decoding, writing tens of MB) on the blocking pool: on one of the few
/// async workers it would stall the HTTP handlers, Raft RPCs included, for as long.
async fn off_runtime<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(snap_err)?
        .map_err(|e| snap_err(format!("{e:#}")))
}

pub struct SnapshotBuilder {
    state: SharedState,
    data_dir: PathBuf,
    current: Arc<RwLock<Option<Current>>>,
    counter: Arc<AtomicU64>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        // Clone under the lock, serialise outside it, so applies are only paused for the copy.
        let (last, membership, kv) = {
            let s = self.state.read().expect("state lock poisoned");
            (s.last_applied, s.membership.clone(), s.kv.clone())
        };
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let snapshot_id = match last {
            Some(l) => format!("{}-{}-{n}", l.leader_id.term, l.index),
            None => format!("0-0-{n}"),
        };
        let meta = SnapshotMeta {
            last_log_id: last,
            last_membership: membership,
            snapshot_id,
        };
        let started = Instant::now();
        let dir = self.data_dir.clone();
        let (meta, data) = off_runtime(move || {
            let data = serde_json::to_vec(&kv)?;
            snapshot::save_encoded(&dir, &meta, &data)?;
            Ok((meta, data))
        })
        .await?;
        let bytes = data.len();
        let snap = Snapshot {
            meta: meta.clone(),
            snapshot: Box::new(Cursor::new(data.clone())),
        };
        make_current(&self.current, meta, data);
        tracing::info!(
            target: "faultline::node",
            last = ?snap.meta.last_log_id.map(|l| l.index),
            id = %snap.meta.snapshot_id,
            bytes,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "built snapshot"
        );
        Ok(snap)
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let s = self.state.read().expect("state lock poisoned");
        Ok((s.last_applied, s.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut s = self.state.write().expect("state lock poisoned");
        let mut out = Vec::new();
        for e in entries {
            if self.poison == Some(e.log_id.index) {
                panic!(
                    "planted bug crash: the state machine cannot apply entry {}",
                    e.log_id.index
                );
            }
            s.last_applied = Some(e.log_id);
            let resp = match e.payload {
                EntryPayload::Blank => Response::Done,
                EntryPayload::Normal(req) => s.kv.apply(&req),
                EntryPayload::Membership(m) => {
                    s.membership = StoredMembership::new(Some(e.log_id), m);
                    Response::Done
                }
            };
            out.push(resp);
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        self.builder()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        // Decoded and written once, from the bytes as received, and off the async runtime: a
        // follower catching up installs tens of MB while the leader sends it no heartbeats.
        let started = Instant::now();
        let data = snapshot.into_inner();
        let (dir, m) = (self.data_dir.clone(), meta.clone());
        let (kv, data) = off_runtime(move || {
            let kv: KvData =
                serde_json::from_slice(&data).context("decoding a received snapshot")?;
            snapshot::save_encoded(&dir, &m, &data)?;
            Ok((kv, data))
        })
        .await?;
        let bytes = data.len();
        make_current(&self.current, meta.clone(), data);
        let mut s = self.state.write().expect("state lock poisoned");
        *s = SmState {
            last_applied: meta.last_log_id,
            membership: meta.last_membership.clone(),
            kv,
            snapshots_installed: s.snapshots_installed + 1,
        };
        tracing::info!(
            target: "faultline::node",
            last = ?meta.last_log_id.map(|l| l.index),
            id = %meta.snapshot_id,
            bytes,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "installed snapshot from the leader"
        );
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        let cur = self.current.read().expect("snapshot lock poisoned");
        Ok(cur.as_ref().map(|c| Snapshot {
            meta: c.meta.clone(),
            snapshot: Box::new(Cursor::new(c.bytes.clone())),
        }))
    }
}
