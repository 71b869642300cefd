//! The search's memo: seen (linearized set, state) pairs, stored compactly, and its hasher.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::NIL;

/// A hasher that passes a precomputed `u64` through (keys are already well mixed).
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

struct CacheEntry<S> {
    next: u32,
    prefix: u32,
    rest_start: u32,
    /// Completed ids beyond the prefix, then crashed ids, stored at `rest_start..`.
    rest_req: u32,
    rest_opt: u32,
    state: S,
}

/// Seen (linearized set, state) pairs. A set is stored as `prefix` (ids `0..prefix` are all in
/// it) plus the sorted ids beyond, which stay few because operations get linearized roughly in
/// the order they were invoked, and crashed ones are numbered last. Entries are found by a
/// hash of the completed part of the set and the state; the crashed part is compared by
/// inclusion (dominance), not equality.
pub(super) struct Cache<S> {
    heads: HashMap<u64, u32, BuildHasherDefault<IdHasher>>,
    entries: Vec<CacheEntry<S>>,
    pool: Vec<u32>,
}

impl<S: Eq> Cache<S> {
    pub(super) fn new() -> Self {
        Cache::with_capacity(0)
    }

    /// Room for `n` entries before the first rehash (a search visits a few configurations per
    /// operation when it goes well).
    pub(super) fn with_capacity(n: usize) -> Self {
        Cache {
            heads: HashMap::with_capacity_and_hasher(n, Default::default()),
            entries: Vec::with_capacity(n),
            pool: Vec::with_capacity(n),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn bytes(&self) -> usize {
        self.heads.capacity() * (8 + 4 + 1)
            + self.entries.capacity() * std::mem::size_of::<CacheEntry<S>>()
            + self.pool.capacity() * 4
    }

    /// What the next `margin` insertions could newly allocate: the new table of every
    /// container that would have to grow (a doubling allocates before it frees the old one).
    pub(super) fn pending_growth(&self, margin: usize) -> usize {
        let mut g = 0;
        if self.heads.capacity() - self.heads.len() < margin {
            // hashbrown doubles its buckets (8/7 of the capacity) of a (u64, u32) and a control
            // byte each.
            g += self.heads.capacity().max(margin) * 2 * 8 / 7 * 17;
        }
        if self.entries.capacity() - self.entries.len() < margin {
            g += self.entries.capacity().max(margin) * 2 * std::mem::size_of::<CacheEntry<S>>();
        }
        if self.pool.capacity() - self.pool.len() < 8 * margin {
            g += self.pool.capacity().max(margin) * 2 * 4;
        }
        g
    }

    /// Inserts the pair; false when it (or a configuration that dominates it) was there.
    pub(super) fn insert(&mut self, hash: u64, set: &LinSet, n_req_lin: u32, state: S) -> bool {
        let rest_req = n_req_lin - set.prefix.min(n_req_lin);
        let idx = self.entries.len() as u32;
        // One probe of the table: a new hash gets its chain, a known one is searched and, when
        // nothing there dominates the pair, the pair becomes the chain's new head.
        let head = match self.heads.entry(hash) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(idx);
                NIL
            }
            std::collections::hash_map::Entry::Occupied(mut o) => {
                let mut i = *o.get();
                while i != NIL {
                    let e = &self.entries[i as usize];
                    if e.prefix == set.prefix
                        && e.rest_req == rest_req
                        && e.state == state
                        && self.pool[e.rest_start as usize
                            ..(e.rest_start + e.rest_req + e.rest_opt) as usize]
                            .iter()
                            .all(|&id| set.has(id))
                    {
                        return false;
                    }
                    i = e.next;
                }
                std::mem::replace(o.get_mut(), idx)
            }
        };
        let rest_start = self.pool.len() as u32;
        set.push_rest(&mut self.pool);
        let rest_len = self.pool.len() as u32 - rest_start;
        self.entries.push(CacheEntry {
            next: head,
            prefix: set.prefix,
            rest_start,
            rest_req,
            rest_opt: rest_len - rest_req,
            state,
        });
        true
    }
}

/// The linearized set: a bitset, its count, the first id not in it, and its Zobrist hash.
pub(super) struct LinSet {
    pub(super) words: Vec<u64>,
    pub(super) count: u32,
    pub(super) prefix: u32,
    pub(super) hash: u64,
}

impl LinSet {
    #[inline]
    pub(super) fn has(&self, id: u32) -> bool {
        self.words[(id / 64) as usize] >> (id % 64) & 1 == 1
    }

    #[inline]
    pub(super) fn add(&mut self, id: u32, z: u64) {
        self.words[(id / 64) as usize] |= 1 << (id % 64);
        self.count += 1;
        self.hash ^= z;
        if id == self.prefix {
            while self.prefix < self.words.len() as u32 * 64 && self.has(self.prefix) {
                self.prefix += 1;
            }
        }
    }

    #[inline]
    pub(super) fn remove(&mut self, id: u32, z: u64) {
        self.words[(id / 64) as usize] &= !(1 << (id % 64));
        self.count -= 1;
        self.hash ^= z;
        if id < self.prefix {
            self.prefix = id;
        }
    }

    /// Appends the ids beyond the prefix, in order (completed ones, then crashed ones).
    pub(super) fn push_rest(&self, out: &mut Vec<u32>) {
        let mut left = self.count - self.prefix;
        let mut w = (self.prefix / 64) as usize;
        while left > 0 {
            let mut bits = self.words[w];
            if w == (self.prefix / 64) as usize {
                bits &= !0u64 << (self.prefix % 64);
            }
            while bits != 0 && left > 0 {
                let b = bits.trailing_zeros();
                out.push(w as u32 * 64 + b);
                bits &= bits - 1;
                left -= 1;
            }
            w += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[u32], n: usize) -> LinSet {
        let mut s = LinSet {
            words: vec![0; n.div_ceil(64) + 1],
            count: 0,
            prefix: 0,
            hash: 0,
        };
        for &i in ids {
            s.add(i, u64::from(i) + 1);
        }
        s
    }

    #[test]
    fn the_prefix_and_the_rest_describe_the_set() {
        let s = set(&[0, 1, 2, 70, 5, 130], 200);
        assert_eq!(s.prefix, 3);
        let mut rest = Vec::new();
        s.push_rest(&mut rest);
        assert_eq!(rest, vec![5, 70, 130]);
        let mut s = s;
        s.remove(1, 2);
        assert_eq!(s.prefix, 1);
        s.add(1, 2);
        assert_eq!(
            s.prefix, 3,
            "adding the missing id extends the prefix again"
        );
    }

    #[test]
    fn a_set_with_more_crashed_ops_is_dominated() {
        // Ids 0..4 completed, 4.. crashed.
        let mut c: Cache<u32> = Cache::new();
        let a = set(&[0, 1, 4], 8);
        assert!(c.insert(7, &a, 2, 9));
        assert!(!c.insert(7, &a, 2, 9), "the same pair is seen");
        let b = set(&[0, 1, 4, 5], 8);
        assert!(
            !c.insert(7, &b, 2, 9),
            "a superset in crashed ops is dominated"
        );
        let d = set(&[0, 1, 5], 8);
        assert!(c.insert(7, &d, 2, 9), "an incomparable crashed set is new");
        assert!(c.insert(7, &a, 2, 8), "another state is new");
        assert_eq!(c.len(), 3);
    }
}
