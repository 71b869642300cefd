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

/// Writes the snapshot file around `data`, the state machine already encoded as JSON (what the
/// leader sends and what the state machine keeps to send): the file is [`SnapshotFile`]'s JSON
/// without encoding tens of MB a second time.
pub fn save_encoded(data_dir: &Path, meta: &SnapshotMeta, data: &[u8]) -> anyhow::Result<()> {
    let meta = serde_json::to_vec(meta)?;
    let mut file = Vec::with_capacity(meta.len() + data.len() + 20);
    file.extend_from_slice(br#"{"meta":"#);
    file.extend_from_slice(&meta);
    file.extend_from_slice(br#","data":"#);
    file.extend_from_slice(data);
    file.push(b'}');
    fsutil::write_atomic(data_dir, FILE, &file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::types::Request;

    #[test]
    fn a_snapshot_saved_from_its_encoded_data_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut data = KvData::default();
        data.apply(&Request::Put {
            key: "k".into(),
            value: "\u{1}\"v".into(),
        });
        let meta = SnapshotMeta {
            snapshot_id: "1-2-3".into(),
            ..Default::default()
        };
        save_encoded(dir.path(), &meta, &serde_json::to_vec(&data).unwrap()).unwrap();
        let back = load(dir.path()).unwrap().expect("a snapshot");
        assert_eq!((back.meta, back.data), (meta, data));
    }
}
