//! Entering a node of the search: what may be linearized next, in which order, and what is
//! left out as not worth trying.

use super::{Search, HEAD, NIL};
use crate::model::Model;

/// What entering a node found.
pub(super) enum Node {
    /// A read-only operation was linearized without branching: enter the next node.
    Forced,
    /// A pending read can no longer be made legal: the node has no way forward.
    Dead,
    /// The node's candidates are in `cands[node_base..]`.
    Branch,
}

impl<M: Model> Search<'_, M> {
    /// Enters the current node: linearizes a legal read-only candidate at once (moving it
    /// earlier in any linearization changes no state, and it may go now), refutes the node
    /// when a pending read can never become legal, or lists the candidates worth trying,
    /// those that must return first first (a deadline order: an operation that returns soon
    /// must be linearized soon, so the first path tried is the likeliest to succeed, which at
    /// a hundred concurrent operations is the difference between milliseconds and no verdict).
    pub(super) fn enter(&mut self) -> Node {
        self.node_base = self.cands.len() as u32;
        self.cur_idx = self.node_base;
        let mut e = self.next[HEAD as usize];
        while e != NIL && e % 2 == 1 {
            let id = (e - 1) / 2;
            if self.read_only[id as usize] {
                let o = self.op(id);
                match self.model.step_with(&mut self.scratch, &self.state, &o.op) {
                    Some(_) => {
                        self.cands.truncate(self.node_base as usize);
                        return if self.descend(id, true) {
                            Node::Forced
                        } else {
                            Node::Dead
                        };
                    }
                    None if self.hopeless(id) => {
                        self.cands.truncate(self.node_base as usize);
                        return Node::Dead;
                    }
                    None => {}
                }
            } else {
                // Of two candidates with equal operations, the one that returned first.
                let twin = self.class_prev[id as usize];
                if twin == NIL || self.set.has(twin) || self.op(twin).call > self.op(id).call {
                    self.cands.push(id);
                }
            }
            e = self.next[e as usize];
        }
        let base = self.node_base as usize;
        let (ops, order) = (self.ops, &self.order);
        self.cands[base..]
            .sort_unstable_by_key(|&id| (ops[order[id as usize]].ret.unwrap_or(u64::MAX), id));
        self.crashed_listed = false;
        Node::Branch
    }

    /// Appends the node's crashed candidates, once its completed ones have all failed: they
    /// are optional, so tried last, and listed only then, so that a long path of nodes that
    /// never need them does not hold a list of them each. Only the first unlinearized one of
    /// each class (see `crate::reduce`), called before the first pending return.
    pub(super) fn list_crashed(&mut self) {
        self.crashed_listed = true;
        if self.heads.is_empty() {
            return;
        }
        let mut e = self.next[HEAD as usize];
        while e != NIL && e % 2 == 1 {
            e = self.next[e as usize];
        }
        let first_ret = if e == NIL {
            u64::MAX
        } else {
            self.op((e - 2) / 2).ret.unwrap_or(u64::MAX)
        };
        let from = self.cands.len();
        for &id in &self.heads {
            if self.op(id).call > first_ret {
                break;
            }
            self.cands.push(id);
        }
        self.drop_subsumed(from);
    }

    /// Of the crashed candidates `cands[from..]`, drops each that [`Model::subsumes`] another
    /// one legal now: using the weaker one keeps the stronger for later, which can do all the
    /// weaker could (crashed operations stay callable to the end), so a configuration that
    /// used the stronger one here is dominated. Each is compared with those kept and those not
    /// yet looked at, never with one already dropped: of two that subsume each other, one
    /// stays (subsumption is transitive, so a chain of drops ends at a kept one).
    fn drop_subsumed(&mut self, from: usize) {
        if self.cands.len() - from < 2 {
            return;
        }
        let mut keep = from;
        for i in from..self.cands.len() {
            let x = &self.op(self.cands[i]).op;
            let (kept, rest) = (&self.cands[from..keep], &self.cands[i + 1..]);
            let dominated = kept.iter().chain(rest).any(|&y| {
                let y = &self.op(y).op;
                y != x && self.model.subsumes(x, y) && self.model.step(&self.state, y).is_some()
            });
            if !dominated {
                self.cands[keep] = self.cands[i];
                keep += 1;
            }
        }
        self.cands.truncate(keep);
    }

    /// A pending read `id`, illegal now, that no state change may still precede.
    fn hopeless(&mut self, id: u32) -> bool {
        while self.reset_first < self.resets.len() && self.set.has(self.resets[self.reset_first]) {
            self.reset_first += 1;
        }
        let ret = self.op(id).ret.unwrap_or(u64::MAX);
        let can_change = self.reset_first < self.resets.len()
            && self.op(self.resets[self.reset_first]).call <= ret;
        !can_change && self.model.hopeless(&self.state, &self.op(id).op)
    }
}
