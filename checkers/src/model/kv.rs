//! One key of a key-value store: a string with get, put and append (Porcupine's kv model,
//! checked key by key).
//!
//! Strings are interned: states and operation arguments are `u32` ids into the model's table,
//! so states are `Copy`, equal strings have equal ids, and a get is an integer comparison. The
//! table grows as the search meets new strings (appends), behind a lock that only the one
//! thread searching this key takes; each (state, append) transition is computed once.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use crate::search::FxHasher;

type Fx = BuildHasherDefault<FxHasher>;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::Model;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KvOp {
    /// A get that returned this string (must equal the state).
    Get(u32),
    /// A get whose result is unknown.
    GetAny,
    Put(u32),
    Append(u32),
}

#[derive(Debug, Default)]
struct Table {
    strings: Vec<Arc<str>>,
    ids: HashMap<Arc<str>, u32, Fx>,
    appended: HashMap<(u32, u32), u32, Fx>,
}

impl Table {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.strings.len() as u32;
        let s: Arc<str> = s.into();
        self.strings.push(s.clone());
        self.ids.insert(s, id);
        id
    }
}

/// A string register with append, starting at `init` (Porcupine uses "").
#[derive(Debug)]
pub struct Kv {
    init: u32,
    table: Mutex<Table>,
}

impl Default for Kv {
    fn default() -> Self {
        Kv::new("")
    }
}

impl Clone for Kv {
    fn clone(&self) -> Self {
        let t = self.lock();
        Kv {
            init: self.init,
            table: Mutex::new(Table {
                strings: t.strings.clone(),
                ids: t.ids.clone(),
                appended: t.appended.clone(),
            }),
        }
    }
}

impl Kv {
    pub fn new(init: &str) -> Self {
        let mut t = Table::default();
        let init = t.intern(init);
        Kv {
            init,
            table: Mutex::new(t),
        }
    }

    /// The id of a string, for building operations.
    pub fn intern(&self, s: &str) -> u32 {
        self.lock().intern(s)
    }

    /// The string of an id.
    pub fn string(&self, id: u32) -> Arc<str> {
        self.lock()
            .strings
            .get(id as usize)
            .cloned()
            .unwrap_or_else(|| "?".into())
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // The table is only ever appended to; a panic elsewhere leaves it consistent.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Model for Kv {
    type State = u32;
    type Op = KvOp;

    fn name(&self) -> &'static str {
        "kv"
    }

    fn init(&self) -> u32 {
        self.init
    }

    fn step(&self, s: &u32, op: &KvOp) -> Option<u32> {
        match *op {
            KvOp::Get(v) => (v == *s).then_some(*s),
            KvOp::GetAny => Some(*s),
            KvOp::Put(v) => Some(v),
            KvOp::Append(v) => {
                let mut t = self.lock();
                if let Some(&n) = t.appended.get(&(*s, v)) {
                    return Some(n);
                }
                let mut joined = String::with_capacity(64);
                joined.push_str(&t.strings[*s as usize]);
                joined.push_str(&t.strings[v as usize]);
                let n = t.intern(&joined);
                t.appended.insert((*s, v), n);
                Some(n)
            }
        }
    }

    fn is_read_only(&self, op: &KvOp) -> bool {
        matches!(op, KvOp::Get(_) | KvOp::GetAny)
    }

    /// Appends only extend the string, so only a put resets it.
    fn resets(&self, op: &KvOp) -> bool {
        matches!(op, KvOp::Put(_))
    }

    /// A get of `g` can become legal through appends only if the state is a prefix of `g`.
    fn hopeless(&self, s: &u32, op: &KvOp) -> bool {
        match *op {
            KvOp::Get(g) => {
                let t = self.lock();
                !t.strings[g as usize].starts_with(&*t.strings[*s as usize])
            }
            _ => false,
        }
    }

    fn describe_op(&self, op: &KvOp) -> String {
        match *op {
            KvOp::Get(v) => format!("get {:?}", self.string(v)),
            KvOp::GetAny => "get ?".into(),
            KvOp::Put(v) => format!("put {:?}", self.string(v)),
            KvOp::Append(v) => format!("append {:?}", self.string(v)),
        }
    }

    fn describe_state(&self, s: &u32) -> String {
        format!("{:?}", self.string(*s))
    }
}
