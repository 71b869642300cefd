//! Process and real-time order between transactions, in linear time.
//!
//! Real time: `a` precedes `b` when `a` completed ok before `b` was invoked. All such pairs
//! would be quadratic; instead ok completions feed a chain of virtual *time nodes* in history
//! order, and each invocation hangs off the latest one: `a → t_i → … → t_j → b` exists exactly
//! when `a` completed before `b` began. A transaction that failed is no node of the graph;
//! one whose outcome is unknown (info) never completed, so nothing follows it.

use std::collections::HashMap;

use super::graph::{Builder, PROCESS, REALTIME};
use super::txn::{Outcome, Txn};

/// Adds real-time edges (through time nodes) and process edges for `txns` (node `i` is
/// `txns[i]`).
pub fn add_edges<M>(txns: &[Txn<M>], b: &mut Builder, realtime: bool) {
    // (history position, transaction, whether it is the completion)
    let mut events: Vec<(usize, u32, bool)> = Vec::with_capacity(txns.len() * 2);
    for (i, t) in txns.iter().enumerate() {
        if t.outcome == Outcome::Fail {
            continue;
        }
        events.push((t.invoke, i as u32, false));
        if let (Outcome::Ok, Some(c)) = (t.outcome, t.complete) {
            events.push((c, i as u32, true));
        }
    }
    events.sort_unstable_by_key(|e| e.0);
    let mut time: Option<u32> = None;
    // Whether the current time node may take more completions: not once an invocation hung
    // off it, or that invocation would seem to follow them.
    let mut fresh = false;
    let mut last_ok: HashMap<i64, u32> = HashMap::new();
    for (_, t, complete) in events {
        let process = txns[t as usize].process;
        if complete {
            last_ok.insert(process, t);
            if !realtime {
                continue;
            }
            if time.is_none() || !fresh {
                let node = b.add_node();
                if let Some(prev) = time {
                    b.edge(prev, node, REALTIME);
                }
                time = Some(node);
                fresh = true;
            }
            if let Some(node) = time {
                b.edge(t, node, REALTIME);
            }
        } else {
            if let Some(&prev) = last_ok.get(&process) {
                b.edge(prev, t, PROCESS);
            }
            if let Some(node) = time.filter(|_| realtime) {
                b.edge(node, t, REALTIME);
                fresh = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::graph::{Builder, Kinds};
    use super::*;
    use rand::{Rng, SeedableRng};

    fn reaches(g: &super::super::graph::Graph, from: u32, to: u32, mask: Kinds) -> bool {
        let mut seen = vec![false; g.nodes()];
        let mut todo = vec![from];
        while let Some(v) = todo.pop() {
            for (w, _) in g.out(v, mask) {
                if w == to {
                    return true;
                }
                if !std::mem::replace(&mut seen[w as usize], true) {
                    todo.push(w);
                }
            }
        }
        false
    }

    /// Through the time nodes, `a` reaches `b` exactly when `a` completed ok before `b` was
    /// invoked; process edges join each ok transaction to its process's later ones.
    #[test]
    fn time_nodes_encode_exactly_the_real_time_order() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..200 {
            let n = rng.gen_range(1..12);
            // Random intervals over 2n distinct positions, some never completed.
            let mut slots: Vec<usize> = (0..2 * n).collect();
            for i in (1..slots.len()).rev() {
                slots.swap(i, rng.gen_range(0..=i));
            }
            let txns: Vec<Txn<()>> = (0..n)
                .map(|i| {
                    let (a, b) = (
                        slots[2 * i].min(slots[2 * i + 1]),
                        slots[2 * i].max(slots[2 * i + 1]),
                    );
                    let outcome = [Outcome::Ok, Outcome::Ok, Outcome::Info, Outcome::Fail]
                        [rng.gen_range(0..4)];
                    Txn {
                        process: i as i64 % 3,
                        invoke: a,
                        complete: (outcome != Outcome::Info || rng.gen_bool(0.5)).then_some(b),
                        outcome,
                        ops: Vec::new(),
                    }
                })
                .collect();
            let mut b = Builder::new(n as u32);
            add_edges(&txns, &mut b, true);
            let g = b.build();
            for (i, a) in txns.iter().enumerate() {
                for (j, c) in txns.iter().enumerate() {
                    if i == j {
                        continue;
                    }
                    let expected = a.outcome == Outcome::Ok
                        && c.outcome != Outcome::Fail
                        && a.complete.is_some_and(|done| done < c.invoke);
                    assert_eq!(
                        reaches(&g, i as u32, j as u32, REALTIME | PROCESS),
                        expected,
                        "{i} -> {j}: {:?} {:?}",
                        (a.invoke, a.complete, a.outcome),
                        (c.invoke, c.complete, c.outcome)
                    );
                }
            }
        }
    }
}
