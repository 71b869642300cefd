//! A brute-force linearizability checker: tries every order. Exponential; it exists to check
//! the fast search (and its reductions) on small histories.

use crate::model::Model;
use crate::op::Operation;

/// Whether some order of `ops` (completed ones all included, crashed ones included or not),
/// consistent with real time, is legal for `model`. Use only for a handful of operations.
pub fn brute_force<M: Model>(model: &M, ops: &[Operation<M::Op>]) -> bool {
    let mut used = vec![false; ops.len()];
    go(model, ops, &mut used, &model.init())
}

fn go<M: Model>(model: &M, ops: &[Operation<M::Op>], used: &mut [bool], s: &M::State) -> bool {
    if ops
        .iter()
        .zip(used.iter())
        .all(|(o, &u)| u || o.ret.is_none())
    {
        return true;
    }
    for i in 0..ops.len() {
        if used[i] {
            continue;
        }
        // `i` can go next only if no pending completed op returned before `i` was called.
        let blocked = ops
            .iter()
            .enumerate()
            .any(|(j, o)| !used[j] && j != i && o.ret.is_some_and(|r| r < ops[i].call));
        if blocked {
            continue;
        }
        if let Some(s2) = model.step(s, &ops[i].op) {
            used[i] = true;
            let ok = go(model, ops, used, &s2);
            used[i] = false;
            if ok {
                return true;
            }
        }
    }
    false
}
