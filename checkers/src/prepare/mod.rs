//! From events to per-key model operations: pairing invocations with completions, applying each
//! format's semantics (see `VERDICTS.md`), inferring the model, splitting by key.
//!
//! | format    | `fail`                                   | `info` / never completed | nil read        | initial |
//! |-----------|------------------------------------------|--------------------------|-----------------|---------|
//! | edn       | did not happen (dropped)                 | optional (crashed)       | unknown (any)   | 0       |
//! | etcd-log  | cas: completed, returned false; read: dropped | optional            | reads nil       | nil     |
//! | kv-log    | dropped                                  | optional                 | reads ""        | ""      |
//! | faultline | did not happen (dropped)                 | optional                 | reads "absent"  | nil     |

mod pair;

use std::collections::HashMap;

pub use pair::{pair, Outcome, RawOp, Split};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::memory::Guard;
use crate::model::{
    CasRegister, Kv, KvOp, MicroOp, ModelKind, MultiRegister, Mutex, MutexOp, RegOp,
};
use crate::op::Operation;
use crate::parse::{Format, History};
use crate::value::Val;

/// Infers the model from the operations' `:f`s.
pub fn infer_model(ops: &[RawOp<'_>]) -> Result<ModelKind> {
    let mut kind: Option<ModelKind> = None;
    let mut has_cas = false;
    for op in ops {
        let k = match op.f() {
            "read" | "write" => ModelKind::Register,
            "cas" => {
                has_cas = true;
                ModelKind::Register
            }
            "txn" => ModelKind::MultiRegister,
            "acquire" | "release" => ModelKind::Mutex,
            "get" | "put" | "append" => ModelKind::Kv,
            other => {
                return Err(op.err(format!(
                    "unknown :f :{other}; the checker knows read/write/cas (register), txn \
                     (multi-register), acquire/release (mutex) and get/put/append (kv)"
                )))
            }
        };
        match kind {
            None => kind = Some(k),
            Some(prev) if prev == k => {}
            Some(prev) => {
                return Err(op.err(format!(
                    ":f :{} belongs to the {k} model but earlier operations are {prev} operations; \
                     pass --model to choose one",
                    op.f()
                )))
            }
        }
    }
    Ok(match kind {
        Some(ModelKind::Register) if has_cas => ModelKind::CasRegister,
        Some(k) => k,
        None => ModelKind::CasRegister,
    })
}

/// One key's operations, with the model instance that checks them.
#[derive(Debug, Clone)]
pub struct KeyOps<M: crate::model::Model> {
    /// The key as people write it; `None` for a single-key history.
    pub key: Option<String>,
    pub model: M,
    pub ops: Vec<Operation<M::Op>>,
}

/// A history ready to check: one list of keys per model.
#[derive(Debug, Clone)]
pub enum Prepared {
    Register(Vec<KeyOps<CasRegister>>),
    MultiRegister(Vec<KeyOps<MultiRegister>>),
    Mutex(Vec<KeyOps<Mutex>>),
    Kv(Vec<KeyOps<Kv>>),
}

impl Prepared {
    pub fn total_ops(&self) -> usize {
        fn n<M: crate::model::Model>(k: &[KeyOps<M>]) -> usize {
            k.iter().map(|k| k.ops.len()).sum()
        }
        match self {
            Prepared::Register(k) => n(k),
            Prepared::MultiRegister(k) => n(k),
            Prepared::Mutex(k) => n(k),
            Prepared::Kv(k) => n(k),
        }
    }
}

/// Whether EDN's independent-key tuples are to be split: every value is `[k v]` (a cas
/// `[k [from to]]`), and no event has a key of its own.
fn split_tuples(ops: &[RawOp<'_>]) -> Split {
    let tuple = |v: &Val, f: &str| match v.as_list() {
        Some([_, inner]) => f != "cas" || inner.as_list().is_some_and(|l| l.len() == 2),
        _ => false,
    };
    let whole = Split(false);
    Split(
        !ops.is_empty()
            && ops.iter().all(|o| {
                o.key(whole).is_none()
                    && matches!(o.f(), "read" | "write" | "cas")
                    && tuple(o.invoke(whole), o.f())
                    && match o.outcome(whole) {
                        Outcome::Ok(v) | Outcome::Fail(v) => v.is_nil() || tuple(v, o.f()),
                        _ => true,
                    }
            }),
    )
}

fn key_name(k: &Val) -> String {
    match k {
        Val::Str(s) => s.to_string(),
        other => other.to_string(),
    }
}

/// Groups operations by key, keeping first-seen key order. Keys are told apart by how people
/// write them (`"1"` and `1` are one key), found by value first so that each key's name is made
/// once.
fn by_key<'h, 'a>(ops: &'h [RawOp<'a>], split: Split) -> Vec<(Option<String>, Vec<&'h RawOp<'a>>)> {
    type Fx = crate::hash::FxBuild;
    let mut by_val: HashMap<Option<&Val>, usize, Fx> = HashMap::default();
    let mut by_name: HashMap<Option<String>, usize, Fx> = HashMap::default();
    // Parsers share equal texts, so a key's text is mostly found by its address, unhashed.
    // Addresses are safe keys: every text lives as long as the history they come from.
    let mut by_text: HashMap<usize, usize, Fx> = HashMap::default();
    let mut groups: Vec<(Option<String>, Vec<&RawOp>)> = Vec::new();
    for op in ops {
        let key = op.key(split);
        let address = match key {
            Some(Val::Str(s)) => Some(s.as_ptr() as usize),
            _ => None,
        };
        if let Some(&i) = address.and_then(|a| by_text.get(&a)) {
            groups[i].1.push(op);
            continue;
        }
        let i = *by_val.entry(key).or_insert_with(|| {
            let name = key.map(key_name);
            *by_name.entry(name.clone()).or_insert_with(|| {
                groups.push((name, Vec::new()));
                groups.len() - 1
            })
        });
        if let Some(a) = address {
            by_text.insert(a, i);
        }
        groups[i].1.push(op);
    }
    groups
}

struct Interner {
    ids: crate::hash::FxMap<Val, u32>,
    values: Vec<Val>,
}

impl Interner {
    fn new() -> Self {
        let mut i = Interner {
            ids: HashMap::default(),
            values: Vec::new(),
        };
        i.id(&Val::Nil);
        i
    }
    fn id(&mut self, v: &Val) -> u32 {
        if let Some(&id) = self.ids.get(v) {
            return id;
        }
        let id = self.values.len() as u32;
        self.ids.insert(v.clone(), id);
        self.values.push(v.clone());
        id
    }
}

/// Below this many operations, preparing keys on other threads costs more than it saves
/// (measured: a 2,000-op kv history prepared slower on two threads than on one).
const PAR_MIN_OPS: usize = 16 << 10;

/// `f` over `items`, in order, on up to `threads` threads: each key is prepared on its own.
fn par_map<T: Send, R: Send>(items: Vec<T>, threads: usize, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let threads = threads.min(items.len());
    if threads <= 1 {
        return items.into_iter().map(f).collect();
    }
    let n = items.len();
    let inputs: Vec<std::sync::Mutex<Option<T>>> = items
        .into_iter()
        .map(|t| std::sync::Mutex::new(Some(t)))
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let mut out = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(slot) = inputs.get(i) else {
                return out;
            };
            let item = slot
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            if let Some(item) = item {
                out.push((i, f(item)));
            }
        }
    };
    let mut done: Vec<(usize, R)> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..threads).map(|_| s.spawn(work)).collect();
        let mut all = work();
        for h in handles {
            // A panic while preparing is a bug: re-raise it.
            all.extend(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        }
        all
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    debug_assert_eq!(done.len(), n);
    done.into_iter().map(|(_, r)| r).collect()
}

/// Applies `format`'s semantics and `model` (inferred when `None`) to the events. Keys are
/// prepared on up to `threads` threads; past `guard`'s limit, preparing stops with
/// [`Error::MemoryLimit`].
pub fn prepare(
    h: &History,
    model: Option<ModelKind>,
    initial: Option<&Val>,
    threads: usize,
    guard: Guard,
) -> Result<(ModelKind, Prepared)> {
    let ops = pair(h, guard)?;
    let inferred = infer_model(&ops)?;
    let kind = match model {
        None => inferred,
        Some(ModelKind::Register | ModelKind::CasRegister)
            if matches!(inferred, ModelKind::Register | ModelKind::CasRegister) =>
        {
            model.unwrap_or(inferred)
        }
        Some(m) if m == inferred || ops.is_empty() => m,
        Some(m) => {
            return Err(Error::Model(format!(
                "--model {m} does not fit this history: its operations are {inferred} operations"
            )))
        }
    };
    let fmt = h.format;
    let threads = if ops.len() < PAR_MIN_OPS { 1 } else { threads };
    Ok((
        kind,
        match kind {
            ModelKind::Register | ModelKind::CasRegister => {
                let split = if fmt == Format::Edn {
                    split_tuples(&ops)
                } else {
                    Split(false)
                };
                let init = initial.cloned().unwrap_or(match fmt {
                    Format::Edn => Val::Int(0),
                    _ => Val::Nil,
                });
                Prepared::Register(
                    par_map(by_key(&ops, split), threads, |(key, ops)| {
                        register_key(fmt, key, ops, split, &init, guard)
                    })
                    .into_iter()
                    .collect::<Result<_>>()?,
                )
            }
            ModelKind::MultiRegister => Prepared::MultiRegister(
                par_map(by_key(&ops, Split(false)), threads, |(key, ops)| {
                    multi_key(fmt, key, ops, initial, guard)
                })
                .into_iter()
                .collect::<Result<_>>()?,
            ),
            ModelKind::Mutex => Prepared::Mutex(
                by_key(&ops, Split(false))
                    .into_iter()
                    .map(|(key, ops)| KeyOps {
                        key,
                        model: Mutex,
                        ops: ops
                            .iter()
                            .filter_map(|o| {
                                let op = if o.f() == "acquire" {
                                    MutexOp::Acquire
                                } else {
                                    MutexOp::Release
                                };
                                timed(o, op)
                            })
                            .collect(),
                    })
                    .collect(),
            ),
            ModelKind::Kv => {
                let init = match initial {
                    Some(Val::Str(s)) => s.to_string(),
                    Some(v) => v.to_string(),
                    None => String::new(),
                };
                Prepared::Kv(
                    par_map(by_key(&ops, Split(false)), threads, |(key, ops)| {
                        kv_key(key, ops, &init)
                    })
                    .into_iter()
                    .collect::<Result<_>>()?,
                )
            }
        },
    ))
}

/// The operation with its interval, or `None` when it certainly did not happen (`fail`).
fn timed<O>(o: &RawOp, op: O) -> Option<Operation<O>> {
    // Whether the operation happened does not depend on how its values are split.
    match o.outcome(Split(false)) {
        Outcome::Fail(_) => None,
        Outcome::Ok(_) => Some(Operation {
            op,
            call: o.call,
            ret: o.ret(),
            meta: o.meta(),
        }),
        Outcome::Info | Outcome::Pending => Some(Operation {
            op,
            call: o.call,
            ret: None,
            meta: o.meta(),
        }),
    }
}

fn register_key(
    fmt: Format,
    key: Option<String>,
    raw: Vec<&RawOp>,
    split: Split,
    init: &Val,
    guard: Guard,
) -> Result<KeyOps<CasRegister>> {
    let mut it = Interner::new();
    let init = it.id(init);
    let mut ops = Vec::with_capacity(raw.len());
    for (i, &o) in raw.iter().enumerate() {
        guard.every(i, || {
            format!("preparing the operation of line {}", o.line())
        })?;
        let (outcome, invoke) = (o.outcome(split), o.invoke(split));
        let done = matches!(outcome, Outcome::Ok(_));
        let result = match outcome {
            Outcome::Ok(v) | Outcome::Fail(v) if !v.is_nil() => v,
            _ => invoke,
        };
        let op = match o.f() {
            "read" => match outcome {
                Outcome::Ok(v) if v.is_nil() && fmt == Format::Edn => RegOp::ReadAny,
                Outcome::Ok(v) => RegOp::Read(it.id(v)),
                _ => RegOp::ReadAny,
            },
            "write" => {
                if !done && result.is_nil() && invoke.is_nil() && fmt != Format::Faultline {
                    return Err(o.err("a :write needs a :value"));
                }
                RegOp::Write(it.id(result))
            }
            "cas" => {
                let Some([from, to]) = result.as_list() else {
                    return Err(o.err(format!("a :cas value must be [from to], found {result}")));
                };
                let (from, to) = (it.id(from), it.id(to));
                if fmt == Format::EtcdLog && matches!(outcome, Outcome::Fail(_)) {
                    ops.push(Operation {
                        op: RegOp::CasFailed(from, to),
                        call: o.call,
                        ret: o.ret(),
                        meta: o.meta(),
                    });
                    continue;
                }
                RegOp::Cas(from, to)
            }
            other => {
                return Err(o.err(format!(
                    ":f :{other} is not a register operation (read, write, cas)"
                )))
            }
        };
        ops.extend(timed(o, op));
    }
    Ok(KeyOps {
        key,
        model: CasRegister::new(init, Arc::new(it.values)),
        ops,
    })
}

fn multi_key(
    fmt: Format,
    key: Option<String>,
    raw: Vec<&RawOp>,
    initial: Option<&Val>,
    guard: Guard,
) -> Result<KeyOps<MultiRegister>> {
    let init = initial.cloned().unwrap_or(match fmt {
        Format::Edn => Val::Int(0),
        _ => Val::Nil,
    });
    // Registers are named first, so that the model knows how many there are.
    let mut regs = Interner::new();
    let mut txns = Vec::with_capacity(raw.len());
    for (i, &o) in raw.iter().enumerate() {
        guard.every(i, || {
            format!("preparing the transaction of line {}", o.line())
        })?;
        let txn = match o.outcome(Split(false)) {
            Outcome::Ok(v) if !v.is_nil() => v,
            _ => o.invoke(Split(false)),
        };
        let Some(list) = txn.as_list() else {
            return Err(o.err(format!(
                "a :txn value must be a list of [f k v] micro-ops, found {txn}"
            )));
        };
        for m in list {
            let Some([_, k, _]) = m.as_list() else {
                return Err(o.err(format!("a micro-op must be [f k v], found {m}")));
            };
            if regs.id(k) > u32::from(u16::MAX) {
                return Err(o.err("more than 65535 registers in one history"));
            }
        }
        txns.push((o, list));
    }
    let mut names = regs.values.clone();
    names.remove(0);
    let model = MultiRegister::new(names, &init);
    let mut ops = Vec::with_capacity(raw.len());
    for (o, list) in txns {
        let mut micro = Vec::with_capacity(list.len());
        for m in list {
            let Some([f, k, v]) = m.as_list() else {
                return Err(o.err(format!("a micro-op must be [f k v], found {m}")));
            };
            let reg = (regs.id(k) - 1) as u16;
            micro.push(match f.as_name() {
                Some("read" | "r") => {
                    let known = matches!(o.outcome(Split(false)), Outcome::Ok(_))
                        && !(v.is_nil() && fmt == Format::Edn);
                    MicroOp::Read(reg, known.then(|| model.intern(v)))
                }
                Some("write" | "w") => MicroOp::Write(reg, model.intern(v)),
                Some("append") => MicroOp::Append(reg, model.intern(v)),
                _ => {
                    return Err(o.err(format!(
                        "unknown micro-op {f} in {m}: the multi-register knows read/r, \
                         write/w and append"
                    )))
                }
            });
        }
        ops.extend(timed(o, micro));
    }
    Ok(KeyOps { key, model, ops })
}

fn kv_key(key: Option<String>, raw: Vec<&RawOp>, init: &str) -> Result<KeyOps<Kv>> {
    fn text(v: &Val) -> std::borrow::Cow<'_, str> {
        match v {
            Val::Str(s) => std::borrow::Cow::Borrowed(&**s),
            Val::Nil => std::borrow::Cow::Borrowed(""),
            other => std::borrow::Cow::Owned(other.to_string()),
        }
    }
    // The model is built over every string the key's operations use, so first collect them.
    let mut calls = Vec::with_capacity(raw.len());
    for &o in &raw {
        let call = match o.f() {
            "get" => match o.outcome(Split(false)) {
                Outcome::Ok(v) => (0u8, text(v)),
                _ => continue,
            },
            "put" => (1, text(o.invoke(Split(false)))),
            _ => (2, text(o.invoke(Split(false)))),
        };
        calls.push((o, call));
    }
    let texts: Vec<&str> = calls.iter().map(|(_, (_, s))| &**s).collect();
    let (model, ids) = Kv::with_ids(init, &texts);
    let mut ops = Vec::with_capacity(calls.len());
    for ((o, (kind, _)), id) in calls.iter().zip(ids) {
        let op = match kind {
            0 => KvOp::Get(id),
            1 => KvOp::Put(id),
            _ => KvOp::Append(id),
        };
        ops.extend(timed(o, op));
    }
    Ok(KeyOps { key, model, ops })
}
