//! The Wing–Gong/Lowe search for a linearization, with memoisation.
//!
//! Entries (calls and returns) sit on a doubly linked list ordered by position. The search
//! repeatedly picks a call entry that precedes the first return entry (an operation that may be
//! linearized next), applies it to the model, and "lifts" both its entries from the list; when
//! it reaches a return entry (an operation that had to be linearized already) it backtracks.
//! A cache of (linearized set, state) pairs cuts every branch that reaches a configuration seen
//! before (Lowe's improvement, as Porcupine does).
//!
//! What we do beyond Porcupine:
//! * crashed operations are optional (no return entry, success once every completed operation
//!   is linearized), and are tried only after every completed candidate at each node;
//! * crashed operations with equal `Op`s are interchangeable (see [`crate::reduce`]): only the
//!   earliest-invoked unlinearized one of each class is a candidate;
//! * so, in a way, are completed ones: of two candidates `x` and `y` with equal `Op`s where `x`
//!   returned no later, `y` is not tried (`x` is). Proof: take a continuation after `y`; it
//!   holds `x` at some point `p`. Put `x` now and `y` at `p` instead: the `Op`s, so the states,
//!   are the same; `x` may go now (it is a candidate); `y` at `p` follows only operations
//!   invoked before `x` returned, so before `y` returned; and what follows `p` returns after
//!   `y` was invoked, since `y` was a candidate. `x` is the class's operation that returned
//!   just before `y` (in keys under 1,024 operations: invoked just before, if it returned no
//!   later), and "`x` is a candidate" is tested as "not linearized and invoked no later than
//!   `y`" (`y` is one). With five values and a hundred processes, a score of open writes
//!   fall into a handful of classes;
//! * an operation that never changes the state ([`Model::is_read_only`]) and is legal now is
//!   linearized at once without branching: moving it earlier in any linearization changes no
//!   state, and it may go now (its call is past and every operation that had to precede it is
//!   linearized), so if any continuation succeeds, one starting with it does;
//! * a pending read that can no longer become legal ([`Model::hopeless`]: no operation that
//!   [`Model::resets`] the state may still come before its return) cuts the branch at once;
//! * crashed operations are a resource: a configuration that used a superset of the crashed
//!   operations of a seen configuration with the same completed set and state is dominated
//!   (every continuation of it is open to the other) and is pruned;
//! * the cache stores a linearized set as (length of the fully linearized prefix, the few ids
//!   beyond it), not as a bitset, and finds it by an incrementally maintained Zobrist hash;
//! * states are the model's own small types, entries are plain `u32` links: no allocation per
//!   step besides the cache's amortised growth.

mod memo;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

pub use memo::FxHasher;
use memo::{splitmix, Cache, LinSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use crate::model::Model;
use crate::op::Operation;

/// What a search ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchOutcome {
    Linearizable,
    NotLinearizable,
    /// A limit stopped the search; the reason says which.
    Stopped(String),
    /// The search used its `max_steps` and may be resumed with a larger budget.
    StepLimit,
}

/// Shared limits for every search of one check.
#[derive(Debug)]
pub struct Budget {
    pub deadline: Option<Instant>,
    pub memory_limit: Option<usize>,
    /// Bytes held by all running searches' caches.
    pub memory_used: AtomicUsize,
    /// Set to stop every search (cancellation).
    pub cancel: AtomicBool,
    /// Stop a single search after this many steps (used while shrinking counterexamples).
    pub max_steps: Option<u64>,
}

impl Budget {
    pub fn unlimited() -> Self {
        Budget {
            deadline: None,
            memory_limit: None,
            memory_used: AtomicUsize::new(0),
            cancel: AtomicBool::new(false),
            max_steps: None,
        }
    }
}

pub(crate) const NIL: u32 = u32::MAX;
/// Insertions a search may make between two samples of the resident set (1,024 steps, each
/// at most one memo entry, with room to spare).
const GROWTH_MARGIN: usize = 4096;
const HEAD: u32 = 0;

struct Frame<S> {
    op: u32,
    phase: u8,
    state: S,
}

/// Statistics of one search, for benchmarks and diagnostics.
#[derive(Debug, Clone, Copy, Default)]
pub struct SearchStats {
    pub steps: u64,
    pub cache_entries: usize,
    pub cache_bytes: usize,
    /// The most completed operations linearized in one order so far.
    pub max_linearized: u64,
    /// The longest prefix (by invocation) of completed operations linearized in one order.
    pub max_prefix: u64,
}

/// Searches for a linearization of `ops` (one key). Ops may be in any order.
pub fn search<M: Model>(
    model: &M,
    ops: &[Operation<M::Op>],
    budget: &Budget,
) -> (SearchOutcome, SearchStats) {
    let mut s = Search::new(model, ops);
    let outcome = s.run(budget, budget.max_steps);
    if outcome.is_none() {
        s.release(budget);
    }
    (outcome.unwrap_or(SearchOutcome::StepLimit), s.stats())
}

/// A search that can be paused after a number of steps and resumed, so that many keys can
/// share the cores fairly without restarting (see [`crate::check_keys`]).
pub struct Search<'a, M: Model> {
    model: &'a M,
    ops: &'a [Operation<M::Op>],
    order: Vec<usize>,
    n_required: u32,
    has_optional: bool,
    next: Vec<u32>,
    prev: Vec<u32>,
    class_prev: Vec<u32>,
    zobrist: Vec<u64>,
    set: LinSet,
    cache: Cache<M::State>,
    stack: Vec<Frame<M::State>>,
    state: Option<M::State>,
    scratch: M::Scratch,
    stats: SearchStats,
    reported_bytes: usize,
    read_only: Vec<bool>,
    resets: Vec<u32>,
    reset_pos: Vec<u32>,
    reset_first: usize,
    cur: u32,
    phase: u8,
    n_lin_required: u32,
    fresh: bool,
    done: Option<SearchOutcome>,
}

impl<'a, M: Model> Search<'a, M> {
    /// Prepares the search (nothing is searched yet).
    pub fn new(model: &'a M, ops: &'a [Operation<M::Op>]) -> Self {
        // Completed operations first, then crashed ones; each group by call position. Crashed
        // ones last keeps the cache's prefix long (an unlinearized crashed op would cut it short).
        let mut order: Vec<usize> = (0..ops.len()).collect();
        order.sort_by_key(|&i| (ops[i].ret.is_none(), ops[i].call, i));
        let n = order.len();
        let n_required = ops.iter().filter(|o| o.ret.is_some()).count() as u32;
        let op = |id: u32| &ops[order[id as usize]];

        // Entry 0 is the list head; entry 2*id+1 is id's call, 2*id+2 its return (if any).
        let mut events: Vec<(u64, u8, u32)> = Vec::with_capacity(2 * n);
        for id in 0..n as u32 {
            let o = op(id);
            events.push((o.call, 0, 2 * id + 1));
            if let Some(r) = o.ret {
                events.push((r, 1, 2 * id + 2));
            }
        }
        // A return at the same position as a call is taken as concurrent with it.
        events.sort_unstable();
        let slots = 2 * n + 1;
        let mut next = vec![NIL; slots];
        let mut prev = vec![NIL; slots];
        let mut last = HEAD;
        for &(_, _, e) in &events {
            next[last as usize] = e;
            prev[e as usize] = last;
            last = e;
        }

        // Interchangeable crashed operations: the earliest-called one of a class goes first.
        // Completed ones: the one of a class that returned just before (see `run`).
        let mut class_prev = vec![NIL; n];
        {
            let mut last_of: HashMap<&M::Op, u32, std::hash::BuildHasherDefault<FxHasher>> =
                HashMap::default();
            for id in n_required..n as u32 {
                if let Some(p) = last_of.insert(&op(id).op, id) {
                    class_prev[id as usize] = p;
                }
            }
            // The class's operation that returned just before, by a sort by return; below
            // 1,024 operations (where the sort would cost more than it saves) the one invoked
            // just before (ids are in call order), when it returned no later.
            last_of.clear();
            let mut ids: Vec<u32> = (0..n_required).collect();
            if n_required >= 1024 {
                ids.sort_unstable_by_key(|&id| (op(id).ret, id));
            }
            for id in ids {
                if let Some(p) = last_of.insert(&op(id).op, id) {
                    if op(p).ret <= op(id).ret {
                        class_prev[id as usize] = p;
                    }
                }
            }
        }

        let mut seed = 0x5eed_u64;
        let zobrist: Vec<u64> = (0..n).map(|_| splitmix(&mut seed)).collect();
        let set = LinSet {
            words: vec![0; n.div_ceil(64) + 1],
            count: 0,
            prefix: 0,
            hash: 0,
        };
        let has_optional = (n as u32) > n_required;
        let read_only: Vec<bool> = (0..n as u32)
            .map(|id| model.is_read_only(&op(id).op))
            .collect();
        // Operations that reset the state, by call position; `reset_first` is the first of them
        // not yet linearized (maintained like the set's prefix).
        let mut resets: Vec<u32> = (0..n as u32)
            .filter(|&id| model.resets(&op(id).op))
            .collect();
        resets.sort_by_key(|&id| op(id).call);
        let mut reset_pos = vec![u32::MAX; n];
        for (i, &id) in resets.iter().enumerate() {
            reset_pos[id as usize] = i as u32;
        }
        let cur = next[HEAD as usize];
        Search {
            model,
            ops,
            order,
            n_required,
            has_optional,
            next,
            prev,
            class_prev,
            zobrist,
            set,
            cache: Cache::with_capacity(4 * n),
            stack: Vec::new(),
            state: Some(model.init()),
            scratch: M::Scratch::default(),
            stats: SearchStats::default(),
            reported_bytes: 0,
            read_only,
            resets,
            reset_pos,
            reset_first: 0,
            cur,
            phase: 0,
            n_lin_required: 0,
            fresh: true,
            done: (n_required == 0).then_some(SearchOutcome::Linearizable),
        }
    }

    /// Statistics so far.
    pub fn stats(&self) -> SearchStats {
        SearchStats {
            cache_entries: self.cache.len(),
            cache_bytes: self.cache.bytes(),
            ..self.stats
        }
    }

    /// Frees the memo of a search that will not be resumed, and un-accounts it.
    pub fn release(&mut self, budget: &Budget) {
        self.stats.cache_entries = self.cache.len();
        self.stats.cache_bytes = self.cache.bytes();
        self.cache = Cache::new();
        self.stack = Vec::new();
        self.scratch = M::Scratch::default();
        budget
            .memory_used
            .fetch_sub(self.reported_bytes, Ordering::Relaxed);
        self.reported_bytes = 0;
    }

    /// Runs for at most `slice` more steps (about: checked every 1024 steps); `None` when the
    /// slice ran out (call again to resume), else the outcome, which later calls repeat.
    pub fn run(&mut self, budget: &Budget, slice: Option<u64>) -> Option<SearchOutcome> {
        if let Some(d) = &self.done {
            return Some(d.clone());
        }
        let model = self.model;
        let ops = self.ops;
        let order = std::mem::take(&mut self.order);
        let op = |id: u32| &ops[order[id as usize]];
        let n_required = self.n_required;
        let has_optional = self.has_optional;
        let mut next = std::mem::take(&mut self.next);
        let mut prev = std::mem::take(&mut self.prev);
        let class_prev = std::mem::take(&mut self.class_prev);
        let zobrist = std::mem::take(&mut self.zobrist);
        let mut set = std::mem::replace(&mut self.set, LinSet::empty());
        let mut cache = std::mem::replace(&mut self.cache, Cache::new());
        let mut stack = std::mem::take(&mut self.stack);
        let Some(mut state) = self.state.take() else {
            return Some(SearchOutcome::Stopped("search state lost".into()));
        };
        let mut stats = self.stats;
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut reported_bytes = self.reported_bytes;
        let read_only = std::mem::take(&mut self.read_only);
        let resets = std::mem::take(&mut self.resets);
        let reset_pos = std::mem::take(&mut self.reset_pos);
        let mut reset_first = self.reset_first;
        let mut cur = self.cur;
        let mut phase = self.phase;
        let mut n_lin_required = self.n_lin_required;
        let mut fresh = self.fresh;
        let slice_end = slice.map(|s| stats.steps + s);

        // Frames: phase 0/1 = completed/crashed candidates being tried at that node; 2 = a
        // forced read-only step (its node has no other child worth trying).
        let outcome = 'search: loop {
            if n_lin_required == n_required {
                break Some(SearchOutcome::Linearizable);
            }
            stats.steps += 1;
            if stats.steps & 0x3ff == 0 {
                if slice_end.is_some_and(|m| stats.steps > m) {
                    break None;
                }
                if let Some(reason) = over_budget(budget) {
                    break Some(SearchOutcome::Stopped(reason));
                }
                if let Some(limit) = budget.memory_limit {
                    // The process's resident set, plus what a table about to double would
                    // allocate before the next sample (see `crate::memory`).
                    let frame = std::mem::size_of::<Frame<M::State>>();
                    let stack_growth = if stack.capacity() - stack.len() < GROWTH_MARGIN {
                        2 * stack.capacity().max(GROWTH_MARGIN) * frame
                    } else {
                        0
                    };
                    let growth = cache.pending_growth(GROWTH_MARGIN) + stack_growth;
                    match crate::memory::over(limit, growth) {
                        Some(rss) => {
                            break Some(SearchOutcome::Stopped(crate::memory::reason(limit, rss)))
                        }
                        None if crate::memory::rss_sampled().is_none() => {
                            // No /proc: account the memos' capacity instead.
                            let bytes = cache.bytes() + stack.capacity() * frame;
                            if bytes > reported_bytes {
                                budget
                                    .memory_used
                                    .fetch_add(bytes - reported_bytes, Ordering::Relaxed);
                                reported_bytes = bytes;
                            }
                            if budget.memory_used.load(Ordering::Relaxed) > limit {
                                break Some(SearchOutcome::Stopped(format!(
                                    "memory limit {} MB reached",
                                    limit / (1 << 20)
                                )));
                            }
                        }
                        None => {}
                    }
                }
            }
            let mut backtrack = false;
            if fresh {
                fresh = false;
                // A legal read-only candidate goes now, without alternatives.
                let mut e = next[HEAD as usize];
                while e != NIL && e % 2 == 1 {
                    let id = (e - 1) / 2;
                    if id < n_required && read_only[id as usize] {
                        let Some(s2) = model.step_with(&mut scratch, &state, &op(id).op) else {
                            while reset_first < resets.len() && set.has(resets[reset_first]) {
                                reset_first += 1;
                            }
                            let ret = op(id).ret.unwrap_or(u64::MAX);
                            let can_change =
                                reset_first < resets.len() && op(resets[reset_first]).call <= ret;
                            if !can_change && model.hopeless(&state, &op(id).op) {
                                backtrack = true;
                                break;
                            }
                            e = next[e as usize];
                            continue;
                        };
                        {
                            set.add(id, zobrist[id as usize]);
                            let h = set.hash ^ hash_state(&s2);
                            if cache.insert(h, &set, n_lin_required + 1, s2.clone()) {
                                stack.push(Frame {
                                    op: id,
                                    phase: 2,
                                    state: std::mem::replace(&mut state, s2),
                                });
                                n_lin_required += 1;
                                stats.max_linearized =
                                    stats.max_linearized.max(u64::from(n_lin_required));
                                stats.max_prefix =
                                    stats.max_prefix.max(u64::from(set.prefix.min(n_required)));
                                lift(&mut next, &mut prev, e, true);
                                fresh = true;
                                cur = next[HEAD as usize];
                                phase = 0;
                                continue 'search;
                            }
                            set.remove(id, zobrist[id as usize]);
                            backtrack = true;
                            break;
                        }
                    }
                    e = next[e as usize];
                }
            }
            let e = cur;
            if backtrack || e == NIL || e % 2 == 0 {
                // A return entry (or the end): every candidate at this node was tried.
                if !backtrack && phase == 0 && has_optional {
                    phase = 1;
                    cur = next[HEAD as usize];
                    continue;
                }
                loop {
                    let Some(f) = stack.pop() else {
                        break 'search Some(SearchOutcome::NotLinearizable);
                    };
                    state = f.state;
                    let required = f.op < n_required;
                    set.remove(f.op, if required { zobrist[f.op as usize] } else { 0 });
                    if required {
                        n_lin_required -= 1;
                    }
                    let c = 2 * f.op + 1;
                    unlift(&mut next, &mut prev, c, required);
                    let rp = reset_pos[f.op as usize] as usize;
                    if rp < reset_first {
                        reset_first = rp;
                    }
                    if f.phase == 2 {
                        continue;
                    }
                    cur = next[c as usize];
                    phase = f.phase;
                    continue 'search;
                }
            }
            let id = (e - 1) / 2;
            let optional = id >= n_required;
            let twin = class_prev[id as usize];
            if optional as u8 != phase
                || read_only[id as usize]
                || (twin != NIL && !set.has(twin) && (optional || op(twin).call <= op(id).call))
            {
                cur = next[e as usize];
                continue;
            }
            if let Some(s2) = model.step_with(&mut scratch, &state, &op(id).op) {
                let z = if optional { 0 } else { zobrist[id as usize] };
                set.add(id, z);
                let h = set.hash ^ hash_state(&s2);
                let req = n_lin_required + u32::from(!optional);
                if cache.insert(h, &set, req, s2.clone()) {
                    stack.push(Frame {
                        op: id,
                        phase,
                        state: std::mem::replace(&mut state, s2),
                    });
                    n_lin_required = req;
                    stats.max_linearized = stats.max_linearized.max(u64::from(req));
                    stats.max_prefix = stats.max_prefix.max(u64::from(set.prefix.min(n_required)));
                    lift(&mut next, &mut prev, e, !optional);
                    cur = next[HEAD as usize];
                    phase = 0;
                    fresh = true;
                    continue;
                }
                set.remove(id, z);
            }
            cur = next[e as usize];
        };
        self.order = order;
        self.next = next;
        self.prev = prev;
        self.class_prev = class_prev;
        self.zobrist = zobrist;
        self.set = set;
        self.cache = cache;
        self.stack = stack;
        self.state = Some(state);
        self.stats = stats;
        self.scratch = scratch;
        self.reported_bytes = reported_bytes;
        self.read_only = read_only;
        self.resets = resets;
        self.reset_pos = reset_pos;
        self.reset_first = reset_first;
        self.cur = cur;
        self.phase = phase;
        self.n_lin_required = n_lin_required;
        self.fresh = fresh;
        if let Some(o) = &outcome {
            self.release(budget);
            self.done = Some(o.clone());
        }
        outcome
    }
}

/// Takes call entry `c` (and its return, `c + 1`, when `with_return`) off the list.
#[inline]
fn lift(next: &mut [u32], prev: &mut [u32], c: u32, with_return: bool) {
    if with_return {
        let r = c + 1;
        next[prev[r as usize] as usize] = next[r as usize];
        if next[r as usize] != NIL {
            prev[next[r as usize] as usize] = prev[r as usize];
        }
    }
    next[prev[c as usize] as usize] = next[c as usize];
    if next[c as usize] != NIL {
        prev[next[c as usize] as usize] = prev[c as usize];
    }
}

/// Puts entries back, in the reverse order of [`lift`].
#[inline]
fn unlift(next: &mut [u32], prev: &mut [u32], c: u32, with_return: bool) {
    if with_return {
        let r = c + 1;
        next[prev[r as usize] as usize] = r;
        if next[r as usize] != NIL {
            prev[next[r as usize] as usize] = r;
        }
    }
    next[prev[c as usize] as usize] = c;
    if next[c as usize] != NIL {
        prev[next[c as usize] as usize] = c;
    }
}

fn over_budget(budget: &Budget) -> Option<String> {
    if budget.cancel.load(Ordering::Relaxed) {
        return Some("cancelled".into());
    }
    if let Some(d) = budget.deadline {
        if Instant::now() >= d {
            return Some("time limit reached".into());
        }
    }
    None
}

#[inline]
fn hash_state<S: Hash>(s: &S) -> u64 {
    let mut h = FxHasher::default();
    s.hash(&mut h);
    // Spread the state's hash so that it does not cancel against the set's Zobrist bits.
    h.finish()
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .rotate_left(29)
}
