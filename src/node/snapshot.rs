//! The snapshot file: the state machine and its Raft metadata, replaced atomically, so a crash
//! leaves the previous snapshot or the new one, never half of either.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::fsutil;
use super::kv::KvData;
use super::types::SnapshotMeta;

pub const FILE: &str = "snapshot.json";

#[derive(Debug, Serialize, Deserialize)]
pub struct SnapshotFile {
    pub meta: SnapshotMeta,
    pub data: KvData,
}

pub fn load(data_dir: &Path) -> anyhow::Result<Option<SnapshotFile>> {
    fsutil::read_json(&data_dir.join(FILE))
}

pub fn save(data_dir: &Path, snap: &SnapshotFile) -> anyhow::Result<()> {
    let bytes = serde_json::to_vec(snap)?;
    fsutil::write_atomic(data_dir, FILE, &bytes)
}
