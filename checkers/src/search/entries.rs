//! The entry list the search walks (calls and returns of completed operations, linked by
//! position) and the classes of interchangeable operations.

use std::collections::HashMap;
use std::hash::Hash;

use super::NIL;
use crate::hash::FxBuild;
use crate::op::Operation;

/// The classes of interchangeable operations, as links to the member tried before each.
/// Crashed ones (`n_required..n`): the earliest-called goes first, so each links to the one
/// of its class called just before, and `class_next` the other way. Completed ones: the one
/// of a class that returned just before (by a sort by return; below 1,024 operations, where
/// the sort would cost more than it saves, the one invoked just before, when it returned no
/// later).
pub(super) fn classes<'o, O: Hash + Eq + 'o>(
    n_required: u32,
    n: u32,
    op: impl Fn(u32) -> &'o Operation<O>,
) -> (Vec<u32>, Vec<u32>) {
    let mut class_prev = vec![NIL; n as usize];
    let mut class_next = vec![NIL; n as usize];
    let mut last_of: HashMap<&O, u32, FxBuild> = HashMap::default();
    for id in n_required..n {
        if let Some(p) = last_of.insert(&op(id).op, id) {
            class_prev[id as usize] = p;
            class_next[p as usize] = id;
        }
    }
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
    (class_prev, class_next)
}

/// Takes call entry `c` and its return, `c + 1`, off the list.
#[inline]
pub(super) fn lift(next: &mut [u32], prev: &mut [u32], c: u32) {
    for e in [c + 1, c] {
        next[prev[e as usize] as usize] = next[e as usize];
        if next[e as usize] != NIL {
            prev[next[e as usize] as usize] = prev[e as usize];
        }
    }
}

/// Puts entries back, in the reverse order of [`lift`].
#[inline]
pub(super) fn unlift(next: &mut [u32], prev: &mut [u32], c: u32) {
    for e in [c + 1, c] {
        next[prev[e as usize] as usize] = e;
        if next[e as usize] != NIL {
            prev[next[e as usize] as usize] = e;
        }
    }
}
