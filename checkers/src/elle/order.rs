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
