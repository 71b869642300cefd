//! Structure-aware damage for the parser fuzz tests (shared by `checkers/tests/fuzz_histories.rs`
//! and `tests/cli/fuzz.rs`): real inputs mutated the ways files get damaged and hand-edited
//! (bytes flipped, inserted, deleted; cut short; lines dropped, doubled, swapped; pieces of
//! another input spliced in; tokens of the format dropped anywhere), so that most cases get
//! past the first syntax check and reach the code behind it.
//!
//! How many cases a property runs: `FAULTLINE_FUZZ_CASES` (default: a few seconds' worth in
//! `cargo test`); set `FAULTLINE_FUZZ_SAVE=DIR` to keep every input that fails as a file there.

use proptest::prelude::*;

/// One change to an input. Positions are taken modulo the input's length, so any value is valid.
#[derive(Debug, Clone)]
pub enum Mutation {
    Set {
        at: usize,
        byte: u8,
    },
    Insert {
        at: usize,
        bytes: Vec<u8>,
    },
    Token {
        at: usize,
        token: usize,
    },
    Delete {
        at: usize,
        len: usize,
    },
    Truncate {
        at: usize,
    },
    Splice {
        at: usize,
        from: usize,
        start: usize,
        len: usize,
    },
    DupLine {
        line: usize,
    },
    DropLine {
        line: usize,
    },
    SwapLines {
        a: usize,
        b: usize,
    },
    /// Replaces the text between two positions with a token (a value swapped for another).
    Replace {
        at: usize,
        len: usize,
        token: usize,
    },
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<usize>();
    prop_oneof![
        3 => (at, any::<u8>()).prop_map(|(at, byte)| Mutation::Set { at, byte }),
        1 => (at, prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        4 => (at, any::<usize>()).prop_map(|(at, token)| Mutation::Token { at, token }),
        2 => (at, 1usize..16).prop_map(|(at, len)| Mutation::Delete { at, len }),
        1 => at.prop_map(|at| Mutation::Truncate { at }),
        1 => (at, any::<usize>(), any::<usize>(), 1usize..200)
            .prop_map(|(at, from, start, len)| Mutation::Splice { at, from, start, len }),
        1 => any::<usize>().prop_map(|line| Mutation::DupLine { line }),
        1 => any::<usize>().prop_map(|line| Mutation::DropLine { line }),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines { a, b }),
        3 => (at, 1usize..12, any::<usize>())
            .prop_map(|(at, len, token)| Mutation::Replace { at, len, token }),
    ]
}

/// Up to `max` mutations.
pub fn mutations(max: usize) -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(mutation(), 1..=max)
}

fn lines(b: &[u8]) -> Vec<Vec<u8>> {
    b.split_inclusive(|&c| c == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

/// `seed` with `muts` applied in order; `others` are what splices copy from, `tokens` what
/// `Token` and `Replace` insert.
pub fn apply(seed: &[u8], others: &[Vec<u8>], tokens: &[&[u8]], muts: &[Mutation]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for m in muts {
        let n = b.len();
        let pos = |at: usize| if n == 0 { 0 } else { at % (n + 1) };
        match m {
            Mutation::Set { at, byte } => {
                if n > 0 {
                    b[at % n] = *byte;
                }
            }
            Mutation::Insert { at, bytes } => {
                let at = pos(*at);
                b.splice(at..at, bytes.iter().copied());
            }
            Mutation::Token { at, token } => {
                let at = pos(*at);
                let t = tokens[token % tokens.len()];
                b.splice(at..at, t.iter().copied());
            }
            Mutation::Delete { at, len } => {
                let at = pos(*at);
                let end = (at + len).min(n);
                b.drain(at..end);
            }
            Mutation::Truncate { at } => b.truncate(pos(*at)),
            Mutation::Splice {
                at,
                from,
                start,
                len,
            } => {
                if others.is_empty() {
                    continue;
                }
                let src = &others[from % others.len()];
                if src.is_empty() {
                    continue;
                }
                let start = start % src.len();
                let end = (start + len).min(src.len());
                let at = pos(*at);
                b.splice(at..at, src[start..end].iter().copied());
            }
            Mutation::DupLine { line } => {
                let mut ls = lines(&b);
                if !ls.is_empty() {
                    let i = line % ls.len();
                    let l = ls[i].clone();
                    ls.insert(i, l);
                    b = ls.concat();
                }
            }
            Mutation::DropLine { line } => {
                let mut ls = lines(&b);
                if !ls.is_empty() {
                    ls.remove(line % ls.len());
                    b = ls.concat();
                }
            }
            Mutation::SwapLines { a, b: other } => {
                let mut ls = lines(&b);
                if !ls.is_empty() {
                    let (i, j) = (a % ls.len(), other % ls.len());
                    ls.swap(i, j);
                    b = ls.concat();
                }
            }
            Mutation::Replace { at, len, token } => {
                let at = pos(*at);
                let end = (at + len).min(n);
                let t = tokens[token % tokens.len()];
                b.splice(at..end, t.iter().copied());
            }
        }
    }
    b
}

/// Cases per property: `FAULTLINE_FUZZ_CASES`, else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("FAULTLINE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `f` on `input`; when it panics and `FAULTLINE_FUZZ_SAVE` names a directory, the input
/// is written there first (named by its hash, with `ext`), so that a long run by hand leaves
/// every crashing input behind to add to `tests/data/fuzz/`.
pub fn saving_failures(input: &[u8], ext: &str, f: impl FnOnce()) {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    if let Err(panic) = result {
        if let Some(dir) = std::env::var_os("FAULTLINE_FUZZ_SAVE") {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            input.hash(&mut h);
            let dir = std::path::PathBuf::from(dir);
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(dir.join(format!("{:016x}.{ext}", h.finish())), input);
        }
        std::panic::resume_unwind(panic);
    }
}

/// The regular files directly in `dir`, sorted, but its README.
pub fn files_in(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file() && !p.ends_with("README.md"))
        .collect();
    out.sort();
    out
}
