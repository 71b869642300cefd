//! The log's files: recovery at start, then appends, truncation and purge. Owned by the single
//! writer thread, so every write to the log directory happens in the order Raft asked for it.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::segment::{self, SegmentFile};
use crate::node::fsutil;
use crate::node::types::{Entry, LogId};

/// Roll to a new segment past this size, so that purging after a snapshot frees whole files.
const SEGMENT_BYTES: u64 = 8 << 20;

/// What recovery found and kept.
pub struct Recovered {
    pub entries: BTreeMap<u64, Entry>,
    pub last_purged: Option<LogId>,
    pub disk: LogDisk,
}

struct Segment {
    first_index: u64,
    path: PathBuf,
    len: u64,
}

pub struct LogDisk {
    dir: PathBuf,
    segments: Vec<Segment>,
    /// Index -> (segment position in `segments` by first index, byte offset), for truncation.
    offsets: BTreeMap<u64, (u64, u64)>,
    current: Option<File>,
}

pub fn purged_path(data_dir: &Path) -> PathBuf {
    data_dir.join("purged.json")
}

/// Reads every segment, truncates a torn tail of the last one (logged), and refuses a log that
/// is corrupt anywhere else: applying a log with a hole would be silent data loss.
pub fn recover(data_dir: &Path) -> anyhow::Result<Recovered> {
    let dir = data_dir.join("log");
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let last_purged: Option<LogId> = fsutil::read_json(&purged_path(data_dir))?;
    let files = segment::list_segments(&dir)?;
    let mut entries = BTreeMap::new();
    let mut offsets = BTreeMap::new();
    let mut segments = Vec::new();
    let n = files.len();
    for (i, seg) in files.into_iter().enumerate() {
        let scan = segment::scan(&seg.path)?;
        segment::check_sequence(&seg, &scan.records)?;
        if let Some(why) = &scan.bad_tail {
            if i + 1 != n {
                bail!(
                    "log segment {} is corrupt at offset {} ({why}) and is not the last segment; \
                     move the data directory aside and let the node rejoin from a snapshot",
                    seg.path.display(),
                    scan.good_len
                );
            }
            tracing::warn!(
                target: "faultline::node",
                path = %seg.path.display(),
                offset = scan.good_len,
                dropped_bytes = scan.file_len - scan.good_len,
                "log tail is torn ({why}); truncating it (it was never acknowledged)"
            );
            truncate_file(&seg.path, scan.good_len)?;
        }
        for r in scan.records {
            let idx = r.entry.log_id.index;
            offsets.insert(idx, (seg.first_index, r.offset));
            if last_purged.is_none_or(|p| idx > p.index) {
                entries.insert(idx, r.entry);
            }
        }
        segments.push(Segment {
            first_index: seg.first_index,
            path: seg.path,
            len: scan.good_len,
        });
    }
    check_continuity(&segments, &entries, last_purged)?;
    Ok(Recovered {
        entries,
        last_purged,
        disk: LogDisk {
            dir,
            segments,
            offsets,
            current: None,
        },
    })
}

fn check_continuity(
    segments: &[Segment],
    entries: &BTreeMap<u64, Entry>,
    last_purged: Option<LogId>,
) -> anyhow::Result<()> {
    for w in segments.windows(2) {
        let expect = w[0].first_index;
        if w[1].first_index <= expect {
            bail!(
                "log segments {} and {} overlap",
                w[0].path.display(),
                w[1].path.display()
            );
        }
    }
    if let (Some(first), Some(p)) = (entries.keys().next(), last_purged) {
        if *first != p.index + 1 {
            bail!(
                "the log starts at index {first} but only entries up to {} were purged: entries \
                 are missing; move the data directory aside and let the node rejoin",
                p.index
            );
        }
    }
    let mut prev = None::<u64>;
    for &k in entries.keys() {
        if let Some(p) = prev {
            if k != p + 1 {
                bail!(
                    "the log has a hole between index {p} and {k}; move the data directory aside"
                );
            }
        }
        prev = Some(k);
    }
    Ok(())
}

fn truncate_file(path: &Path, len: u64) -> anyhow::Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    f.set_len(len)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("truncating {} to {len} bytes", path.display()))
}

impl LogDisk {
    /// Appends encoded records (`(index, bytes)`) without syncing; call [`LogDisk::sync`] after.
    pub fn append(&mut self, index: u64, record: &[u8]) -> anyhow::Result<()> {
        // A new segment also starts wherever the index sequence restarts (after a snapshot was
        // installed past the local log), so every segment stays consecutive.
        let continues = self.offsets.last_key_value().map(|(k, _)| k + 1) == Some(index);
        let roll = match self.segments.last() {
            None => true,
            Some(s) => s.len >= SEGMENT_BYTES || !continues,
        };
        if roll {
            self.roll(index)?;
        }
        if self.current.is_none() {
            let seg = self.segments.last().expect("a segment exists after roll");
            let f = OpenOptions::new()
                .append(true)
                .open(&seg.path)
                .with_context(|| format!("opening {}", seg.path.display()))?;
            self.current = Some(f);
        }
        let seg = self
            .segments
            .last_mut()
            .expect("a segment exists after roll");
        let f = self.current.as_mut().expect("opened above");
        f.write_all(record)
            .with_context(|| format!("appending to {}", seg.path.display()))?;
        self.offsets.insert(index, (seg.first_index, seg.len));
        seg.len += record.len() as u64;
        Ok(())
    }

    /// One fdatasync for everything appended since the last one: the group commit.
    pub fn sync(&mut self) -> anyhow::Result<()> {
        if let (Some(f), Some(seg)) = (&self.current, self.segments.last()) {
            f.sync_data()
                .with_context(|| format!("fsyncing {}", seg.path.display()))?;
        }
        Ok(())
    }

    fn roll(&mut self, first_index: u64) -> anyhow::Result<()> {
        self.sync()?;
        self.current = None;
        if self.segments.last().is_some_and(|s| s.len == 0) {
            let s = self.segments.pop().expect("checked above");
            if s.first_index != first_index {
                fs::remove_file(&s.path)
                    .with_context(|| format!("removing empty segment {}", s.path.display()))?;
            }
        }
        let path = self.dir.join(segment::segment_name(first_index));
        let f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("creating log segment {}", path.display()))?;
        drop(f);
        fsutil::sync_dir(&self.dir)?;
        self.segments.push(Segment {
            first_index,
            path,
            len: 0,
        });
        self.current = None;
        Ok(())
    }

    /// Removes entries from `since` on (a conflicting suffix from a deposed leader).
    pub fn truncate(&mut self, since: u64) -> anyhow::Result<()> {
        let Some(&(seg_first, offset)) = self.offsets.get(&since) else {
            return Ok(());
        };
        self.current = None;
        while self
            .segments
            .last()
            .is_some_and(|s| s.first_index > seg_first)
        {
            let s = self.segments.pop().expect("checked above");
            fs::remove_file(&s.path).with_context(|| format!("removing {}", s.path.display()))?;
        }
        if let Some(s) = self.segments.last_mut() {
            truncate_file(&s.path, offset)?;
            s.len = offset;
        }
        fsutil::sync_dir(&self.dir)?;
        self.offsets.split_off(&since);
        Ok(())
    }

    /// Deletes segments holding only entries up to `upto` (the purge marker is written first by
    /// the caller, so a crash in between leaves files recovery ignores).
    pub fn purge(&mut self, upto: u64) -> anyhow::Result<()> {
        let mut removed = false;
        while self.segments.len() > 1 && self.segments[1].first_index <= upto + 1 {
            let s = self.segments.remove(0);
            fs::remove_file(&s.path).with_context(|| format!("removing {}", s.path.display()))?;
            removed = true;
        }
        if removed {
            fsutil::sync_dir(&self.dir)?;
        }
        let keep = self.offsets.split_off(&(upto + 1));
        self.offsets = keep;
        Ok(())
    }
}

/// A read-only view for `faultline node inspect`: never truncates anything.
pub fn segments_for_inspect(data_dir: &Path) -> anyhow::Result<Vec<SegmentFile>> {
    segment::list_segments(&data_dir.join("log"))
}
