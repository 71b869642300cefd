//! Several registers read and written atomically by transactions (Knossos' multi-register),
//! extended with Jepsen's list-append micro-op (`append k v` makes the register the list it
//! held, or the empty list for nil, followed by `v`), so faultline's `txn` histories check too.
//!
//! Values are interned (`u32` ids); lists made by appends are interned as the search meets
//! them, behind a lock only the thread searching this history takes, and each (value, append)
//! transition is computed once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::Model;
use crate::hash::FxBuild as Fx;
use crate::value::Val;

/// One step of a transaction on register `reg` (an index into the model's register names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MicroOp {
    /// Read: `Some(v)` must equal the register, `None` is an unknown read (always legal).
    Read(u16, Option<u32>),
    Write(u16, u32),
    /// Append value `v` to the register's list.
    Append(u16, u32),
}

/// The registers' values, by register index (value ids).
pub type MultiState = Box<[u32]>;

#[derive(Debug, Default, Clone)]
struct Values {
    values: Vec<Val>,
    ids: HashMap<Val, u32, Fx>,
    appended: HashMap<(u32, u32), u32, Fx>,
}

impl Values {
    fn intern(&mut self, v: &Val) -> u32 {
        if let Some(&id) = self.ids.get(v) {
            return id;
        }
        let id = self.values.len() as u32;
        self.values.push(v.clone());
        self.ids.insert(v.clone(), id);
        id
    }
}

/// Registers named by `names`, all starting at the value `init`.
#[derive(Debug)]
pub struct MultiRegister {
    pub names: Arc<Vec<Val>>,
    init: u32,
    values: Mutex<Values>,
}

impl Clone for MultiRegister {
    fn clone(&self) -> Self {
        MultiRegister {
            names: self.names.clone(),
            init: self.init,
            values: Mutex::new(self.lock().clone()),
        }
    }
}

impl MultiRegister {
    pub fn new(names: Vec<Val>, init: &Val) -> Self {
        let mut values = Values::default();
        let init = values.intern(init);
        MultiRegister {
            names: Arc::new(names),
            init,
            values: Mutex::new(values),
        }
    }

    /// The id of a value, for building operations.
    pub fn intern(&self, v: &Val) -> u32 {
        self.lock().intern(v)
    }

    fn lock(&self) -> MutexGuard<'_, Values> {
        // Only ever appended to; a panic elsewhere leaves it consistent.
        self.values.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn v(&self, id: u32) -> String {
        self.lock()
            .values
            .get(id as usize)
            .map_or_else(|| format!("#{id}"), |v| v.brief(crate::value::BRIEF))
    }

    fn r(&self, reg: u16) -> String {
        self.names.get(reg as usize).map_or_else(
            || format!("r{reg}"),
            |v| v.as_name().map_or_else(|| v.to_string(), str::to_string),
        )
    }

    fn append(&self, cur: u32, v: u32) -> Option<u32> {
        let mut t = self.lock();
        if let Some(&n) = t.appended.get(&(cur, v)) {
            return Some(n);
        }
        let mut list = match &t.values[cur as usize] {
            Val::Nil => Vec::new(),
            Val::List(l) => l.to_vec(),
            // Appending to a non-list is not a legal step.
            _ => return None,
        };
        list.push(t.values[v as usize].clone());
        let n = t.intern(&Val::List(list.into()));
        t.appended.insert((cur, v), n);
        Some(n)
    }
}

impl Model for MultiRegister {
    type State = MultiState;
    type Scratch = ();
    type Op = Vec<MicroOp>;

    fn name(&self) -> &'static str {
        "multi-register"
    }

    fn init(&self) -> MultiState {
        vec![self.init; self.names.len()].into_boxed_slice()
    }

    fn step(&self, s: &MultiState, op: &Vec<MicroOp>) -> Option<MultiState> {
        let mut next: Option<MultiState> = None;
        for m in op {
            let cur = next.as_deref().unwrap_or(s);
            match *m {
                MicroOp::Read(r, Some(v)) => {
                    if cur.get(r as usize) != Some(&v) {
                        return None;
                    }
                }
                MicroOp::Read(_, None) => {}
                MicroOp::Write(r, v) => {
                    let n = next.get_or_insert_with(|| s.clone());
                    *n.get_mut(r as usize)? = v;
                }
                MicroOp::Append(r, v) => {
                    let appended = self.append(*cur.get(r as usize)?, v)?;
                    let n = next.get_or_insert_with(|| s.clone());
                    n[r as usize] = appended;
                }
            }
        }
        Some(next.unwrap_or_else(|| s.clone()))
    }

    fn is_read_only(&self, op: &Vec<MicroOp>) -> bool {
        op.iter().all(|m| matches!(m, MicroOp::Read(..)))
    }

    fn describe_op(&self, op: &Vec<MicroOp>) -> String {
        let parts: Vec<String> = op
            .iter()
            .map(|m| match *m {
                MicroOp::Read(r, Some(v)) => format!("read {} {}", self.r(r), self.v(v)),
                MicroOp::Read(r, None) => format!("read {} ?", self.r(r)),
                MicroOp::Write(r, v) => format!("write {} {}", self.r(r), self.v(v)),
                MicroOp::Append(r, v) => format!("append {} {}", self.r(r), self.v(v)),
            })
            .collect();
        format!("txn [{}]", parts.join(", "))
    }

    fn describe_state(&self, s: &MultiState) -> String {
        let parts: Vec<String> = s
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{} {}", self.r(i as u16), self.v(*v)))
            .collect();
        format!("{{{}}}", parts.join(", "))
    }
}
