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
//! * the candidates of a node are tried by return, earliest first (crashed ones last): an
//!   operation that returns soon must be linearized soon, so the first path tried is the
//!   likeliest to succeed. Order changes no verdict, only how soon a valid history's
//!   linearization is found, and at a hundred concurrent operations over five values that is
//!   the difference between 10 ms and no verdict at all in 10 s: in call order, an early-invoked
//!   long operation went first, and the memo filled with the orders of the ops around it;
//! * crashed operations are optional (no return entry, success once every completed operation
//!   is linearized), are kept off the entry list (they never return: a crashed operation is a
//!   candidate from its call on), and are tried only after every completed candidate at each
//!   node, and only where they matter: never as a no-op, and the node after one tries only what
//!   it enables (see [`Search::descend`]: leaving out a crashed operation that enables nothing
//!   gives a linearization with fewer); a crashed candidate that another one legal now can stand
//!   in for ([`Model::subsumes`]: a crashed write of 3 when a crashed cas 2->3 is legal) is not
//!   tried, since the other leaves the stronger one for later;
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
//!   step besides the amortised growth of the cache and of the candidates' stack.

mod budget;
mod entries;
mod memo;
mod node;

use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::sync::atomic::Ordering;

use budget::over_budget;
pub use budget::Budget;
use entries::{classes, lift, unlift};
use memo::{Cache, LinSet};
use node::Node;

use crate::hash::{splitmix, FxHasher};
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

pub(crate) const NIL: u32 = u32::MAX;
const HEAD: u32 = 0;

/// One linearized operation on the search's stack.
struct Frame<S> {
    op: u32,
    /// A read-only step taken without alternatives: backtracking goes on past it.
    forced: bool,
    /// The node's candidates were `cands[base..child_base]`, `op` the one at `idx`, its
    /// crashed ones among them if `listed`.
    base: u32,
    listed: bool,
    child_base: u32,
    idx: u32,
    /// The state before `op`.
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
    /// Search id -> index into `ops`: completed operations by call, then crashed ones by call.
    order: Vec<usize>,
    n_required: u32,
    /// The list of completed operations' call and return entries, by position.
    next: Vec<u32>,
    prev: Vec<u32>,
    class_prev: Vec<u32>,
    /// Crashed operations: the next of the same class by call, and the unlinearized first of
    /// each class (the only one tried), in call order.
    class_next: Vec<u32>,
    heads: BTreeSet<u32>,
    zobrist: Vec<u64>,
    set: LinSet,
    cache: Cache<M::State>,
    stack: Vec<Frame<M::State>>,
    /// The candidates of every node on the path, each node's above its parent's.
    cands: Vec<u32>,
    node_base: u32,
    cur_idx: u32,
    /// The current node's crashed candidates are in `cands` (after its completed ones).
    crashed_listed: bool,
    state: M::State,
    scratch: M::Scratch,
    stats: SearchStats,
    reported_bytes: usize,
    read_only: Vec<bool>,
    resets: Vec<u32>,
    reset_pos: Vec<u32>,
    reset_first: usize,
    n_lin_required: u32,
    /// The current node has not been entered yet (its candidates are not listed).
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

        // Entry 0 is the list head; entry 2*id+1 is id's call, 2*id+2 its return. Crashed
        // operations never return, so they are candidates from their call on and are kept
        // apart, in `heads`.
        let mut events: Vec<(u64, u8, u32)> = Vec::with_capacity(2 * n_required as usize);
        for id in 0..n_required {
            let o = op(id);
            events.push((o.call, 0, 2 * id + 1));
            events.push((o.ret.unwrap_or(u64::MAX), 1, 2 * id + 2));
        }
        // A return at the same position as a call is taken as concurrent with it.
        events.sort_unstable();
        let slots = 2 * n_required as usize + 1;
        let mut next = vec![NIL; slots];
        let mut prev = vec![NIL; slots];
        let mut last = HEAD;
        for &(_, _, e) in &events {
            next[last as usize] = e;
            prev[e as usize] = last;
            last = e;
        }

        let (class_prev, class_next) = classes(n_required, n as u32, |id| op(id));
        let heads: BTreeSet<u32> = (n_required..n as u32)
            .filter(|&id| class_prev[id as usize] == NIL)
            .collect();

        let mut seed = 0x5eed_u64;
        let zobrist: Vec<u64> = (0..n).map(|_| splitmix(&mut seed)).collect();
        let set = LinSet {
            words: vec![0; n.div_ceil(64) + 1],
            count: 0,
            prefix: 0,
            hash: 0,
        };
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
        Search {
            model,
            ops,
            order,
            n_required,
            next,
            prev,
            class_prev,
            class_next,
            heads,
            zobrist,
            set,
            cache: Cache::with_capacity(4 * n),
            stack: Vec::new(),
            cands: Vec::new(),
            node_base: 0,
            cur_idx: 0,
            crashed_listed: false,
            state: model.init(),
            scratch: M::Scratch::default(),
            stats: SearchStats::default(),
            reported_bytes: 0,
            read_only,
            resets,
            reset_pos,
            reset_first: 0,
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
        self.cands = Vec::new();
        self.scratch = M::Scratch::default();
        budget
            .memory_used
            .fetch_sub(self.reported_bytes, Ordering::Relaxed);
        self.reported_bytes = 0;
    }

    #[inline]
    fn op(&self, id: u32) -> &'a Operation<M::Op> {
        &self.ops[self.order[id as usize]]
    }

    /// Runs for at most `slice` more steps (about: checked every 1024 steps); `None` when the
    /// slice ran out (call again to resume), else the outcome, which later calls repeat.
    pub fn run(&mut self, budget: &Budget, slice: Option<u64>) -> Option<SearchOutcome> {
        if let Some(d) = &self.done {
            return Some(d.clone());
        }
        let slice_end = slice.map(|s| self.stats.steps + s);
        let outcome = loop {
            if self.n_lin_required == self.n_required {
                break Some(SearchOutcome::Linearizable);
            }
            self.stats.steps += 1;
            if self.stats.steps & 0x3ff == 0 {
                if slice_end.is_some_and(|m| self.stats.steps > m) {
                    break None;
                }
                if let Some(reason) = over_budget(budget).or_else(|| self.over_memory(budget)) {
                    break Some(SearchOutcome::Stopped(reason));
                }
            }
            if self.fresh {
                self.fresh = false;
                match self.enter() {
                    Node::Forced => {
                        self.fresh = true;
                        continue;
                    }
                    Node::Dead => {
                        if !self.backtrack() {
                            break Some(SearchOutcome::NotLinearizable);
                        }
                        continue;
                    }
                    Node::Branch => {}
                }
            }
            if self.cur_idx as usize >= self.cands.len() {
                if !self.crashed_listed {
                    self.list_crashed();
                    continue;
                }
                // Every candidate at this node was tried.
                if !self.backtrack() {
                    break Some(SearchOutcome::NotLinearizable);
                }
                continue;
            }
            let id = self.cands[self.cur_idx as usize];
            if !self.descend(id, false) {
                self.cur_idx += 1;
            }
        };
        if let Some(o) = &outcome {
            self.release(budget);
            self.done = Some(o.clone());
        }
        outcome
    }

    /// Linearizes candidate `id` if it is legal and leads to a configuration not seen before.
    ///
    /// A crashed operation is taken only where it matters: a linearization with the fewest
    /// crashed operations never has a crashed `x` (from state `s` to `s'`) that changes
    /// nothing (`s' = s`) or whose next operation `y` is legal in `s` and ends where it ends
    /// after `x` (`step(s, y) = step(s', y)`: a write after a crashed write): leaving `x`
    /// out would be a linearization with fewer. So the node after a crashed operation only
    /// tries what it enables. That node is not memoised: its exploration is partial, while
    /// the memo records configurations whose every continuation failed.
    fn descend(&mut self, id: u32, forced: bool) -> bool {
        let o = self.op(id);
        let Some(s2) = self.model.step_with(&mut self.scratch, &self.state, &o.op) else {
            return false;
        };
        let optional = id >= self.n_required;
        if optional && s2 == self.state {
            return false;
        }
        let n_required = self.n_required;
        if let Some(f) = self
            .stack
            .last()
            .filter(|f| f.op >= n_required && !f.forced)
        {
            if self
                .model
                .step_with(&mut self.scratch, &f.state, &o.op)
                .as_ref()
                == Some(&s2)
            {
                return false;
            }
        }
        let z = if optional {
            0
        } else {
            self.zobrist[id as usize]
        };
        self.set.add(id, z);
        let h = self.set.hash ^ hash_state(&s2);
        let req = self.n_lin_required + u32::from(!optional);
        if !optional && !self.cache.insert(h, &self.set, req, s2.clone()) {
            self.set.remove(id, z);
            return false;
        }
        self.stack.push(Frame {
            op: id,
            forced,
            base: self.node_base,
            listed: self.crashed_listed,
            child_base: self.cands.len() as u32,
            idx: self.cur_idx,
            state: std::mem::replace(&mut self.state, s2),
        });
        self.n_lin_required = req;
        self.stats.max_linearized = self.stats.max_linearized.max(u64::from(req));
        self.stats.max_prefix = self
            .stats
            .max_prefix
            .max(u64::from(self.set.prefix.min(self.n_required)));
        if optional {
            self.heads.remove(&id);
            let after = self.class_next[id as usize];
            if after != NIL {
                self.heads.insert(after);
            }
        } else {
            lift(&mut self.next, &mut self.prev, 2 * id + 1);
        }
        self.fresh = true;
        true
    }

    /// Undoes the last choice and moves to the next candidate of its node (past forced
    /// steps); false when there is none left anywhere.
    fn backtrack(&mut self) -> bool {
        loop {
            let Some(f) = self.stack.pop() else {
                return false;
            };
            self.state = f.state;
            let optional = f.op >= self.n_required;
            if optional {
                self.set.remove(f.op, 0);
                let after = self.class_next[f.op as usize];
                if after != NIL {
                    self.heads.remove(&after);
                }
                self.heads.insert(f.op);
            } else {
                self.set.remove(f.op, self.zobrist[f.op as usize]);
                self.n_lin_required -= 1;
                unlift(&mut self.next, &mut self.prev, 2 * f.op + 1);
            }
            let rp = self.reset_pos[f.op as usize] as usize;
            if rp < self.reset_first {
                self.reset_first = rp;
            }
            self.cands.truncate(f.child_base as usize);
            if f.forced {
                continue;
            }
            self.node_base = f.base;
            self.crashed_listed = f.listed;
            self.cur_idx = f.idx + 1;
            self.fresh = false;
            return true;
        }
    }
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
