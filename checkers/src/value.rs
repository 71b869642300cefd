//! A small value type shared by every input format (EDN and JSON both map onto it).

use std::fmt;
use std::sync::Arc;

/// A parsed value: what EDN and JSON have in common, plus EDN's keywords and sets.
///
/// Floats and other rarely used literals are kept as their text (`Sym`), which is enough to
/// compare them for equality, the only thing a model does with a value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Val {
    Nil,
    Bool(bool),
    Int(i64),
    Str(Arc<str>),
    /// An EDN keyword, without its leading colon.
    Kw(Arc<str>),
    /// An EDN symbol or a literal kept as text (floats, characters, tagged values).
    Sym(Arc<str>),
    /// A vector or a list. Boxed slices, not vectors, keep a value at 24 bytes (a history holds
    /// two a event: 10M operations, 300 MB less than with 32-byte values).
    List(Box<[Val]>),
    Set(Box<[Val]>),
    Map(Box<[(Val, Val)]>),
}

impl Val {
    pub fn is_nil(&self) -> bool {
        matches!(self, Val::Nil)
    }

    /// The name of a keyword, symbol or string: how formats spell `:f`, `:type` and friends.
    pub fn as_name(&self) -> Option<&str> {
        match self {
            Val::Kw(s) | Val::Sym(s) | Val::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Val]> {
        match self {
            Val::List(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Val::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// Looks a keyword key up in a map (`:f`, `:value`, ...).
    pub fn get(&self, key: &str) -> Option<&Val> {
        match self {
            Val::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(k, Val::Kw(s) if &**s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Converts a JSON value (faultline's history format).
    pub fn from_json(v: &serde_json::Value) -> Val {
        use serde_json::Value as J;
        match v {
            J::Null => Val::Nil,
            J::Bool(b) => Val::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => Val::Int(i),
                None => Val::Sym(n.to_string().into()),
            },
            J::String(s) => Val::Str(s.as_str().into()),
            J::Array(a) => Val::List(a.iter().map(Val::from_json).collect()),
            J::Object(o) => Val::Map(
                o.iter()
                    .map(|(k, v)| (Val::Str(k.as_str().into()), Val::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// A JSON rendering for `--json` output.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Val::Nil => J::Null,
            Val::Bool(b) => J::Bool(*b),
            Val::Int(i) => J::from(*i),
            Val::Str(s) => J::String(s.to_string()),
            Val::Kw(s) => J::String(format!(":{s}")),
            // JSON numbers that are not integers are kept as symbols (see `from_json`).
            Val::Sym(s) => serde_json::from_str::<serde_json::Number>(s)
                .map(J::Number)
                .unwrap_or_else(|_| J::String(s.to_string())),
            Val::List(v) | Val::Set(v) => J::Array(v.iter().map(Val::to_json).collect()),
            // A string key is the key's text (JSON object keys are strings already); any other
            // key reads as it prints.
            Val::Map(m) => J::Object(
                m.iter()
                    .map(|(k, v)| {
                        let name = match k {
                            Val::Str(s) => s.to_string(),
                            other => other.to_string(),
                        };
                        (name, v.to_json())
                    })
                    .collect(),
            ),
        }
    }
}

/// Prints EDN-ish text, which reads naturally for every format (`nil`, `3`, `"x"`, `[1 2]`).
impl Val {
    /// The value as [`fmt::Display`] writes it, cut after `max` bytes (see [`brief`]).
    pub fn brief(&self, max: usize) -> String {
        brief(self, max)
    }
}

/// What `shown` writes, cut after `max` bytes (ending in `…`): what counterexamples and
/// explanations show of a value. A read of millions of items, or a string of a hundred
/// megabytes, is not copied whole into each sentence about it (three 120 MB values once took
/// a check to 1.8 GB while it explained them). Writing stops at the cut.
pub fn brief(shown: impl fmt::Display, max: usize) -> String {
    struct Cap {
        out: String,
        max: usize,
        cut: bool,
    }
    impl fmt::Write for Cap {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let room = self.max - self.out.len();
            if s.len() <= room {
                self.out.push_str(s);
                return Ok(());
            }
            let mut end = room;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            self.out.push_str(&s[..end]);
            self.cut = true;
            Err(fmt::Error)
        }
    }
    let mut cap = Cap {
        out: String::new(),
        max,
        cut: false,
    };
    // An error here is only the cap being reached.
    let _ = fmt::Write::write_fmt(&mut cap, format_args!("{shown}"));
    if cap.cut {
        cap.out.push('…');
    }
    cap.out
}

/// How much of one value a sentence for people shows (see [`Val::brief`]).
pub const BRIEF: usize = 4096;

impl fmt::Display for Val {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn seq(f: &mut fmt::Formatter<'_>, open: &str, v: &[Val], close: &str) -> fmt::Result {
            f.write_str(open)?;
            for (i, x) in v.iter().enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{x}")?;
            }
            f.write_str(close)
        }
        match self {
            Val::Nil => f.write_str("nil"),
            Val::Bool(b) => write!(f, "{b}"),
            Val::Int(i) => write!(f, "{i}"),
            Val::Str(s) => write!(f, "{s:?}"),
            Val::Kw(s) => write!(f, ":{s}"),
            Val::Sym(s) => f.write_str(s),
            Val::List(v) => seq(f, "[", v, "]"),
            Val::Set(v) => seq(f, "#{", v, "}"),
            Val::Map(m) => {
                f.write_str("{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} {v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brief_values_are_cut_at_a_char_boundary() {
        let list = Val::List(vec![Val::Int(7); 1000].into());
        assert_eq!(list.brief(9), "[7 7 7 7 …");
        assert_eq!(list.brief(1 << 20), list.to_string());
        let s = Val::Str("é".repeat(10).into());
        assert_eq!(s.brief(4), "\"é…");
        assert_eq!(Val::Int(12).brief(8), "12");
    }

    #[test]
    fn json_values_round_trip() {
        let v = serde_json::json!({"phase": "start", "targets": ["n1", "n2"], "n": -3, "x": 1.5, "ok": true, "none": null});
        assert_eq!(Val::from_json(&v).to_json(), v);
    }
}
