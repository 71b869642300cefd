//! List-append inference: each key's version order is its longest read (appends are unique,
//! so a list names its writers in order), every other read must be a prefix of it; then the
//! anomalies that need no cycle, and the ww, wr and rw edges.

use super::graph::{Builder, Label, RW, WR, WW};
use super::report::{Finding, Findings};
use super::txn::{KeyId, ListOp, Outcome, TxnHistory, ValId};
use crate::error::{Error, Result};
use crate::hash::FxMap;

/// No position: an element no read saw.
const UNSEEN: u32 = u32::MAX;

/// Who appended an element, and where it sits in its key's version order.
#[derive(Debug, Clone, Copy)]
struct Writer {
    txn: u32,
    /// The transaction's last append to the key (a read ending elsewhere in its appends saw
    /// an intermediate state).
    last: bool,
    pos: u32,
}

/// What list-append inference learnt: kept to explain cycle steps.
pub struct Inference<'h> {
    h: &'h TxnHistory<ListOp>,
    writers: FxMap<(KeyId, ValId), Writer>,
    /// Per key, its version order (the longest read) and whether every read was a prefix of it.
    orders: Vec<Vec<ValId>>,
    compatible: Vec<bool>,
}

/// Infers version orders, reports the anomalies that need no cycle into `findings`, and adds
/// the data edges to `b`. An error is a history list-append cannot read (a value appended twice).
pub fn infer<'h>(
    h: &'h TxnHistory<ListOp>,
    b: &mut Builder,
    findings: &mut Findings,
) -> Result<Inference<'h>> {
    let mut inf = Inference {
        h,
        writers: writers(h)?,
        orders: vec![Vec::new(); h.keys.len()],
        compatible: vec![true; h.keys.len()],
    };
    inf.version_orders(findings);
    inf.element_anomalies(findings);
    inf.edges(b, findings);
    super::internal::list_append(h, findings);
    inf.unread_appends(b);
    Ok(inf)
}

/// Every appended element's writer; appended values must be unique per key.
fn writers(h: &TxnHistory<ListOp>) -> Result<FxMap<(KeyId, ValId), Writer>> {
    let mut out: FxMap<(KeyId, ValId), Writer> = FxMap::default();
    out.reserve(h.txns.len() * 2);
    for (t, txn) in h.txns.iter().enumerate() {
        for (i, op) in txn.ops.iter().enumerate() {
            let ListOp::Append { key, value } = *op else {
                continue;
            };
            let last = !txn.ops[i + 1..]
                .iter()
                .any(|o| matches!(o, ListOp::Append { key: k, .. } if *k == key));
            let w = Writer {
                txn: t as u32,
                last,
                pos: UNSEEN,
            };
            if let Some(prev) = out.insert((key, value), w) {
                return Err(Error::Model(format!(
                    "{} was appended to {} twice (events {} and {}): list-append needs unique values",
                    h.value(value),
                    h.key(key),
                    h.txns[prev.txn as usize].invoke,
                    txn.invoke
                )));
            }
        }
    }
    Ok(out)
}

/// The reads of ok transactions: (transaction, key, list, external). A read is external when
/// it comes before the transaction's own appends to the key: it saw others' writes only.
fn reads(h: &TxnHistory<ListOp>) -> impl Iterator<Item = (u32, KeyId, &[ValId], bool)> + '_ {
    h.txns
        .iter()
        .enumerate()
        .filter(|(_, t)| t.outcome == Outcome::Ok)
        .flat_map(|(t, txn)| {
            txn.ops.iter().enumerate().filter_map(move |(i, op)| {
                let ListOp::Read {
                    key,
                    value: Some(l),
                } = op
                else {
                    return None;
                };
                let before = &txn.ops[..i];
                let wrote = before
                    .iter()
                    .any(|o| matches!(o, ListOp::Append { key: k, .. } if k == key));
                let read = before
                    .iter()
                    .any(|o| matches!(o, ListOp::Read { key: k, .. } if k == key));
                Some((t as u32, *key, l.as_slice(), !wrote && !read))
            })
        })
}

impl Inference<'_> {
    /// Longest read per key; every read must be its prefix (else incompatible-order).
    fn version_orders(&mut self, findings: &mut Findings) {
        let mut longest: Vec<Option<(u32, &[ValId])>> = vec![None; self.h.keys.len()];
        for (t, key, l, _) in reads(self.h) {
            let slot = &mut longest[key as usize];
            if slot.is_none_or(|(_, m)| l.len() > m.len()) {
                *slot = Some((t, l));
            }
        }
        for (t, key, l, _) in reads(self.h) {
            let Some((lt, m)) = longest[key as usize] else {
                continue;
            };
            if self.compatible[key as usize] && m[..l.len()] != *l {
                self.compatible[key as usize] = false;
                findings.push(Finding::new(
                    "incompatible-order",
                    vec![t, lt],
                    format!(
                        "T{} read {} = {} and T{} read {} = {}: neither is a prefix of the other, \
                         so they cannot both be states of one list",
                        self.h.txns[t as usize].invoke,
                        self.h.key(key),
                        self.h.list(l),
                        self.h.txns[lt as usize].invoke,
                        self.h.key(key),
                        self.h.list(m)
                    ),
                ));
            }
        }
        for (key, l) in longest.into_iter().enumerate() {
            if let Some((_, m)) = l {
                self.orders[key] = m.to_vec();
            }
        }
        for (key, m) in self.orders.iter().enumerate() {
            for (i, &e) in m.iter().enumerate() {
                if let Some(w) = self.writers.get_mut(&(key as KeyId, e)) {
                    if w.pos == UNSEEN {
                        w.pos = i as u32;
                    }
                }
            }
        }
    }

    /// Duplicates, elements nobody appended, reads of aborted appends (G1a) and committed
    /// appends after aborted ones (dirty update), from each key's order: every compatible read
    /// is a prefix of it, so a read shows an element exactly when it is longer than its position.
    fn element_anomalies(&self, findings: &mut Findings) {
        let h = self.h;
        // The first aborted element of each key, for G1a: (position, writer).
        let mut aborted: Vec<Option<(usize, u32)>> = vec![None; h.keys.len()];
        for (key, m) in self.orders.iter().enumerate() {
            let key_name = h.key(key as KeyId);
            let mut seen = FxMap::<ValId, ()>::default();
            for (i, &e) in m.iter().enumerate() {
                if seen.insert(e, ()).is_some() {
                    findings.push(Finding::new(
                        "duplicate-elements",
                        vec![],
                        format!(
                            "a read of {key_name} holds {} twice: {}",
                            h.value(e),
                            h.list(m)
                        ),
                    ));
                }
                match self.writers.get(&(key as KeyId, e)) {
                    None => findings.push(Finding::new(
                        "garbage-read",
                        vec![],
                        format!(
                            "{key_name} was read holding {}, which no transaction appended",
                            h.value(e)
                        ),
                    )),
                    Some(w) if h.txns[w.txn as usize].outcome == Outcome::Fail => {
                        if aborted[key].is_none() {
                            aborted[key] = Some((i, w.txn));
                        }
                        if let Some(later) = m[i + 1..].iter().find_map(|x| {
                            self.writers
                                .get(&(key as KeyId, *x))
                                .filter(|w| h.txns[w.txn as usize].outcome != Outcome::Fail)
                        }) {
                            findings.push(Finding::new(
                                "dirty-update",
                                vec![w.txn, later.txn],
                                format!(
                                    "T{} appended {} to {key_name} and failed, yet T{} appended after it",
                                    h.txns[w.txn as usize].invoke,
                                    h.value(e),
                                    h.txns[later.txn as usize].invoke
                                ),
                            ));
                        }
                    }
                    Some(_) => {}
                }
            }
        }
        self.aborted_reads(&aborted, findings);
    }

    /// G1a: each read holding an aborted append. `aborted` is each key's first aborted
    /// element in its order: (position, writer).
    fn aborted_reads(&self, aborted: &[Option<(usize, u32)>], findings: &mut Findings) {
        let h = self.h;
        for (t, key, l, _) in reads(h) {
            // Incompatible reads are not prefixes of the order: look at their own elements.
            let failed = if self.compatible[key as usize] {
                aborted[key as usize]
                    .filter(|&(i, _)| l.len() > i)
                    .map(|(i, w)| (l[i], w))
            } else {
                l.iter().find_map(|&e| {
                    self.writers
                        .get(&(key, e))
                        .filter(|w| h.txns[w.txn as usize].outcome == Outcome::Fail)
                        .map(|w| (e, w.txn))
                })
            };
            if let Some((e, w)) = failed {
                findings.push(Finding::new(
                    "G1a",
                    vec![w, t],
                    format!(
                        "T{} read {} = {}, which holds {}, appended by T{} which failed",
                        h.txns[t as usize].invoke,
                        h.key(key),
                        h.list(l),
                        h.value(e),
                        h.txns[w as usize].invoke
                    ),
                ));
            }
        }
    }

    /// ww between neighbours in each order; wr and rw from each external read; G1b and lost
    /// updates on the way.
    fn edges(&self, b: &mut Builder, findings: &mut Findings) {
        let h = self.h;
        let node = |w: &Writer| (h.txns[w.txn as usize].outcome != Outcome::Fail).then_some(w.txn);
        for (key, m) in self.orders.iter().enumerate() {
            if !self.compatible[key] {
                continue;
            }
            let ws: Vec<Option<u32>> = m
                .iter()
                .map(|e| self.writers.get(&(key as KeyId, *e)).and_then(node))
                .collect();
            for pair in ws.windows(2) {
                if let [Some(a), Some(c)] = *pair {
                    b.edge(a, c, WW);
                }
            }
        }
        // (key, length read) → the transactions that read it and then appended to the key.
        let mut updates: FxMap<(KeyId, usize), Vec<u32>> = FxMap::default();
        for (t, key, l, external) in reads(h) {
            if !external {
                continue;
            }
            if let Some(w) = l.last().and_then(|e| self.writers.get(&(key, *e))) {
                if let Some(wt) = node(w) {
                    b.edge(wt, t, WR);
                }
                if !w.last && w.txn != t {
                    findings.push(Finding::new(
                        "G1b",
                        vec![w.txn, t],
                        format!(
                            "T{} read {} = {}, ending with {}, which T{} appended before appending again: \
                             an intermediate state",
                            h.txns[t as usize].invoke,
                            h.key(key),
                            h.list(l),
                            h.value(*l.last().unwrap_or(&0)),
                            h.txns[w.txn as usize].invoke
                        ),
                    ));
                }
            }
            if !self.compatible[key as usize] {
                continue;
            }
            let m = &self.orders[key as usize];
            if let Some(next) = m.get(l.len()).and_then(|e| self.writers.get(&(key, *e))) {
                if let Some(nt) = node(next) {
                    b.edge(t, nt, RW);
                }
            }
            let appends = h.txns[t as usize]
                .ops
                .iter()
                .any(|o| matches!(o, ListOp::Append { key: k, .. } if *k == key));
            if appends {
                updates.entry((key, l.len())).or_default().push(t);
            }
        }
        let mut lost: Vec<_> = updates.into_iter().filter(|(_, ts)| ts.len() > 1).collect();
        lost.sort_unstable();
        for ((key, len), ts) in lost {
            let names: Vec<String> = ts
                .iter()
                .map(|t| format!("T{}", h.txns[*t as usize].invoke))
                .collect();
            let state = h.list(&self.orders[key as usize][..len]);
            findings.push(Finding::new(
                "lost-update",
                ts,
                format!(
                    "{} all read {} = {state} and then appended to it: each update was made \
                     without seeing the others",
                    names.join(", "),
                    h.key(key),
                ),
            ));
        }
    }

    /// Acknowledged appends no read saw still have a place, as Elle reasons: every committed
    /// element is in its list, and none of the reads holds it, so it came after every version
    /// read. It follows the last element read (ww), and every read of that last version
    /// precedes it (rw). Their order among themselves is unknown: no edges between them.
    /// Appends of transactions that may not have committed (info) get none.
    fn unread_appends(&self, b: &mut Builder) {
        let h = self.h;
        // Per key, the transactions whose external read saw the whole order.
        let mut full: Vec<Vec<u32>> = vec![Vec::new(); h.keys.len()];
        for (t, key, l, external) in reads(h) {
            if external && l.len() == self.orders[key as usize].len() {
                full[key as usize].push(t);
            }
        }
        for (&(key, _), w) in &self.writers {
            let k = key as usize;
            if w.pos != UNSEEN
                || h.txns[w.txn as usize].outcome != Outcome::Ok
                || !self.compatible[k]
            {
                continue;
            }
            let last = self.orders[k]
                .last()
                .and_then(|e| self.writers.get(&(key, *e)));
            if let Some(prev) = last.filter(|p| h.txns[p.txn as usize].outcome != Outcome::Fail) {
                b.edge(prev.txn, w.txn, WW);
            }
            for &r in &full[k] {
                b.edge(r, w.txn, RW);
            }
        }
    }

    /// A cycle step in words.
    pub fn step(&self, a: u32, b: u32, label: Label) -> Option<String> {
        let h = self.h;
        let name = |t: u32| format!("T{}", h.txns[t as usize].invoke);
        let (ta, tb) = (&h.txns[a as usize], &h.txns[b as usize]);
        match label {
            Label::Ww => ta
                .ops
                .iter()
                .find_map(|op| {
                    let ListOp::Append { key, value } = *op else {
                        return None;
                    };
                    let w = self.writers.get(&(key, value))?;
                    let next = *self.orders[key as usize].get(w.pos.checked_add(1)? as usize)?;
                    (self.writers.get(&(key, next))?.txn == b).then(|| {
                        format!(
                            "{} appended {} to {}, and {} appended {} right after it (ww)",
                            name(a),
                            h.value(value),
                            h.key(key),
                            name(b),
                            h.value(next)
                        )
                    })
                })
                .or_else(|| {
                    self.unread_appends_of(b).into_iter().find_map(|(key, e)| {
                    let last = *self.orders[key as usize].last()?;
                    (self.writers.get(&(key, last))?.txn == a).then(|| {
                        format!(
                            "{} appended {} to {}, the last element any read saw, and {} appended \
                             {}, which no read saw, so after it (ww)",
                            name(a),
                            h.value(last),
                            h.key(key),
                            name(b),
                            h.value(e)
                        )
                    })
                    })
                }),
            Label::Wr => reads_of(tb).find_map(|(key, l)| {
                let e = *l.last()?;
                (self.writers.get(&(key, e))?.txn == a).then(|| {
                    format!(
                        "{} appended {} to {}, which {} read ({} = {}) (wr)",
                        name(a),
                        h.value(e),
                        h.key(key),
                        name(b),
                        h.key(key),
                        h.list(l)
                    )
                })
            }),
            Label::Rw => reads_of(ta)
                .find_map(|(key, l)| {
                    let e = *self.orders[key as usize].get(l.len())?;
                    (self.writers.get(&(key, e))?.txn == b).then(|| {
                        format!(
                            "{} read {} = {} without {}, which {} appended next, so {} precedes {} (rw)",
                            name(a),
                            h.key(key),
                            h.list(l),
                            h.value(e),
                            name(b),
                            name(a),
                            name(b)
                        )
                    })
                })
                .or_else(|| {
                    let ((key, e), l) = self.unread_appends_of(b).into_iter().find_map(|(key, e)| {
                        reads_of(ta).find(|(k, _)| *k == key).map(|(_, l)| ((key, e), l))
                    })?;
                    Some(format!(
                        "{} read {} = {} without {}, which {} appended and no read ever saw, so \
                         {} precedes {} (rw)",
                        name(a),
                        h.key(key),
                        h.list(l),
                        h.value(e),
                        name(b),
                        name(a),
                        name(b)
                    ))
                }),
            Label::Process | Label::Realtime => None,
        }
    }
}

impl Inference<'_> {
    /// The appends of `t` no read saw: (key, element).
    fn unread_appends_of(&self, t: u32) -> Vec<(KeyId, ValId)> {
        self.h.txns[t as usize]
            .ops
            .iter()
            .filter_map(|op| match *op {
                ListOp::Append { key, value } => self
                    .writers
                    .get(&(key, value))
                    .filter(|w| w.pos == UNSEEN)
                    .map(|_| (key, value)),
                ListOp::Read { .. } => None,
            })
            .collect()
    }
}

/// A transaction's external reads: (key, list).
fn reads_of(t: &super::txn::Txn<ListOp>) -> impl Iterator<Item = (KeyId, &[ValId])> {
    t.ops.iter().enumerate().filter_map(|(i, op)| {
        let ListOp::Read {
            key,
            value: Some(l),
        } = op
        else {
            return None;
        };
        let seen_before = t.ops[..i].iter().any(|o| match o {
            ListOp::Append { key: k, .. } | ListOp::Read { key: k, .. } => k == key,
        });
        (!seen_before).then_some((*key, l.as_slice()))
    })
}
