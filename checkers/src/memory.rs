//! The process's real memory, measured: what `--memory-limit` bounds.
//!
//! The limit is on the resident set of the whole process (the parsed history, the prepared
//! operations, every search's memo and interned states, the transactional graph), read from
//! `/proc/self/statm`, not estimated from any one structure's capacity. Reading it costs a few
//! microseconds, so it is sampled: at most once a millisecond for the whole process (the
//! threads share the sample), from the loops that allocate (the search every 1,024 steps, the
//! transactional checker's phases). Between samples a search grows by at most what it inserts
//! in a millisecond; a table about to double is foreseen (its new allocation is added to the
//! sample before it happens, see `Cache::pending_growth` in the search's memo).
//!
//! Where `/proc` is missing (not Linux), [`rss_bytes`] is `None` and the search falls back to
//! accounting its memo's capacity.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How often the resident set is read, at most.
const SAMPLE: Duration = Duration::from_millis(1);

/// Resident bytes of this process now, or `None` where that cannot be read.
pub fn rss_bytes() -> Option<usize> {
    use std::io::Read;
    let mut f = std::fs::File::open("/proc/self/statm").ok()?;
    let mut buf = [0u8; 128];
    let n = f.read(&mut buf).ok()?;
    let text = std::str::from_utf8(&buf[..n]).ok()?;
    let pages: usize = text.split_ascii_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

/// The most this process has held resident so far (`VmHWM`), or `None` where that cannot be
/// read: what a benchmark or a CI job compares with `--memory-limit`.
pub fn peak_rss_bytes() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb << 10)
}

/// The page size, from the auxiliary vector (`AT_PAGESZ`); 4 KiB when it cannot be read.
pub fn page_size() -> usize {
    static PAGE: OnceLock<usize> = OnceLock::new();
    *PAGE.get_or_init(|| {
        const AT_PAGESZ: u64 = 6;
        let word = std::mem::size_of::<usize>();
        std::fs::read("/proc/self/auxv")
            .ok()
            .and_then(|b| {
                b.chunks_exact(2 * word).find_map(|pair| {
                    let read = |s: &[u8]| {
                        let mut w = [0u8; 8];
                        w[..word].copy_from_slice(s);
                        u64::from_ne_bytes(w)
                    };
                    (read(&pair[..word]) == AT_PAGESZ).then(|| read(&pair[word..]) as usize)
                })
            })
            .filter(|&p| p.is_power_of_two())
            .unwrap_or(4096)
    })
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

static LAST_SAMPLE_NS: AtomicU64 = AtomicU64::new(0);
static LAST_RSS: AtomicU64 = AtomicU64::new(0);

/// The resident set, read at most once per millisecond for the whole process (else the last
/// reading); `None` where it cannot be read.
pub fn rss_sampled() -> Option<usize> {
    let now = epoch().elapsed().as_nanos() as u64 + 1;
    let last = LAST_SAMPLE_NS.load(Ordering::Relaxed);
    if last != 0 && now.saturating_sub(last) < SAMPLE.as_nanos() as u64 {
        return Some(LAST_RSS.load(Ordering::Relaxed) as usize);
    }
    let rss = rss_bytes()?;
    LAST_RSS.store(rss as u64, Ordering::Relaxed);
    LAST_SAMPLE_NS.store(now, Ordering::Relaxed);
    Some(rss)
}

/// Whether `extra` more bytes on top of the (sampled) resident set would pass `limit`: the
/// resident bytes when so.
pub fn over(limit: usize, extra: usize) -> Option<usize> {
    let rss = rss_sampled()?;
    (rss.saturating_add(extra) > limit).then_some(rss)
}

/// "memory limit 1024 MB reached (1031 MB resident)": the reason a check stopped.
pub fn reason(limit: usize, rss: usize) -> String {
    format!(
        "memory limit {} MB reached ({} MB resident)",
        limit >> 20,
        rss >> 20
    )
}

/// The limit as the loops that read and prepare a history see it: they ask every few thousand
/// events, and stop with [`crate::Error::MemoryLimit`] once the process is past it. Without
/// it, a history whose parse alone needs more than the limit passed it while parsing (a 10M
/// operation file: 6.4 GB under a 1 GiB limit).
#[derive(Debug, Clone, Copy, Default)]
pub struct Guard {
    limit: Option<usize>,
}

impl Guard {
    /// Items between two looks at the resident set: a few milliseconds of parsing, a few
    /// hundred kilobytes of events.
    pub const EVERY: usize = 4096;

    pub fn new(limit: Option<usize>) -> Self {
        Guard { limit }
    }

    /// No limit.
    pub fn none() -> Self {
        Guard { limit: None }
    }

    /// `Err` when the process is past the limit; `doing` says what was under way ("reading
    /// line 1200000"), for the reason.
    pub fn check(&self, doing: impl FnOnce() -> String) -> crate::Result<()> {
        match self.limit.and_then(|l| over(l, 0).map(|rss| (l, rss))) {
            Some((limit, rss)) => Err(crate::Error::MemoryLimit(format!(
                "{} while {}",
                reason(limit, rss),
                doing()
            ))),
            None => Ok(()),
        }
    }

    /// `Err` when `extra` more bytes would take the process past the limit: asked before one
    /// large allocation (a value of millions of items, a line of many megabytes), which no look
    /// between two events would see coming.
    pub fn room(&self, extra: usize, doing: impl FnOnce() -> String) -> crate::Result<()> {
        match self.limit.and_then(|l| over(l, extra).map(|rss| (l, rss))) {
            Some((limit, rss)) => Err(crate::Error::MemoryLimit(format!(
                "{} MB more needed: {} while {}",
                extra >> 20,
                reason(limit, rss),
                doing()
            ))),
            None => Ok(()),
        }
    }

    /// Before a push that may grow `v`: where the allocator cannot remap the block, growing
    /// copies it, and both blocks are resident for a moment (a list of millions of items grew
    /// from 24 to 48 MB in one step, past a 48 MB limit that a look a millisecond before had
    /// not reached). Vectors under a megabyte are not asked about.
    pub fn before_growing<T>(
        &self,
        v: &Vec<T>,
        doing: impl FnOnce() -> String,
    ) -> crate::Result<()> {
        let bytes = v.capacity() * std::mem::size_of::<T>();
        if v.len() == v.capacity() && bytes >= 1 << 20 {
            self.room(bytes, doing)
        } else {
            Ok(())
        }
    }

    /// Looks at the limit from inside one value being read, `n` items of `T` so far: the
    /// resident set (every [`Guard::ITEMS_EVERY`] items), room to grow the items' vector (see
    /// [`Guard::before_growing`]), and the value's own size. A value may be copied a few times
    /// on its way through a check (interned, rendered into a report), so one that takes more
    /// than an eighth of the limit is refused while it is read, before the copies are made (a
    /// read of 17M items, 34 MB of JSON, passed 1.5 GB under a 1 GiB limit).
    pub fn inside_value<T>(&self, items: &Vec<T>, doing: impl Fn() -> String) -> crate::Result<()> {
        let n = items.len();
        if n % Self::ITEMS_EVERY == Self::ITEMS_EVERY - 1 {
            self.check(&doing)?;
            self.one_value(n * std::mem::size_of::<T>(), &doing)?;
        }
        self.before_growing(items, doing)
    }

    /// `Err` when one value being read has passed an eighth of the limit (`bytes` so far):
    /// see [`Guard::inside_value`].
    pub fn one_value(&self, bytes: usize, doing: impl FnOnce() -> String) -> crate::Result<()> {
        match self.limit {
            Some(limit) if bytes > limit / 8 => Err(crate::Error::MemoryLimit(format!(
                "memory limit {} MB: one value passed {} MB, an eighth of the limit (a check holds a few copies of a value), while {}",
                limit >> 20,
                bytes >> 20,
                doing()
            ))),
            _ => Ok(()),
        }
    }

    /// Items of one value between two looks at the limit (see [`Guard::inside_value`]).
    pub const ITEMS_EVERY: usize = 1 << 16;

    /// [`Guard::check`] on every [`Guard::EVERY`]th `i`, starting with the first (so a loop
    /// run once per key looks at least once per key; the look is sampled, at most once a
    /// millisecond for the process, so many short loops cost no more than one long one).
    pub fn every(&self, i: usize, doing: impl FnOnce() -> String) -> crate::Result<()> {
        if i % Self::EVERY == 0 {
            self.check(doing)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resident_set_is_read_and_grows_with_touched_memory() {
        let Some(before) = rss_bytes() else {
            return; // not Linux: nothing to measure, the fallback is used
        };
        assert!(before > 0);
        // The resident set is the whole process's, and other tests free memory on other
        // threads between the two readings (in CI one freed 20 MB: +43 MB for 64 MB
        // touched), so the growth is measured up to three times, each a fresh vector.
        let mut seen = Vec::new();
        let grew = (0..3).any(|_| {
            let before = rss_bytes().unwrap();
            // black_box: an optimised build would otherwise never allocate an unused vector.
            let v = std::hint::black_box(vec![1u8; 64 << 20]);
            let after = rss_bytes().unwrap();
            seen.push((before, after));
            // The vector alone is resident, whatever other threads do.
            assert!(after >= 64 << 20, "{before} -> {after}");
            drop(v);
            after >= before + (48 << 20)
        });
        assert!(grew, "64 MB touched, resident before -> after: {seen:?}");
        assert!(over(1, 0).is_some());
        assert!(over(usize::MAX, 0).is_none());
    }
}
