//! rw-register inference, as Elle's: registers read and written with unique values, whose
//! version orders are only what can be inferred. Every key starts at nil, which precedes all
//! its writes; a transaction that read `v1` and then wrote `v2` puts `v1` before `v2` (its
//! write follows its read).
//!
//! Real time orders versions too where the model allows it (Elle's `linearizable-keys?`): under
//! a model with real-time order (strict serializability, the strong session and snapshot
//! models), a transaction that committed before another began is before it in every key both
//! wrote, so its final write to the key is the earlier version. That turns reads into
//! anti-dependencies that read-inferred orders miss: a read of `v1` after `v2` was written, in
//! real time, by a transaction that completed before the reader began is a stale read, an rw
//! edge from the reader to `v2`'s writer. All pairs would be quadratic; per key, a frontier of
//! the completed writes no later completed write follows keeps it to writes × concurrency, and
//! the order it builds holds every real-time pair transitively. Versions written by transactions
//! whose outcome is unknown are never ordered by real time (they never completed).

use super::graph::{Builder, Label, RW, WR, WW};
use super::report::{Finding, Findings};
use super::txn::{KeyId, Outcome, RegOp, Txn, TxnHistory, ValId, NIL};
use crate::error::{Error, Result};
use crate::hash::FxMap;

/// Who wrote a value, and whether it was the transaction's last write to the key (the only one
/// others may see).
#[derive(Debug, Clone, Copy)]
struct Writer {
    txn: u32,
    last: bool,
}

/// What rw-register inference learnt: kept to explain cycle steps.
pub struct Inference<'h> {
    h: &'h TxnHistory<RegOp>,
    writers: FxMap<(KeyId, ValId), Writer>,
    /// Inferred version order: (key, v1) → the values known to follow v1 directly.
    next: FxMap<(KeyId, ValId), Vec<ValId>>,
    /// The pairs of `next` that real time gave (for the explanation of a cycle's steps).
    by_time: crate::hash::FxSet<(KeyId, ValId, ValId)>,
}

/// Infers version orders, reports the anomalies that need no cycle into `findings`, and adds
/// the data edges to `b`. An error is a value written twice to one key.
/// `realtime_keys`: order versions by real time too (the model has real-time order).
pub fn infer<'h>(
    h: &'h TxnHistory<RegOp>,
    b: &mut Builder,
    findings: &mut Findings,
    realtime_keys: bool,
) -> Result<Inference<'h>> {
    let mut inf = Inference {
        h,
        writers: FxMap::default(),
        next: FxMap::default(),
        by_time: Default::default(),
    };
    inf.writers(h)?;
    if realtime_keys {
        inf.realtime_orders();
    }
    inf.version_orders();
    inf.edges(b, findings);
    super::internal::rw_register(h, findings);
    Ok(inf)
}

/// The first read of each key in a transaction, if nothing touched the key before it: what the
/// transaction saw of others.
fn external_reads<'t>(t: &'t Txn<RegOp>) -> impl Iterator<Item = (KeyId, ValId)> + 't {
    t.ops.iter().enumerate().filter_map(|(i, op)| {
        let RegOp::Read {
            key,
            value: Some(v),
        } = op
        else {
            return None;
        };
        let before = t.ops[..i].iter().any(|o| match o {
            RegOp::Write { key: k, .. } | RegOp::Read { key: k, .. } => k == key,
        });
        (!before).then_some((*key, *v))
    })
}

/// A transaction's last write to each key.
fn final_writes(t: &Txn<RegOp>) -> impl Iterator<Item = (KeyId, ValId)> + '_ {
    t.ops.iter().enumerate().filter_map(|(i, op)| {
        let RegOp::Write { key, value } = *op else {
            return None;
        };
        let later = t.ops[i + 1..]
            .iter()
            .any(|o| matches!(o, RegOp::Write { key: k, .. } if *k == key));
        (!later).then_some((key, value))
    })
}

impl Inference<'_> {
    fn writers(&mut self, h: &TxnHistory<RegOp>) -> Result<()> {
        for (t, txn) in h.txns.iter().enumerate() {
            for (i, op) in txn.ops.iter().enumerate() {
                let RegOp::Write { key, value } = *op else {
                    continue;
                };
                let last = !txn.ops[i + 1..]
                    .iter()
                    .any(|o| matches!(o, RegOp::Write { key: k, .. } if *k == key));
                let w = Writer {
                    txn: t as u32,
                    last,
                };
                if value == NIL || self.writers.insert((key, value), w).is_some() {
                    return Err(Error::Model(format!(
                        "{} was written to {} twice, or is nil (event {}): rw-register needs \
                         unique, non-nil written values",
                        h.value(value),
                        h.key(key),
                        txn.invoke
                    )));
                }
            }
        }
        Ok(())
    }

    /// Per key, each ok transaction's final write follows the final writes of the ok
    /// transactions that completed before it began: linked from the frontier of completed
    /// writes no later completed write follows (every other one reaches it through those).
    fn realtime_orders(&mut self) {
        let h = self.h;
        // Per key: (history position, value, whether it is the completion).
        let mut events: FxMap<KeyId, Vec<(usize, ValId, bool)>> = FxMap::default();
        for txn in h.txns.iter().filter(|t| t.outcome == Outcome::Ok) {
            let Some(complete) = txn.complete else {
                continue;
            };
            for (k, v) in final_writes(txn) {
                let e = events.entry(k).or_default();
                e.push((txn.invoke, v, false));
                e.push((complete, v, true));
            }
        }
        let mut keys: Vec<_> = events.into_iter().collect();
        keys.sort_unstable_by_key(|(k, _)| *k);
        for (k, mut evs) in keys {
            evs.sort_unstable_by_key(|e| e.0);
            let invoked: FxMap<ValId, usize> =
                evs.iter().filter(|e| !e.2).map(|e| (e.1, e.0)).collect();
            // (value, completion position)
            let mut frontier: Vec<(ValId, usize)> = Vec::new();
            for (at, v, complete) in evs {
                if complete {
                    // Writes that completed before this one began precede it: it replaces them.
                    let began = invoked[&v];
                    frontier.retain(|&(_, done)| done > began);
                    frontier.push((v, at));
                } else {
                    for &(before, _) in &frontier {
                        let succ = self.next.entry((k, before)).or_default();
                        if !succ.contains(&v) {
                            succ.push(v);
                        }
                        self.by_time.insert((k, before, v));
                    }
                }
            }
        }
    }

    /// nil before every write; a read before a write in one ok transaction orders their values.
    fn version_orders(&mut self) {
        let h = self.h;
        for txn in h.txns.iter().filter(|t| t.outcome == Outcome::Ok) {
            for (key, read) in external_reads(txn) {
                if let Some((_, wrote)) = final_writes(txn).find(|(k, _)| *k == key) {
                    let succ = self.next.entry((key, read)).or_default();
                    if wrote != read && !succ.contains(&wrote) {
                        succ.push(wrote);
                    }
                }
            }
        }
        // Writes with no inferred predecessor follow nil directly.
        let mut has_pred: FxMap<(KeyId, ValId), ()> = FxMap::default();
        for (&(k, v1), vs) in &self.next {
            if v1 != NIL {
                for v in vs {
                    has_pred.insert((k, *v), ());
                }
            }
        }
        let mut roots: Vec<(KeyId, ValId)> = self
            .writers
            .keys()
            .filter(|kv| !has_pred.contains_key(kv))
            .copied()
            .collect();
        roots.sort_unstable();
        for (k, v) in roots {
            let succ = self.next.entry((k, NIL)).or_default();
            if !succ.contains(&v) {
                succ.push(v);
            }
        }
    }

    fn node(&self, k: KeyId, v: ValId) -> Option<u32> {
        let w = self.writers.get(&(k, v))?;
        (self.h.txns[w.txn as usize].outcome != Outcome::Fail).then_some(w.txn)
    }

    fn edges(&self, b: &mut Builder, findings: &mut Findings) {
        let h = self.h;
        for (&(k, v1), vs) in &self.next {
            let Some(a) = self.node(k, v1) else { continue };
            for &v2 in vs {
                if let Some(c) = self.node(k, v2) {
                    b.edge(a, c, WW);
                }
            }
        }
        let mut updates: FxMap<(KeyId, ValId), Vec<u32>> = FxMap::default();
        for (t, txn) in h.txns.iter().enumerate() {
            if txn.outcome != Outcome::Ok {
                continue;
            }
            let t = t as u32;
            for (k, v) in external_reads(txn) {
                self.read_anomalies(t, k, v, findings);
                if let Some(w) = self.node(k, v) {
                    b.edge(w, t, WR);
                }
                for &v2 in self.next.get(&(k, v)).into_iter().flatten() {
                    if let Some(c) = self.node(k, v2) {
                        b.edge(t, c, RW);
                    }
                }
                if final_writes(txn).any(|(wk, _)| wk == k) {
                    updates.entry((k, v)).or_default().push(t);
                }
            }
        }
        let mut lost: Vec<_> = updates.into_iter().filter(|(_, t)| t.len() > 1).collect();
        lost.sort_unstable();
        for ((k, v), ts) in lost {
            let names: Vec<String> = ts
                .iter()
                .map(|t| format!("T{}", h.txns[*t as usize].invoke))
                .collect();
            findings.push(Finding::new(
                "lost-update",
                ts,
                format!(
                    "{} all read {} = {} and then wrote it: each update was made without \
                     seeing the others",
                    names.join(", "),
                    h.key(k),
                    h.value(v)
                ),
            ));
        }
    }

    /// G1a (an aborted write read), G1b (an intermediate write read), garbage (a value never
    /// written).
    fn read_anomalies(&self, t: u32, k: KeyId, v: ValId, findings: &mut Findings) {
        let h = self.h;
        if v == NIL {
            return;
        }
        let me = h.txns[t as usize].invoke;
        let what = format!("T{me} read {} = {}", h.key(k), h.value(v));
        match self.writers.get(&(k, v)) {
            None => findings.push(Finding::new(
                "garbage-read",
                vec![t],
                format!("{what}, which no transaction wrote"),
            )),
            Some(w) if h.txns[w.txn as usize].outcome == Outcome::Fail => {
                findings.push(Finding::new(
                    "G1a",
                    vec![w.txn, t],
                    format!(
                        "{what}, written by T{}, which failed",
                        h.txns[w.txn as usize].invoke
                    ),
                ))
            }
            Some(w) if !w.last && w.txn != t => findings.push(Finding::new(
                "G1b",
                vec![w.txn, t],
                format!(
                    "{what}, which T{} wrote and then overwrote: an intermediate state",
                    h.txns[w.txn as usize].invoke
                ),
            )),
            Some(_) => {}
        }
    }

    /// A cycle step in words.
    pub fn step(&self, a: u32, b: u32, label: Label) -> Option<String> {
        let h = self.h;
        let (ta, tb) = (&h.txns[a as usize], &h.txns[b as usize]);
        let (na, nb) = (format!("T{}", ta.invoke), format!("T{}", tb.invoke));
        match label {
            Label::Ww => final_writes(ta).find_map(|(k, v1)| {
                let v2 = *self
                    .next
                    .get(&(k, v1))?
                    .iter()
                    .find(|v2| self.node(k, **v2) == Some(b))?;
                Some(if self.by_time.contains(&(k, v1, v2)) {
                    format!(
                        "{na} wrote {k} = {}, and {nb}, which began after {na} completed, wrote \
                         {k} = {} (ww, by real time)",
                        h.value(v1),
                        h.value(v2),
                        k = h.key(k)
                    )
                } else {
                    format!(
                        "{na} wrote {k} = {}, and {nb} read it before writing {k} = {} (ww)",
                        h.value(v1),
                        h.value(v2),
                        k = h.key(k)
                    )
                })
            }),
            Label::Wr => external_reads(tb).find_map(|(k, v)| {
                (v != NIL && self.node(k, v) == Some(a)).then(|| {
                    format!(
                        "{na} wrote {k} = {v}, which {nb} read (wr)",
                        k = h.key(k),
                        v = h.value(v)
                    )
                })
            }),
            Label::Rw => external_reads(ta).find_map(|(k, v1)| {
                let v2 = *self
                    .next
                    .get(&(k, v1))?
                    .iter()
                    .find(|v2| self.node(k, **v2) == Some(b))?;
                Some(format!(
                    "{na} read {k} = {}, a version {nb} overwrote with {}, so {na} precedes {nb} (rw)",
                    h.value(v1),
                    h.value(v2),
                    k = h.key(k)
                ))
            }),
            Label::Process | Label::Realtime => None,
        }
    }
}
