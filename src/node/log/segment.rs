//! The on-disk record format of the Raft log and the scan that recovers it.
//!
//! A log is a directory of segment files named after the index of their first entry
//! (`00000000000000000001.seg`). A segment is a sequence of records:
//! `[len: u32 LE][crc32(payload): u32 LE][payload: JSON of one Raft entry]`.
//! Only the last segment can end in a torn record (segments roll after an fsync), so a bad
//! record there is a crash's unflushed tail; anywhere else it is corruption.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::node::types::Entry;

pub const HEADER: usize = 8;
/// A record larger than this is a corrupt length field, not an entry.
const MAX_RECORD: u32 = 256 << 20;

pub fn segment_name(first_index: u64) -> String {
    format!("{first_index:020}.seg")
}

pub fn encode(entry: &Entry, out: &mut Vec<u8>) -> anyhow::Result<()> {
    let payload = serde_json::to_vec(entry).context("encoding a log entry")?;
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(())
}

/// One segment file as found on disk.
#[derive(Debug, Clone)]
pub struct SegmentFile {
    pub first_index: u64,
    pub path: PathBuf,
}

/// Segment files in index order.
pub fn list_segments(dir: &Path) -> anyhow::Result<Vec<SegmentFile>> {
    let mut out = Vec::new();
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
    };
    for ent in rd {
        let ent = ent.with_context(|| format!("listing {}", dir.display()))?;
        let name = ent.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".seg")) else {
            continue;
        };
        let Ok(first_index) = stem.parse::<u64>() else {
            continue;
        };
        out.push(SegmentFile {
            first_index,
            path: ent.path(),
        });
    }
    out.sort_by_key(|s| s.first_index);
    Ok(out)
}

/// A record that could be decoded, with where it sits in its file.
pub struct Record {
    pub offset: u64,
    pub entry: Entry,
}

/// The readable records of one segment and, if it ends badly, where and why.
pub struct Scan {
    pub records: Vec<Record>,
    /// Length of the good prefix of the file.
    pub good_len: u64,
    pub file_len: u64,
    pub bad_tail: Option<String>,
}

pub fn scan(path: &Path) -> anyhow::Result<Scan> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .with_context(|| format!("reading log segment {}", path.display()))?;
    let mut records = Vec::new();
    let mut pos = 0usize;
    let bad_tail = loop {
        if pos == bytes.len() {
            break None;
        }
        if bytes.len() - pos < HEADER {
            break Some(format!("{} bytes of a record header", bytes.len() - pos));
        }
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().expect("4 bytes"));
        let crc = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().expect("4 bytes"));
        if len > MAX_RECORD {
            break Some(format!("record length {len} is implausible"));
        }
        let end = pos + HEADER + len as usize;
        if end > bytes.len() {
            break Some(format!(
                "record of {len} bytes cut short at {} bytes",
                bytes.len() - pos - HEADER
            ));
        }
        let payload = &bytes[pos + HEADER..end];
        if crc32fast::hash(payload) != crc {
            break Some("checksum mismatch".to_string());
        }
        match serde_json::from_slice::<Entry>(payload) {
            Ok(entry) => records.push(Record {
                offset: pos as u64,
                entry,
            }),
            Err(e) => break Some(format!("checksummed record does not decode: {e}")),
        }
        pos = end;
    };
    Ok(Scan {
        records,
        good_len: pos as u64,
        file_len: bytes.len() as u64,
        bad_tail,
    })
}

/// Checks that a segment's records are consecutive and start where its name says.
pub fn check_sequence(seg: &SegmentFile, records: &[Record]) -> anyhow::Result<()> {
    for (expect, r) in (seg.first_index..).zip(records) {
        if r.entry.log_id.index != expect {
            bail!(
                "log segment {} holds index {} at offset {} where {} was expected; the log is \
                 corrupt: move the data directory aside and let the node rejoin from a snapshot",
                seg.path.display(),
                r.entry.log_id.index,
                r.offset,
                expect
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{CommittedLeaderId, EntryPayload, LogId};
    use std::io::Write;

    fn entry(index: u64) -> Entry {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Blank,
        }
    }

    #[test]
    fn torn_and_corrupt_tails_are_detected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(segment_name(1));
        let mut buf = Vec::new();
        for i in 1..=3 {
            encode(&entry(i), &mut buf).unwrap();
        }
        let full = buf.len();
        File::create(&path).unwrap().write_all(&buf).unwrap();
        let s = scan(&path).unwrap();
        assert_eq!(s.records.len(), 3);
        assert!(s.bad_tail.is_none());

        // Cut the last record in half.
        File::create(&path)
            .unwrap()
            .write_all(&buf[..full - 5])
            .unwrap();
        let s = scan(&path).unwrap();
        assert_eq!(s.records.len(), 2);
        assert!(s.bad_tail.unwrap().contains("cut short"));
        let mut two = Vec::new();
        encode(&entry(1), &mut two).unwrap();
        encode(&entry(2), &mut two).unwrap();
        assert_eq!(
            s.good_len,
            two.len() as u64,
            "the good prefix ends after record 2"
        );

        // Flip one payload byte of the last record.
        let mut bad = buf.clone();
        bad[full - 2] ^= 0x55;
        File::create(&path).unwrap().write_all(&bad).unwrap();
        let s = scan(&path).unwrap();
        assert_eq!(s.records.len(), 2);
        assert_eq!(s.bad_tail.as_deref(), Some("checksum mismatch"));
    }
}
