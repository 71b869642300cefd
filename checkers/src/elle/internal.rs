//! Internal consistency: a transaction must see its own earlier reads and writes (Adya's
//! histories assume it; Elle reports a transaction that does not as `internal`).

use super::report::{Finding, Findings};
use super::txn::{KeyId, ListOp, Outcome, RegOp, TxnHistory, ValId};
use crate::hash::FxMap;

/// Transactions that do not see their own writes: after `append k v`, a read of k ends with
/// v (and with the transaction's earlier read followed by its appends, when it read k before).
pub fn list_append(h: &TxnHistory<ListOp>, findings: &mut Findings) {
    for (t, txn) in h.txns.iter().enumerate() {
        if txn.outcome != Outcome::Ok {
            continue;
        }
        // Per key: the state known so far (a read, then appends) or just the appends.
        let mut known: FxMap<KeyId, (bool, Vec<ValId>)> = FxMap::default();
        for op in &txn.ops {
            match op {
                ListOp::Append { key, value } => known.entry(*key).or_default().1.push(*value),
                ListOp::Read {
                    key,
                    value: Some(l),
                } => {
                    let ok = match known.get(key) {
                        None => true,
                        Some((true, state)) => state == l,
                        Some((false, mine)) => l.ends_with(mine),
                    };
                    if !ok {
                        let (full, expected) = &known[key];
                        findings.push(Finding::new(
                            "internal",
                            vec![t as u32],
                            format!(
                                "T{} read {} = {} where its own earlier operations mean it {} {}",
                                txn.invoke,
                                h.key(*key),
                                h.list(l),
                                if *full {
                                    "should read"
                                } else {
                                    "should end with"
                                },
                                h.list(expected)
                            ),
                        ));
                    }
                    known.insert(*key, (true, l.clone()));
                }
                ListOp::Read { .. } => {}
            }
        }
    }
}

/// Transactions that do not see their own writes, or whose reads of a key disagree.
pub fn rw_register(h: &TxnHistory<RegOp>, findings: &mut Findings) {
    for (t, txn) in h.txns.iter().enumerate() {
        if txn.outcome != Outcome::Ok {
            continue;
        }
        let mut state: FxMap<KeyId, ValId> = FxMap::default();
        for op in &txn.ops {
            match *op {
                RegOp::Write { key, value } => {
                    state.insert(key, value);
                }
                RegOp::Read {
                    key,
                    value: Some(v),
                } => {
                    if let Some(&expected) = state.get(&key) {
                        if expected != v {
                            findings.push(Finding::new(
                                "internal",
                                vec![t as u32],
                                format!(
                                    "T{} read {} = {} where its own earlier operations mean it should read {}",
                                    txn.invoke,
                                    h.key(key),
                                    h.value(v),
                                    h.value(expected)
                                ),
                            ));
                        }
                    }
                    state.insert(key, v);
                }
                RegOp::Read { .. } => {}
            }
        }
    }
}
