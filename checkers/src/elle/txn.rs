//! Transactions as typed data, read from a parsed history's `txn` operations.
//!
//! Keys are interned: a micro-op names a [`KeyId`], an index into the history's `keys`. Values
//! are a [`ValId`]: an integer (what Jepsen's and faultline's workloads write) is itself, any
//! other value an index into the history's `values`. A million transactions read tens of
//! millions of list elements: eight bytes each, and no table lookup to read one, keeps them
//! small (the parsed values take 32 bytes each) and fast to compare.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::hash::FxMap;
use crate::history::EventType;
use crate::parse::{History, Proc};
use crate::value::Val;

/// An index into [`TxnHistory::keys`].
pub type KeyId = u32;
/// A value: an integer in ±2⁶² as itself (63 bits, two's complement), anything else as
/// `TAG | index` into [`TxnHistory::values`].
pub type ValId = u64;

/// The bit that marks a [`ValId`] as an index into the values table.
const TAG: u64 = 1 << 63;

/// How a transaction ended. `Info` is uncertain: it may or may not have committed, and its
/// reads are unknown. It is never folded into `Fail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Fail,
    Info,
}

/// A list-append micro-op. A read's list is `None` when it is unknown (an invocation, or a
/// transaction that did not complete ok).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListOp {
    Append {
        key: KeyId,
        value: ValId,
    },
    Read {
        key: KeyId,
        value: Option<Vec<ValId>>,
    },
}

/// An rw-register micro-op. A read's value is `None` when unknown; a read of the initial,
/// never-written state is `Some(NIL)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegOp {
    Write { key: KeyId, value: ValId },
    Read { key: KeyId, value: Option<ValId> },
}

/// The value id of `nil` in every [`TxnHistory`]: a register's initial state.
pub const NIL: ValId = TAG;

/// One transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txn<M> {
    pub process: i64,
    /// Position of the invocation in the history's events.
    pub invoke: usize,
    /// Position of the completion; `None` when it never completed (an `Info`).
    pub complete: Option<usize>,
    pub outcome: Outcome,
    pub ops: Vec<M>,
}

/// The transactions of a history, in invocation order, with the tables of their keys and values.
#[derive(Debug, Clone, Default)]
pub struct TxnHistory<M> {
    pub txns: Vec<Txn<M>>,
    pub keys: Vec<Val>,
    /// `values[NIL]` is `nil`.
    pub values: Vec<Val>,
}

/// Which kind of transactions a history holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnKind {
    ListAppend,
    RwRegister,
}

impl TxnKind {
    /// Recognises a history of transactions: every client operation is a `txn` whose micro-ops
    /// are list-append's (`append`, `r` of lists) or rw-register's (`w`, `r` of values). `None`
    /// for anything else, such as Knossos' multi-register `[:read k v]`/`[:write k v]`, which
    /// the linearizability checker takes.
    pub fn of(h: &History) -> Option<TxnKind> {
        let mut clients = h
            .events
            .iter()
            .filter(|e| matches!(e.process, Proc::Client(_)))
            .peekable();
        clients.peek()?;
        let (mut append, mut write, mut list_read, mut value_read) = (false, false, false, false);
        for e in clients {
            if &*e.f != "txn" {
                return None;
            }
            for m in e.value.as_list().into_iter().flatten() {
                let [f, _, v] = m.as_list().and_then(|l| <&[Val; 3]>::try_from(l).ok())?;
                match f.as_name() {
                    Some("append") => append = true,
                    Some("w") => write = true,
                    Some("r") if v.as_list().is_some() => list_read = true,
                    Some("r") if !v.is_nil() => value_read = true,
                    Some("r") => {}
                    _ => return None,
                }
            }
        }
        match (append || list_read, write || value_read) {
            (true, true) => None,
            (_, true) => Some(TxnKind::RwRegister),
            // Reads that all returned nil: nothing tells the kinds apart, and both checks agree
            // that such reads are fine.
            (_, false) => Some(TxnKind::ListAppend),
        }
    }
}

/// Interns keys and values while reading.
struct Tables {
    keys: Vec<Val>,
    key_ids: FxMap<Val, KeyId>,
    values: Vec<Val>,
    value_ids: FxMap<Val, u32>,
}

impl Tables {
    fn new() -> Tables {
        let mut value_ids = FxMap::default();
        value_ids.insert(Val::Nil, 0);
        Tables {
            keys: Vec::new(),
            key_ids: FxMap::default(),
            values: vec![Val::Nil],
            value_ids,
        }
    }

    fn key(&mut self, k: &Val) -> KeyId {
        intern(&mut self.keys, &mut self.key_ids, k)
    }

    fn value(&mut self, v: &Val) -> ValId {
        match *v {
            Val::Int(i) if (-(1 << 62)..(1 << 62)).contains(&i) => (i as u64) & !TAG,
            _ => TAG | u64::from(intern(&mut self.values, &mut self.value_ids, v)),
        }
    }
}

fn intern(table: &mut Vec<Val>, ids: &mut FxMap<Val, u32>, v: &Val) -> u32 {
    if let Some(&id) = ids.get(v) {
        return id;
    }
    let id = table.len() as u32;
    table.push(v.clone());
    ids.insert(v.clone(), id);
    id
}

/// Reads the `txn` operations of `h` as list-append transactions.
pub fn list_append(h: &History) -> Result<TxnHistory<ListOp>> {
    read_txns(h, |t, f, key, v, line, known| {
        Ok(match f {
            "append" => ListOp::Append {
                key: t.key(key),
                value: t.value(v),
            },
            "r" => ListOp::Read {
                key: t.key(key),
                value: match v {
                    Val::List(items) if known => Some(items.iter().map(|x| t.value(x)).collect()),
                    // Jepsen's clients read an absent key as nil: the empty list.
                    Val::Nil if known => Some(Vec::new()),
                    _ if !known => None,
                    other => {
                        return Err(Error::AtLine {
                            line,
                            msg: format!("a list-append read returns a list, not {other}"),
                        })
                    }
                },
            },
            other => {
                return Err(Error::AtLine {
                    line,
                    msg: format!("unknown list-append micro-op {other:?}: use append or r"),
                })
            }
        })
    })
}

/// Reads the `txn` operations of `h` as rw-register transactions.
pub fn rw_register(h: &History) -> Result<TxnHistory<RegOp>> {
    read_txns(h, |t, f, key, v, line, known| {
        Ok(match f {
            "w" => RegOp::Write {
                key: t.key(key),
                value: t.value(v),
            },
            "r" => RegOp::Read {
                key: t.key(key),
                value: known.then(|| t.value(v)),
            },
            other => {
                return Err(Error::AtLine {
                    line,
                    msg: format!("unknown rw-register micro-op {other:?}: use w or r"),
                })
            }
        })
    })
}

/// A micro-op reader: tables, `f`, key, value, line, and whether reads' values are known.
type MicroOp<'a, M> = dyn FnMut(&mut Tables, &str, &Val, &Val, usize, bool) -> Result<M> + 'a;

/// Pairs each process's invocations with their completions and reads the micro-ops: an ok
/// completion's (reads filled in), otherwise the invocation's (reads unknown).
fn read_txns<M>(
    h: &History,
    mut op: impl FnMut(&mut Tables, &str, &Val, &Val, usize, bool) -> Result<M>,
) -> Result<TxnHistory<M>> {
    let op: &mut MicroOp<'_, M> = &mut op;
    let mut t = Tables::new();
    let mut txns: Vec<Txn<M>> = Vec::new();
    // Each process's open invocation: (position of the event, index of its transaction).
    let mut open: FxMap<i64, usize> = FxMap::default();
    for (i, e) in h.events.iter().enumerate() {
        let Proc::Client(process) = e.process else {
            continue;
        };
        if &*e.f != "txn" {
            return Err(Error::AtLine {
                line: e.line,
                msg: format!(
                    "a transactional history has only txn operations, not {}",
                    e.f
                ),
            });
        }
        if e.kind == EventType::Invoke {
            if open.contains_key(&process) {
                return Err(Error::AtLine {
                    line: e.line,
                    msg: format!("process {process} invoked a txn while another was open"),
                });
            }
            open.insert(process, txns.len());
            txns.push(Txn {
                process,
                invoke: i,
                complete: None,
                outcome: Outcome::Info,
                ops: micro_ops(&mut t, op, &e.value, e.line, false)?,
            });
            continue;
        }
        let Some(at) = open.remove(&process) else {
            return Err(Error::AtLine {
                line: e.line,
                msg: format!("process {process} completed a txn it never invoked"),
            });
        };
        let txn = &mut txns[at];
        txn.complete = Some(i);
        txn.outcome = match e.kind {
            EventType::Ok => Outcome::Ok,
            EventType::Fail => Outcome::Fail,
            _ => Outcome::Info,
        };
        if e.kind == EventType::Ok {
            let ops = micro_ops(&mut t, op, &e.value, e.line, true)?;
            if ops.len() != txn.ops.len() {
                return Err(Error::AtLine {
                    line: e.line,
                    msg: "the completion has not the invocation's micro-ops".into(),
                });
            }
            txn.ops = ops;
        }
    }
    Ok(TxnHistory {
        txns,
        keys: t.keys,
        values: t.values,
    })
}

fn micro_ops<M>(
    t: &mut Tables,
    op: &mut MicroOp<'_, M>,
    value: &Val,
    line: usize,
    known: bool,
) -> Result<Vec<M>> {
    let Some(list) = value.as_list() else {
        if value.is_nil() && !known {
            return Ok(Vec::new());
        }
        return Err(Error::AtLine {
            line,
            msg: format!("a txn's value is a list of micro-ops, not {value}"),
        });
    };
    list.iter()
        .map(|m| {
            let Some([f, k, v]) = m.as_list().and_then(|l| <&[Val; 3]>::try_from(l).ok()) else {
                return Err(Error::AtLine {
                    line,
                    msg: format!("a micro-op is [f key value], not {m}"),
                });
            };
            let f = f.as_name().ok_or_else(|| Error::AtLine {
                line,
                msg: format!("a micro-op's function is a name, not {f}"),
            })?;
            op(t, f, k, v, line, known)
        })
        .collect()
}

impl<M> TxnHistory<M> {
    /// A value as people read it.
    pub fn value(&self, v: ValId) -> Val {
        if v & TAG == 0 {
            // Sign-extend the 63 bits back.
            Val::Int(((v << 1) as i64) >> 1)
        } else {
            self.values[(v & !TAG) as usize].clone()
        }
    }

    /// A key as people read it.
    pub fn key(&self, k: KeyId) -> &Val {
        &self.keys[k as usize]
    }
}

impl TxnHistory<ListOp> {
    /// One micro-op as text: `append x 3`, `r x [1 2 3]`.
    pub fn show(&self, m: &ListOp) -> String {
        match m {
            ListOp::Append { key, value } => {
                format!("append {} {}", self.key(*key), self.value(*value))
            }
            ListOp::Read { key, value: None } => format!("r {} ?", self.key(*key)),
            ListOp::Read {
                key,
                value: Some(l),
            } => format!("r {} {}", self.key(*key), self.list(l)),
        }
    }

    /// A read's list as text; a long one by its first element and its last few (what a cycle
    /// step is about is at the end), with its length.
    pub fn list(&self, l: &[ValId]) -> String {
        const HEAD: usize = 1;
        const TAIL: usize = 4;
        let show =
            |s: &[ValId]| -> Vec<String> { s.iter().map(|v| self.value(*v).to_string()).collect() };
        if l.len() <= HEAD + TAIL + 1 {
            return format!("[{}]", show(l).join(" "));
        }
        format!(
            "[{} … {}] ({} elements)",
            show(&l[..HEAD]).join(" "),
            show(&l[l.len() - TAIL..]).join(" "),
            l.len()
        )
    }
}

impl TxnHistory<RegOp> {
    /// One micro-op as text: `w x 3`, `r x 3`.
    pub fn show(&self, m: &RegOp) -> String {
        match m {
            RegOp::Write { key, value } => format!("w {} {}", self.key(*key), self.value(*value)),
            RegOp::Read { key, value: None } => format!("r {} ?", self.key(*key)),
            RegOp::Read {
                key,
                value: Some(v),
            } => format!("r {} {}", self.key(*key), self.value(*v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Integers are their own ids (negative and large ones too); anything else is interned;
    /// every id reads back as its value.
    #[test]
    fn values_round_trip_through_their_ids() {
        let mut t = Tables::new();
        let vals = [
            Val::Int(0),
            Val::Int(-1),
            Val::Int(1 << 61),
            Val::Int(-(1 << 62)),
            Val::Int(i64::MAX),
            Val::Int(i64::MIN),
            Val::Nil,
            Val::Str("x".into()),
            Val::Kw("k".into()),
        ];
        let ids: Vec<ValId> = vals.iter().map(|v| t.value(v)).collect();
        assert_eq!(ids[6], NIL);
        let h: TxnHistory<ListOp> = TxnHistory {
            txns: Vec::new(),
            keys: Vec::new(),
            values: t.values.clone(),
        };
        for (v, id) in vals.iter().zip(&ids) {
            assert_eq!(&h.value(*id), v);
        }
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), vals.len());
        // Long lists are shortened to their ends, short ones shown whole.
        assert_eq!(h.list(&[1, 2, 3]), "[1 2 3]");
        let long: Vec<ValId> = (1..=100).collect();
        assert_eq!(h.list(&long), "[1 … 97 98 99 100] (100 elements)");
    }
}
