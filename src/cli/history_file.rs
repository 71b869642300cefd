//! The bytes of a history file: mapped into memory when it is large, read otherwise.
//!
//! Reading a file copies it into fresh pages, and on a virtual machine each fresh page costs
//! microseconds: for a 300 KB history, reading took ten times as long as mapping the page
//! cache's own pages. A mapping is read-only and private; like other tools that map their
//! inputs (ripgrep), we accept that a file truncated by another process while it is being
//! checked ends the check with SIGBUS.

use std::fs::File;
use std::io::Read;
use std::ops::Deref;
use std::os::fd::AsRawFd;
use std::path::Path;

/// Files smaller than this are read: mapping one costs a few system calls more.
const MAP_MIN: u64 = 64 << 10;

/// A history file's bytes.
pub enum HistoryFile {
    Read(Vec<u8>),
    Mapped(Mapping),
}

/// A read-only private mapping of a whole file, unmapped on drop.
pub struct Mapping {
    ptr: *const u8,
    len: usize,
}

// SAFETY: the mapping is read-only memory owned by this value; reading it from several
// threads at once is as safe as reading a shared `&[u8]`.
unsafe impl Send for Mapping {}
unsafe impl Sync for Mapping {}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr` and `len` are exactly what `mmap` returned and was given, and nothing
        // borrows the mapping any more (borrows of `HistoryFile` end before it drops).
        unsafe {
            libc::munmap(self.ptr as *mut libc::c_void, self.len);
        }
    }
}

impl Deref for HistoryFile {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            HistoryFile::Read(v) => v,
            // SAFETY: the mapping is `len` readable bytes for as long as `self` lives.
            HistoryFile::Mapped(m) => unsafe { std::slice::from_raw_parts(m.ptr, m.len) },
        }
    }
}

impl HistoryFile {
    /// Gives back the pages of `range` that the process holds, when the bytes are a mapping:
    /// the pages stay in the page cache and come back from the file if read again. A large
    /// history is released piece by piece as it is parsed, so that it is not held whole beside
    /// its events (a 2 GB file was a third of a check's peak). Read bytes are kept: giving
    /// back a heap page would zero it.
    pub fn release(&self, range: std::ops::Range<usize>) {
        let HistoryFile::Mapped(m) = self else {
            return;
        };
        let page = checkers::memory::page_size();
        // Only the pages wholly inside the range (its neighbours may still be being parsed),
        // and the mapping's last, partial, page when the range reaches the end.
        let start = range.start.div_ceil(page) * page;
        let end = if range.end >= m.len {
            m.len.div_ceil(page) * page
        } else {
            range.end / page * page
        };
        if end <= start {
            return;
        }
        // SAFETY: `start..end` lies inside the mapping and is page-aligned. The mapping is a
        // private, read-only file mapping that was never written, so dropping its pages loses
        // nothing: a later read faults the file's bytes back in.
        let rc = unsafe {
            libc::madvise(
                m.ptr.add(start) as *mut libc::c_void,
                end - start,
                libc::MADV_DONTNEED,
            )
        };
        if rc != 0 {
            tracing::debug!(
                "madvise(DONTNEED) failed: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

/// Opens `path`: a large regular file is mapped, a small one read (`check` refuses anything but
/// regular files before it gets here).
pub fn open(path: &Path) -> std::io::Result<HistoryFile> {
    let mut file = File::open(path)?;
    let meta = file.metadata()?;
    if meta.is_file() && meta.len() >= MAP_MIN {
        if let Some(m) = map(&file, meta.len()) {
            return Ok(HistoryFile::Mapped(m));
        }
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.read_to_end(&mut bytes)?;
    Ok(HistoryFile::Read(bytes))
}

/// Maps `len` bytes of `file`, or `None` when the system will not (then the file is read).
fn map(file: &File, len: u64) -> Option<Mapping> {
    let len = usize::try_from(len).ok()?;
    // SAFETY: a fresh read-only private mapping of an open file descriptor, checked for failure;
    // the descriptor may close afterwards, the mapping stays valid until `munmap`.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            file.as_raw_fd(),
            0,
        )
    };
    (ptr != libc::MAP_FAILED).then_some(Mapping {
        ptr: ptr as *const u8,
        len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The resident kilobytes of the mapping that holds `at`, from `/proc/self/smaps`.
    fn mapping_rss_kb(at: *const u8) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
        let at = at as usize;
        let mut inside = false;
        for line in smaps.lines() {
            let head = line.split_whitespace().next().unwrap_or_default();
            if let Some((lo, hi)) = head.split_once('-') {
                if let (Ok(lo), Ok(hi)) =
                    (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
                {
                    inside = lo <= at && at < hi;
                    continue;
                }
            }
            if inside {
                if let Some(kb) = line.strip_prefix("Rss:") {
                    return kb.trim().trim_end_matches("kB").trim().parse().expect("kB");
                }
            }
        }
        panic!("no mapping holds {at:#x}")
    }

    #[test]
    fn small_files_are_read_and_large_ones_mapped_with_the_same_bytes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let small = dir.path().join("small.edn");
        std::fs::write(&small, b"[{:process 0}]").expect("write");
        let f = open(&small).expect("open small");
        assert!(matches!(f, HistoryFile::Read(_)));
        assert_eq!(&*f, b"[{:process 0}]");

        let large = dir.path().join("large.edn");
        let bytes: Vec<u8> = (0..MAP_MIN as usize + 4097)
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&large, &bytes).expect("write");
        let f = open(&large).expect("open large");
        assert!(matches!(f, HistoryFile::Mapped(_)));
        assert_eq!(&*f, &bytes[..]);
        // Released pages leave the process (the mapping's resident size drops to nothing)
        // and come back from the file, unchanged; a read file ignores releases.
        let sum: u64 = f.iter().map(|&b| u64::from(b)).sum();
        assert!(sum > 0);
        assert!(
            mapping_rss_kb(f.as_ptr()) >= 64,
            "touched pages are resident"
        );
        f.release(0..bytes.len());
        assert_eq!(
            mapping_rss_kb(f.as_ptr()),
            0,
            "released pages are given back"
        );
        f.release(100..9000);
        assert_eq!(&*f, &bytes[..]);
        let small_file = open(&small).expect("open small");
        small_file.release(0..small_file.len());
        assert_eq!(&*small_file, b"[{:process 0}]");

        assert!(open(&dir.path().join("missing")).is_err());
    }
}
