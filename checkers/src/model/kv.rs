//! One key of a key-value store: a string with get, put and append (Porcupine's kv model,
//! checked key by key).

use std::sync::Arc;

use super::Model;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvOp {
    /// A get that returned this string (must equal the state).
    Get(Arc<str>),
    /// A get whose result is unknown.
    GetAny,
    Put(Arc<str>),
    Append(Arc<str>),
}

/// A string register with append; the initial value is configurable (Porcupine uses "").
#[derive(Debug, Clone, Default)]
pub struct Kv {
    pub init: Arc<str>,
}

impl Model for Kv {
    type State = Arc<str>;
    type Op = KvOp;

    fn name(&self) -> &'static str {
        "kv"
    }

    fn init(&self) -> Arc<str> {
        self.init.clone()
    }

    fn step(&self, s: &Arc<str>, op: &KvOp) -> Option<Arc<str>> {
        match op {
            KvOp::Get(v) => (**v == **s).then(|| s.clone()),
            KvOp::GetAny => Some(s.clone()),
            KvOp::Put(v) => Some(v.clone()),
            KvOp::Append(v) => {
                let mut n = String::with_capacity(s.len() + v.len());
                n.push_str(s);
                n.push_str(v);
                Some(n.into())
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
    fn hopeless(&self, s: &Arc<str>, op: &KvOp) -> bool {
        match op {
            KvOp::Get(g) => !g.starts_with(&**s),
            _ => false,
        }
    }

    fn describe_op(&self, op: &KvOp) -> String {
        match op {
            KvOp::Get(v) => format!("get {v:?}"),
            KvOp::GetAny => "get ?".into(),
            KvOp::Put(v) => format!("put {v:?}"),
            KvOp::Append(v) => format!("append {v:?}"),
        }
    }

    fn describe_state(&self, s: &Arc<str>) -> String {
        format!("{s:?}")
    }
}
