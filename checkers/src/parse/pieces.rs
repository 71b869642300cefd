//! Parsing a large input in pieces, one thread each.
//!
//! The input is cut at line starts that the format says may begin an event. Each piece is
//! parsed on its own, knowing its first line number. A piece that fails (the cut fell inside a
//! multi-line value, or the input is malformed) sends the whole input to one sequential parse,
//! so what is accepted, and every error message, is exactly what a sequential parse gives.

use std::ops::Range;

use std::sync::Arc;

use super::RawEvent;
use crate::error::Result;

/// Pieces smaller than this are not worth a thread.
const PIECE_MIN: usize = 256 << 10;
/// More threads than this gain nothing on a parse bound by memory.
const MAX_PIECES: usize = 8;

/// Events and warnings of a piece or of the whole input.
/// A piece's events, its warnings, and the `error` texts of its events (by position in the
/// piece: few events have one, so they are kept apart from the events).
pub(super) type Parsed = (Vec<RawEvent>, Vec<String>, Vec<(usize, Arc<str>)>);

/// Parses `src[start..]`: `may_start(offset)` says whether a line beginning at `offset` may
/// begin a piece, and `piece(start, end, first_line, last)` parses `src[start..end]`, whose
/// first line is numbered `first_line` (1-based); `last` says whether it ends the input.
pub(super) fn parse(
    src: &[u8],
    start: usize,
    may_start: impl Fn(usize) -> bool,
    piece: impl Fn(usize, usize, usize, bool) -> Result<Parsed> + Sync,
) -> Result<Parsed> {
    let threads = crate::check::cores();
    let wanted = ((src.len() - start) / PIECE_MIN)
        .min(threads)
        .min(MAX_PIECES);
    let ranges = cut(src, start, wanted, may_start);
    if ranges.len() < 2 {
        return piece(start, src.len(), line_of(src, start), true);
    }
    let first_lines: Vec<usize> = {
        let mut line = line_of(src, start);
        let mut at = start;
        ranges
            .iter()
            .map(|r| {
                line += memchr::memchr_iter(b'\n', &src[at..r.start]).count();
                at = r.start;
                line
            })
            .collect()
    };
    let last = ranges.len() - 1;
    let results: Vec<Result<Parsed>> = std::thread::scope(|s| {
        let handles: Vec<_> = ranges[1..]
            .iter()
            .zip(&first_lines[1..])
            .enumerate()
            .map(|(k, (r, &line))| {
                let piece = &piece;
                s.spawn(move || piece(r.start, r.end, line, k + 1 == last))
            })
            .collect();
        let mut out = vec![piece(ranges[0].start, ranges[0].end, first_lines[0], false)];
        out.extend(
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))),
        );
        out
    });
    if results.iter().any(Result::is_err) {
        return piece(start, src.len(), line_of(src, start), true);
    }
    let mut events = Vec::with_capacity(
        results
            .iter()
            .map(|r| r.as_ref().map_or(0, |(e, _, _)| e.len()))
            .sum(),
    );
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    for (e, w, errs) in results.into_iter().flatten() {
        let base = events.len();
        errors.extend(errs.into_iter().map(|(i, text)| (base + i, text)));
        events.extend(e);
        warnings.extend(w);
    }
    Ok((events, warnings, errors))
}

/// Up to `n` ranges covering `src[start..]`, cut at line starts that `may_start` accepts,
/// near equal sizes.
fn cut(src: &[u8], start: usize, n: usize, may_start: impl Fn(usize) -> bool) -> Vec<Range<usize>> {
    let mut bounds = vec![start];
    for k in 1..n {
        let target = start + (src.len() - start) * k / n;
        let from = (bounds.last().unwrap_or(&start) + 1).max(target);
        // The first acceptable line start at or after `from`: search from the byte before it,
        // so that a line starting right at `from` counts.
        let mut at = from - 1;
        let found = loop {
            match memchr::memchr(b'\n', &src[at..]) {
                Some(nl) if at + nl + 1 < src.len() => {
                    at += nl + 1;
                    if may_start(at) {
                        break Some(at);
                    }
                }
                _ => break None,
            }
        };
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
        let r = cut(src, 0, 3, |at| src[at] == b'x');
        assert_eq!(r, vec![0..4, 4..9, 9..12]);
        assert_eq!(&src[r[1].clone()], b"xc\nd\n");
        assert_eq!(cut(src, 0, 1, |_| true), vec![0..12]);
        // No acceptable line: one piece.
        assert_eq!(cut(src, 2, 4, |_| false), vec![2..12]);
        assert_eq!(line_of(src, 4), 3);
    }
}
