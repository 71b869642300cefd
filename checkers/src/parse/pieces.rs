//! Parsing a large input in pieces, one thread each.
//!
//! The input is cut at line starts that the format says may begin an event. Each piece is
//! parsed on its own, knowing its first line number. A piece that fails (the cut fell inside a
//! multi-line value, or the input is malformed) sends the whole input to one sequential parse,
//! so what is accepted, and every error message, is exactly what a sequential parse gives.

use std::ops::Range;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use super::RawEvent;
use crate::error::Result;

/// Pieces smaller than this are not worth a thread.
const PIECE_MIN: usize = 256 << 10;
/// More threads than this gain nothing on a parse bound by memory.
const MAX_THREADS: usize = 8;
/// Pieces per thread. Joining the pieces' events copies all but the first while the piece
/// being copied is still held, so the smaller the pieces, the less the join adds to the peak:
/// with one piece per thread on two cores, a 20M-event history briefly held 1.3 GB twice.
const PIECES_PER_THREAD: usize = 8;

/// Events and warnings of a piece or of the whole input.
/// A piece's events, its warnings, and the `error` texts of its events (by position in the
/// piece: few events have one, so they are kept apart from the events).
pub(super) type Parsed = (Vec<RawEvent>, Vec<String>, Vec<(usize, Arc<str>)>);

/// Told each range of the input once it is read for now (its lines counted, its events
/// parsed, or its parse failed): a caller whose input is a mapped file gives those pages back,
/// so that a large file is not held whole beside its events. A range may be told more than
/// once, and read again after it was told (a failed piece sends the input to one sequential
/// parse), so releasing must leave the bytes readable.
pub type Release<'a> = &'a (dyn Fn(Range<usize>) + Sync);

/// Parses `src[start..]`: `may_start(offset)` says whether a line beginning at `offset` may
/// begin a piece, and `piece(start, end, first_line, last)` parses `src[start..end]`, whose
/// first line is numbered `first_line` (1-based); `last` says whether it ends the input.
pub(super) fn parse(
    src: &[u8],
    start: usize,
    may_start: impl Fn(usize) -> bool,
    piece: impl Fn(usize, usize, usize, bool) -> Result<Parsed> + Sync,
    release: Release<'_>,
) -> Result<Parsed> {
    let threads = crate::check::cores().min(MAX_THREADS);
    let wanted = ((src.len() - start) / PIECE_MIN).min(threads * PIECES_PER_THREAD);
    let ranges = cut(src, start, wanted, may_start, release);
    if ranges.len() < 2 {
        return piece(start, src.len(), line_of(src, start), true);
    }
    // Counting lines reads the whole input: each piece is released once counted (its pages
    // come back from the page cache when it is parsed), else a mapped file would be resident
    // whole before the first event is parsed.
    let first_lines: Vec<usize> = {
        let mut line = line_of(src, start);
        let mut at = start;
        ranges
            .iter()
            .map(|r| {
                line += memchr::memchr_iter(b'\n', &src[at..r.start]).count();
                release(at..r.start);
                at = r.start;
                line
            })
            .collect()
    };
    let last = ranges.len() - 1;
    let next = AtomicUsize::new(0);
    // Set when a piece passed the memory limit: the pieces left are not started (starting one
    // reads its bytes, which would pass the limit further).
    let stop = AtomicBool::new(false);
    let work = || {
        let mut out = Vec::new();
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let Some(r) = ranges.get(k).filter(|_| !stop.load(Ordering::Relaxed)) else {
                return out;
            };
            let parsed = piece(r.start, r.end, first_lines[k], k == last);
            // Released whether it parsed or not: a sequential parse after a failed piece
            // reads its bytes again from the page cache.
            release(r.clone());
            if matches!(parsed, Err(crate::Error::MemoryLimit(_))) {
                stop.store(true, Ordering::Relaxed);
            }
            out.push((k, parsed));
        }
    };
    let mut results: Vec<(usize, Result<Parsed>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..threads.min(ranges.len()))
            .map(|_| s.spawn(work))
            .collect();
        let mut all = work();
        for h in handles {
            all.extend(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        }
        all
    });
    // Past the memory limit, a sequential parse would only pass it again.
    if let Some(pos) = results
        .iter()
        .position(|(_, r)| matches!(r, Err(crate::Error::MemoryLimit(_))))
    {
        return results.swap_remove(pos).1;
    }
    if results.iter().any(|(_, r)| r.is_err()) {
        return piece(start, src.len(), line_of(src, start), true);
    }
    results.sort_unstable_by_key(|(k, _)| *k);
    let total: usize = results
        .iter()
        .map(|(_, r)| r.as_ref().map_or(0, |(e, _, _)| e.len()))
        .sum();
    let mut pieces = results.into_iter().filter_map(|(_, r)| r.ok());
    let Some((mut events, mut warnings, mut errors)) = pieces.next() else {
        return Ok((Vec::new(), Vec::new(), Vec::new()));
    };
    // The first piece's vector grows in place (a large block is remapped, not copied), and
    // each other piece is freed as soon as it is copied.
    events.reserve_exact(total - events.len());
    for (e, w, errs) in pieces {
        let base = events.len();
        errors.extend(errs.into_iter().map(|(i, text)| (base + i, text)));
        events.extend(e);
        warnings.extend(w);
    }
    Ok((events, warnings, errors))
}

/// Up to `n` ranges covering `src[start..]`, cut at line starts that `may_start` accepts,
/// near equal sizes.
fn cut(
    src: &[u8],
    start: usize,
    n: usize,
    may_start: impl Fn(usize) -> bool,
    release: Release<'_>,
) -> Vec<Range<usize>> {
    let mut bounds = vec![start];
    for k in 1..n {
        let target = start + (src.len() - start) * k / n;
        let from = (bounds.last().unwrap_or(&start) + 1).max(target);
        // The first acceptable line start at or after `from`: search from the byte before it,
        // so that a line starting right at `from` counts.
        // A long search (a long line, or lines where no piece may start) gives back what it
        // has read as it goes.
        let mut at = from - 1;
        let mut kept = at;
        let found = loop {
            let end = (at + super::RELEASE_EVERY).min(src.len());
            match memchr::memchr(b'\n', &src[at..end]) {
                Some(nl) if at + nl + 1 < src.len() => {
                    at += nl + 1;
                    if may_start(at) {
                        break Some(at);
                    }
                }
                None if end < src.len() => at = end,
                _ => break None,
            }
            if at - kept > super::RELEASE_EVERY {
                release(kept..at);
                kept = at;
            }
        };
        if found.is_none() {
            release(kept..src.len());
        }
        match found {
            Some(b) => bounds.push(b),
            None => break,
        }
    }
    bounds.push(src.len());
    bounds.windows(2).map(|w| w[0]..w[1]).collect()
}

/// The 1-based line number of `offset`.
fn line_of(src: &[u8], offset: usize) -> usize {
    1 + memchr::memchr_iter(b'\n', &src[..offset]).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_start_at_accepted_lines_and_cover_the_input() {
        let src = b"a\nb\nxc\nd\nxe\n";
        let none: Release<'_> = &|_| {};
        let r = cut(src, 0, 3, |at| src[at] == b'x', none);
        assert_eq!(r, vec![0..4, 4..9, 9..12]);
        assert_eq!(&src[r[1].clone()], b"xc\nd\n");
        assert_eq!(cut(src, 0, 1, |_| true, none), vec![0..12]);
        // No acceptable line: one piece.
        assert_eq!(cut(src, 2, 4, |_| false, none), vec![2..12]);
        assert_eq!(line_of(src, 4), 3);
    }

    /// Each piece is released once parsed (or once it failed), and the pieces cover the
    /// input; past the memory limit, no piece is started.
    #[test]
    fn each_parsed_piece_is_released_once() {
        let src: Vec<u8> = b"0123456789abcdef\n".repeat(200_000);
        let run = |error: Option<fn() -> crate::Error>| {
            let parsed = std::sync::Mutex::new(Vec::new());
            let released_parsed = std::sync::Mutex::new(Vec::new());
            let release = |r: Range<usize>| {
                if parsed.lock().unwrap().contains(&r) {
                    released_parsed.lock().unwrap().push(r);
                }
            };
            let piece = |start: usize, end: usize, _line: usize, _last: bool| {
                parsed.lock().unwrap().push(start..end);
                match error {
                    Some(e) if start > 0 && end < src.len() => Err(e()),
                    _ => Ok((Vec::new(), Vec::new(), Vec::new())),
                }
            };
            let outcome = parse(&src, 0, |_| true, piece, &release);
            let mut got = released_parsed.into_inner().unwrap();
            got.sort_by_key(|r| r.start);
            (outcome.map(|_| ()), got)
        };
        let covers = |got: &[Range<usize>]| {
            got.first().map(|r| r.start) == Some(0)
                && got.last().map(|r| r.end) == Some(src.len())
                && got.windows(2).all(|w| w[0].end == w[1].start)
        };
        let (outcome, got) = run(None);
        assert!(outcome.is_ok());
        assert!(got.len() > crate::check::cores(), "{} pieces", got.len());
        assert!(covers(&got), "{got:?}");

        // A piece that does not parse is released too (then one sequential parse reads all).
        let (outcome, got) = run(Some(|| crate::Error::Model("cut inside a value".into())));
        assert!(outcome.is_ok());
        assert!(covers(&got), "{got:?}");

        // Past the memory limit: that error, and pieces not yet started are never started.
        let (outcome, got) = run(Some(|| crate::Error::MemoryLimit("over".into())));
        assert!(matches!(outcome, Err(crate::Error::MemoryLimit(_))));
        let threads = crate::check::cores().min(MAX_THREADS);
        assert!(got.len() <= 1 + 2 * threads, "{} pieces started", got.len());
        assert!(!got.contains(&(0..src.len())), "no sequential parse");
    }
}
