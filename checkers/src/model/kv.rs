//! One key of a key-value store: a string with get, put and append (Porcupine's kv model,
//! checked key by key).
//!
//! The model never builds the strings it reasons about. A key's history names a fixed set of
//! strings (the initial value, and every value put, appended or read), and only those a get can
//! return matter. So a state is one of:
//! * a prefix of some string of that set, written canonically as (the first string of the
//!   sorted set that has the prefix, the prefix's length): equal states have equal pairs;
//! * `Dead`: a string that is a prefix of none of them. Appends keep a dead string dead and no
//!   get can ever match it; only a put revives the key. All dead strings behave alike in every
//!   future, so the search treats them as one state (and its memo merges them).
//!
//! A get is then an integer comparison, a state is a `Copy` word, and an append is a binary
//! search over the sorted set, which each search does once per (state, appended string) and
//! remembers in its scratch.

use std::collections::HashMap;
use std::sync::Arc;

use crate::hash::FxBuild as Fx;
use crate::value::{brief, BRIEF};

use super::Model;

/// An operation; the `u32`s are ids of strings in the model's set ([`Kv::id`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KvOp {
    /// A get that returned this string (must equal the state).
    Get(u32),
    /// A get whose result is unknown.
    GetAny,
    Put(u32),
    Append(u32),
}

/// The value of a key, as the search sees it (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KvState(u64);

impl KvState {
    const DEAD: KvState = KvState(u64::MAX);

    fn live(first: u32, len: u32) -> KvState {
        KvState(u64::from(first) << 32 | u64::from(len))
    }

    /// (the first string having this prefix, the prefix's length), or `None` when dead.
    fn parts(self) -> Option<(u32, u32)> {
        (self != KvState::DEAD).then_some(((self.0 >> 32) as u32, self.0 as u32))
    }
}

/// A string register with append, over the strings its history names.
#[derive(Debug, Clone)]
pub struct Kv {
    /// Sorted by bytes, without duplicates; an id is an index here.
    strings: Strings,
    /// `lcp[k][i]`: the shortest common prefix of neighbours among strings `i..=i + 2^k`
    /// (a sparse table, so "is the state a prefix of string g" is two lookups).
    lcp: Arc<[Vec<u32>]>,
    init: u32,
}

impl Kv {
    /// A key starting at `init`, whose operations use `strings` (every value a get returned,
    /// put or appended must be among them; more do no harm).
    pub fn new<'a>(init: &'a str, strings: impl IntoIterator<Item = &'a str>) -> Kv {
        let strings: Vec<&str> = strings.into_iter().collect();
        Kv::with_ids(init, &strings).0
    }

    /// [`Kv::new`], also giving the id of each of `strings`, in order.
    pub fn with_ids(init: &str, strings: &[&str]) -> (Kv, Vec<u32>) {
        // Sort the positions by their strings (`init` as one more, last): equal strings become
        // neighbours and share an id. Shared texts compare by address first; hashing instead
        // would read every byte of every string, and values run to hundreds of bytes.
        // Each string's first eight bytes, as a number that orders like them, settle most
        // comparisons without reading the strings.
        let n = strings.len();
        let at = |i: u32| strings.get(i as usize).copied().unwrap_or(init);
        let lead = |s: &str| {
            let mut w = [0u8; 8];
            let k = s.len().min(8);
            w[..k].copy_from_slice(&s.as_bytes()[..k]);
            u64::from_be_bytes(w)
        };
        let mut order: Vec<(u64, u32)> = (0..=n as u32).map(|i| (lead(at(i)), i)).collect();
        order.sort_unstable_by(|&(la, a), &(lb, b)| {
            la.cmp(&lb).then_with(|| {
                let (a, b) = (at(a), at(b));
                if std::ptr::eq(a, b) {
                    std::cmp::Ordering::Equal
                } else {
                    a.cmp(b)
                }
            })
        });
        let mut ids = vec![0u32; n + 1];
        let mut distinct: Vec<&str> = Vec::new();
        for &(_, i) in &order {
            let s = at(i);
            if !distinct
                .last()
                .is_some_and(|&l| std::ptr::eq(l, s) || l == s)
            {
                distinct.push(s);
            }
            ids[i as usize] = distinct.len() as u32 - 1;
        }
        let sorted = Strings::new(distinct.iter().copied());
        let init = ids.pop().unwrap_or_default();
        let lcp = sparse_lcp(&sorted);
        (
            Kv {
                strings: sorted,
                lcp: lcp.into(),
                init,
            },
            ids,
        )
    }

    /// The id of `s`, which must have been given to [`Kv::new`].
    pub fn id(&self, s: &str) -> Option<u32> {
        let i = self
            .strings
            .partition_point(0..self.strings.len(), |x| x < s);
        (self.strings.get(i) == Some(s)).then_some(i as u32)
    }

    /// The string of an id.
    pub fn string(&self, id: u32) -> &str {
        self.strings.get(id as usize).unwrap_or("?")
    }

    /// String `id` quoted for people, cut short when long (see [`brief`]).
    fn quoted(&self, id: u32) -> String {
        brief(format_args!("{:?}", self.string(id)), BRIEF)
    }

    /// The state holding exactly string `id`: it is the first string having itself as prefix.
    fn exactly(&self, id: u32) -> KvState {
        KvState::live(id, self.string(id).len() as u32)
    }

    fn prefix(&self, first: u32, len: u32) -> &str {
        self.string(first).get(..len as usize).unwrap_or("?")
    }

    /// Whether the live state (first, len) is a prefix of string `g`: strings with that prefix
    /// are the run from `first` whose neighbours share at least `len` bytes.
    fn leads_to(&self, first: u32, len: u32, g: u32) -> bool {
        if g < first {
            return false;
        }
        if g == first {
            return true;
        }
        // Neighbour pairs (i-1, i) for i in first+1..=g, stored at index i.
        let (a, b) = (first as usize + 1, g as usize);
        let k = (b - a + 1).ilog2() as usize;
        self.lcp[k][a].min(self.lcp[k][b + 1 - (1 << k)]) >= len
    }

    /// One past the last string having the live state (first, len) as a prefix: the run from
    /// `first` whose neighbours share at least `len` bytes, found level by level in the table.
    fn run_end(&self, first: u32, len: u32) -> usize {
        let n = self.strings.len();
        // Invariant: every neighbour pair up to index `end - 1` shares at least `len` bytes.
        let mut end = first as usize + 1;
        for k in (0..self.lcp.len()).rev() {
            let width = 1usize << k;
            if end + width <= n && self.lcp[k][end] >= len {
                end += width;
            }
        }
        end
    }

    /// Where appending string `a` to the live state (first, len) leads.
    fn append(&self, first: u32, len: u32, a: u32) -> KvState {
        // The strings having the state as prefix are `first..end`, sorted; among them, those
        // continuing with `a` are a sub-run, found comparing only the bytes after the prefix.
        let a_str = self.string(a).as_bytes();
        let (from, end) = (first as usize, self.run_end(first, len));
        fn tail(s: &str, len: u32) -> &[u8] {
            s.as_bytes().get(len as usize..).unwrap_or_default()
        }
        let j = self
            .strings
            .partition_point(from..end, |s| tail(s, len) < a_str);
        match self.strings.get(j) {
            Some(s) if j < end && tail(s, len).starts_with(a_str) => {
                KvState::live(j as u32, len + a_str.len() as u32)
            }
            _ => KvState::DEAD,
        }
    }

    /// The string a path of operations builds from the initial value.
    fn replay(&self, path: &[&KvOp]) -> String {
        let mut s = self.string(self.init).to_string();
        for op in path {
            match **op {
                KvOp::Put(v) => {
                    s.clear();
                    s.push_str(self.string(v));
                }
                KvOp::Append(v) => s.push_str(self.string(v)),
                KvOp::Get(_) | KvOp::GetAny => {}
            }
        }
        s
    }
}

/// The length of the common prefix of `a` and `b`, compared a word at a time: neighbours in
/// the sorted strings share most of their bytes (each is an earlier value with appends).
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 8 <= n {
        let mut x = [0u8; 8];
        let mut y = [0u8; 8];
        x.copy_from_slice(&a[i..i + 8]);
        y.copy_from_slice(&b[i..i + 8]);
        let diff = u64::from_le_bytes(x) ^ u64::from_le_bytes(y);
        if diff != 0 {
            return i + (diff.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + a[i..n]
        .iter()
        .zip(&b[i..n])
        .take_while(|(x, y)| x == y)
        .count()
}

/// The sparse table of [`Kv::lcp`]: level 0 holds the common prefix of each string with the
/// one before it (at the later one's index), level k the minimum over runs of 2^k.
fn sparse_lcp(sorted: &Strings) -> Vec<Vec<u32>> {
    let n = sorted.len();
    let mut level: Vec<u32> = (0..n)
        .map(|i| match i {
            0 => 0,
            _ => common_prefix(
                sorted.get(i - 1).unwrap_or_default().as_bytes(),
                sorted.get(i).unwrap_or_default().as_bytes(),
            ) as u32,
        })
        .collect();
    let mut table = Vec::new();
    let mut width = 1;
    while width <= n {
        let next: Vec<u32> = (0..n)
            .map(|i| match level.get(i + width) {
                Some(&r) => level[i].min(r),
                None => level[i],
            })
            .collect();
        table.push(std::mem::replace(&mut level, next));
        width *= 2;
    }
    table.push(level);
    table
}

/// Sorted strings in one buffer: the model of a key is built for every check, and a string
/// each would be an allocation each.
#[derive(Debug, Clone)]
struct Strings {
    text: Arc<str>,
    /// Where each string ends in `text`; it starts where the one before it ends.
    ends: Arc<[u32]>,
}

impl Strings {
    fn new<'a>(strings: impl Iterator<Item = &'a str> + Clone) -> Strings {
        let mut text = String::with_capacity(strings.clone().map(str::len).sum());
        let ends = strings
            .map(|s| {
                text.push_str(s);
                text.len() as u32
            })
            .collect();
        Strings {
            text: text.into(),
            ends,
        }
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)? as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.text.get(start..end)
    }

    /// The first index of `range` whose string fails `below` (which must hold for a prefix of
    /// the range and fail for the rest).
    fn partition_point(
        &self,
        range: std::ops::Range<usize>,
        below: impl Fn(&str) -> bool,
    ) -> usize {
        let (mut lo, mut hi) = (range.start, range.end);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.get(mid).is_some_and(&below) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

/// Where each (state, appended string) led, within one search.
pub type KvScratch = HashMap<(KvState, u32), KvState, Fx>;

impl Model for Kv {
    type State = KvState;
    type Op = KvOp;
    type Scratch = KvScratch;

    fn name(&self) -> &'static str {
        "kv"
    }

    fn init(&self) -> KvState {
        self.exactly(self.init)
    }

    fn step(&self, s: &KvState, op: &KvOp) -> Option<KvState> {
        match *op {
            KvOp::Get(v) => (*s == self.exactly(v)).then_some(*s),
            KvOp::GetAny => Some(*s),
            KvOp::Put(v) => Some(self.exactly(v)),
            KvOp::Append(a) => Some(match s.parts() {
                Some((first, len)) => self.append(first, len, a),
                None => KvState::DEAD,
            }),
        }
    }

    fn step_with(&self, seen: &mut KvScratch, s: &KvState, op: &KvOp) -> Option<KvState> {
        match (*op, s.parts()) {
            (KvOp::Append(a), Some((first, len))) => Some(
                *seen
                    .entry((*s, a))
                    .or_insert_with(|| self.append(first, len, a)),
            ),
            _ => self.step(s, op),
        }
    }

    fn is_read_only(&self, op: &KvOp) -> bool {
        matches!(op, KvOp::Get(_) | KvOp::GetAny)
    }

    /// Appends only extend the string, so only a put resets it.
    fn resets(&self, op: &KvOp) -> bool {
        matches!(op, KvOp::Put(_))
    }

    /// A get of `g` can become legal through appends only if the state is a prefix of `g`.
    fn hopeless(&self, s: &KvState, op: &KvOp) -> bool {
        match (*op, s.parts()) {
            (KvOp::Get(_), None) => true,
            (KvOp::Get(g), Some((first, len))) => !self.leads_to(first, len, g),
            _ => false,
        }
    }

    fn describe_op(&self, op: &KvOp) -> String {
        match *op {
            KvOp::Get(v) => format!("get {}", self.quoted(v)),
            KvOp::GetAny => "get ?".into(),
            KvOp::Put(v) => format!("put {}", self.quoted(v)),
            KvOp::Append(v) => format!("append {}", self.quoted(v)),
        }
    }

    fn describe_state(&self, s: &KvState) -> String {
        match s.parts() {
            Some((first, len)) => brief(format_args!("{:?}", self.prefix(first, len)), BRIEF),
            None => "a string no get returned".into(),
        }
    }

    fn describe_reached(&self, _: &KvState, path: &[&KvOp]) -> String {
        brief(format_args!("{:?}", self.replay(path)), BRIEF)
    }

    fn why_illegal(&self, _: &KvState, shown: &str, op: &KvOp) -> String {
        match *op {
            KvOp::Get(v) => format!(
                "{} needs the value to be {} but it is {shown}",
                self.describe_op(op),
                self.quoted(v)
            ),
            _ => format!("{} is always possible", self.describe_op(op)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv() -> Kv {
        Kv::new("", ["ab", "abc", "abd", "b", "x"])
    }

    fn run(kv: &Kv, ops: &[KvOp]) -> Option<KvState> {
        ops.iter().try_fold(kv.init(), |s, op| kv.step(&s, op))
    }

    /// A long string is described cut short: explanations do not copy it whole.
    #[test]
    fn long_strings_are_described_briefly() {
        let long = "é".repeat(100_000);
        let kv = Kv::new("", [long.as_str(), "b"]);
        let id = kv.id(&long).expect("interned");
        let put = kv.describe_op(&KvOp::Put(id));
        assert!(
            put.starts_with("put \"éé") && put.ends_with('…'),
            "{put:.40}"
        );
        assert!(put.len() <= BRIEF + 8, "{} bytes", put.len());
        let b = kv.id("b").expect("interned");
        assert_eq!(kv.describe_op(&KvOp::Get(b)), "get \"b\"");
        let why = kv.why_illegal(&kv.init(), "\"\"", &KvOp::Get(id));
        assert!(why.len() < 3 * BRIEF, "{} bytes", why.len());
    }

    /// Ids number the distinct strings in their order, whatever their first eight bytes
    /// share, and equal strings stored apart get one id.
    #[test]
    fn ids_follow_string_order() {
        let apart = String::from("x 1 0 yx 2 0 y");
        let strings = [
            "x 1 0 yx 2 0 y",
            "x 1 0 y",
            "",
            &apart,
            "x 1 0 yx 2 0 yx 3 0 y",
            "ab",
            "ab\u{1}",
            "x 1 0 yx 1 0 y",
        ];
        let (kv, ids) = Kv::with_ids("ab", &strings);
        for (a, &ia) in strings.iter().zip(&ids) {
            assert_eq!(kv.string(ia), *a);
            for (b, &ib) in strings.iter().zip(&ids) {
                assert_eq!(a.cmp(b), ia.cmp(&ib), "{a:?} vs {b:?}");
            }
        }
        assert_eq!(kv.id("ab"), Some(ids[5]));
    }

    #[test]
    fn common_prefix_counts_equal_leading_bytes() {
        let naive = |a: &[u8], b: &[u8]| a.iter().zip(b).take_while(|(x, y)| x == y).count();
        let base = b"x 1 0 yx 2 0 yx 3 1 yx 4 2 y";
        for len in 0..base.len() {
            for at in 0..=len {
                let a = &base[..len];
                let mut b = base[..len].to_vec();
                if at < len {
                    b[at] ^= 0x20;
                }
                assert_eq!(common_prefix(a, &b), naive(a, &b), "len {len} at {at}");
                assert_eq!(common_prefix(a, &base[..]), len);
            }
        }
    }

    #[test]
    fn equal_strings_built_differently_are_one_state() {
        let kv = kv();
        let id = |s| kv.id(s).unwrap();
        let a = run(&kv, &[KvOp::Append(id("ab")), KvOp::Append(id("x"))]);
        let b = run(&kv, &[KvOp::Put(id("x"))]);
        assert_ne!(a, b);
        let c = run(&kv, &[KvOp::Put(id("ab")), KvOp::Append(id("b"))]);
        assert_eq!(c, Some(KvState::DEAD), "\"abb\" is a prefix of nothing");
        let d = run(&kv, &[KvOp::Append(id("b")), KvOp::Append(id("b"))]);
        assert_eq!(c, d, "two dead strings are one state");
        let abc = run(&kv, &[KvOp::Put(id("ab")), KvOp::Append(id("abc"))]);
        assert_eq!(abc, Some(KvState::DEAD));
    }

    #[test]
    fn a_get_matches_exactly_the_string_it_returned() {
        let kv = kv();
        let id = |s| kv.id(s).unwrap();
        let ab = run(&kv, &[KvOp::Append(id("ab"))]).unwrap();
        assert!(kv.step(&ab, &KvOp::Get(id("ab"))).is_some());
        assert!(kv.step(&ab, &KvOp::Get(id("abc"))).is_none());
        assert!(
            !kv.hopeless(&ab, &KvOp::Get(id("abc"))),
            "\"abc\" can still follow"
        );
        assert!(kv.hopeless(&ab, &KvOp::Get(id("b"))));
        // "a" is not in the set but is a prefix of "ab": a live state that no get matches.
        let kv = Kv::new("", ["a", "ab", "b"]);
        let id = |s| kv.id(s).unwrap();
        let s = run(&kv, &[KvOp::Append(id("a")), KvOp::Append(id("b"))]).unwrap();
        assert!(kv.step(&s, &KvOp::Get(id("ab"))).is_some());
        assert_eq!(kv.describe_state(&s), "\"ab\"");
        let dead = kv.step(&s, &KvOp::Append(id("a"))).unwrap();
        assert_eq!(kv.describe_state(&dead), "a string no get returned");
        let path = [
            &KvOp::Append(id("a")),
            &KvOp::Append(id("b")),
            &KvOp::Append(id("a")),
        ];
        assert_eq!(kv.describe_reached(&dead, &path), "\"aba\"");
    }

    #[test]
    fn a_non_empty_initial_value_is_a_state_like_any_other() {
        let kv = Kv::new("x", ["xy", "y"]);
        let id = |s| kv.id(s).unwrap();
        let s = run(&kv, &[KvOp::Append(id("y"))]).unwrap();
        assert_eq!(kv.step(&s, &KvOp::Get(id("xy"))), Some(s));
        assert_eq!(kv.describe_state(&kv.init()), "\"x\"");
    }

    #[test]
    fn the_sparse_table_answers_prefix_questions_like_starts_with() {
        let words = [
            "",
            "a",
            "aa",
            "aab",
            "ab",
            "abc",
            "abd",
            "b",
            "ba",
            "bab",
            "c",
            "x 1 y",
            "x 1 yx 2 y",
            "x 1 yx 2 yx 3 y",
            "x 2 y",
        ];
        let kv = Kv::new("", words);
        for (first, w) in words.iter().enumerate() {
            for len in 0..=w.len() {
                // The canonical form of the prefix: the first string having it.
                let p = &w[..len];
                let first = words.iter().position(|s| s.starts_with(p)).unwrap_or(first) as u32;
                for (g, target) in words.iter().enumerate() {
                    assert_eq!(
                        kv.leads_to(first, len as u32, g as u32),
                        target.starts_with(p),
                        "is {p:?} a prefix of {target:?}"
                    );
                }
            }
        }
        // Appending: the first string having prefix + appended as a prefix, or dead.
        for w in words {
            for len in 0..=w.len() {
                let p = &w[..len];
                let Some(first) = words.iter().position(|s| s.starts_with(p)) else {
                    continue;
                };
                for (a, tail) in words.iter().enumerate() {
                    let joined = format!("{p}{tail}");
                    let want = match words.iter().position(|s| s.starts_with(&joined)) {
                        Some(j) => KvState::live(j as u32, joined.len() as u32),
                        None => KvState::DEAD,
                    };
                    assert_eq!(
                        kv.append(first as u32, len as u32, a as u32),
                        want,
                        "{p:?} + {tail:?}"
                    );
                }
            }
        }
        let (kv, ids) = Kv::with_ids("b", &["c", "a", "c"]);
        assert_eq!(ids, [2, 0, 2]);
        assert_eq!(kv.describe_state(&kv.init()), "\"b\"");
    }
}
