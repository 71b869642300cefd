//! A hand-written EDN reader, fast enough for multi-million-line histories.
//!
//! It reads the subset histories use: nil, booleans, integers, floats (kept as text), strings,
//! characters, keywords, symbols, lists, vectors, maps, sets, tagged literals (`#inst "..."`,
//! kept as their value), discards (`#_`), `;` comments and commas as whitespace.

use crate::error::{Error, Pos, Result};
use crate::memory::Guard;
use crate::value::Val;

/// A cursor over EDN text. Errors carry the byte position where reading stopped.
pub struct Reader<'a> {
    src: &'a [u8],
    pos: usize,
    depth: usize,
    /// Looked at within one value: a single event can hold a list of millions of items.
    guard: Guard,
}

/// Bytes of one string between two looks at the memory limit (see `Reader::string_so_far`);
/// the fast scans leave longer strings to this reader.
pub(super) const LONG_STRING: usize = 1 << 20;

/// Nesting deeper than this is not a history; refusing it keeps the stack safe on garbage.
const MAX_DEPTH: usize = 256;

impl<'a> Reader<'a> {
    pub fn new(src: &'a [u8]) -> Self {
        Self::with_guard(src, Guard::none())
    }

    /// A reader that stops with [`Error::MemoryLimit`] inside a value that would take the
    /// process past `guard`'s limit.
    pub fn with_guard(src: &'a [u8], guard: Guard) -> Self {
        Reader {
            src,
            pos: 0,
            depth: 0,
            guard,
        }
    }

    /// The current byte offset.
    pub fn offset(&self) -> usize {
        self.pos
    }

    pub fn error(&self, at: usize, msg: impl Into<String>) -> Error {
        Error::Syntax {
            pos: Pos::at(self.src, at),
            msg: msg.into(),
        }
    }

    /// Skips whitespace, commas and comments; returns the next byte without consuming it.
    pub fn peek(&mut self) -> Option<u8> {
        while let Some(&b) = self.src.get(self.pos) {
            match b {
                b' ' | b'\t' | b'\n' | b'\r' | b',' | 0x0c => self.pos += 1,
                b';' => {
                    while let Some(&c) = self.src.get(self.pos) {
                        if c == b'\n' {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                _ => return Some(b),
            }
        }
        None
    }

    /// Moves back to an offset returned by [`Reader::offset`] (to retry with another reading).
    pub fn set_offset(&mut self, offset: usize) {
        self.pos = offset.min(self.src.len());
    }

    /// Reads a keyword's name without allocating, if a keyword comes next.
    pub fn keyword(&mut self) -> Option<&'a str> {
        if self.peek() != Some(b':') {
            return None;
        }
        let start = self.pos;
        self.bump();
        let tok = self.token();
        if tok.is_empty() {
            self.pos = start;
            return None;
        }
        Some(tok)
    }

    /// Consumes one byte (after `peek` said what it is).
    pub fn bump(&mut self) {
        self.pos += 1;
    }

    /// Reads one value; `Ok(None)` at the end of the input.
    pub fn read(&mut self) -> Result<Option<Val>> {
        match self.peek() {
            None => Ok(None),
            Some(_) => self.value().map(Some),
        }
    }

    fn value(&mut self) -> Result<Val> {
        let start = self.pos;
        let Some(b) = self.peek() else {
            return Err(self.error(self.pos, "unexpected end of input: expected a value"));
        };
        match b {
            b'[' | b'(' => {
                self.bump();
                let close = if b == b'[' { b']' } else { b')' };
                Ok(Val::List(self.seq(close, start)?.into()))
            }
            b'{' => {
                self.bump();
                let items = self.seq(b'}', start)?;
                if items.len() % 2 != 0 {
                    return Err(self.error(start, "map literal has an odd number of forms"));
                }
                let mut it = items.into_iter();
                let mut map = Vec::new();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    map.push((k, v));
                }
                Ok(Val::Map(map.into()))
            }
            b'#' => {
                self.bump();
                match self.src.get(self.pos) {
                    Some(b'{') => {
                        self.bump();
                        Ok(Val::Set(self.seq(b'}', start)?.into()))
                    }
                    Some(b'_') => {
                        self.bump();
                        self.nested(|r| r.value())?;
                        self.value()
                    }
                    Some(c) if c.is_ascii_alphabetic() => {
                        // A tagged literal: the tag is dropped, the value kept.
                        self.token();
                        self.nested(|r| r.value())
                    }
                    _ => Err(self.error(start, "unsupported dispatch after `#`")),
                }
            }
            b'"' => self.string(),
            b']' | b')' | b'}' => Err(self.error(start, format!("unexpected `{}`", b as char))),
            b'\\' => {
                self.bump();
                let tok = self.token();
                if tok.is_empty() {
                    return Err(self.error(start, "expected a character after `\\`"));
                }
                Ok(Val::Sym(format!("\\{tok}").into()))
            }
            b':' => {
                self.bump();
                let tok = self.token();
                if tok.is_empty() {
                    return Err(self.error(start, "expected a keyword name after `:`"));
                }
                Ok(Val::Kw(tok.into()))
            }
            _ => {
                let tok = self.token();
                if tok.is_empty() {
                    return Err(self.error(
                        start,
                        format!("unexpected byte 0x{b:02x}: expected a value"),
                    ));
                }
                Ok(atom(tok))
            }
        }
    }

    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(self.pos, "values nested too deeply"));
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn seq(&mut self, close: u8, start: usize) -> Result<Vec<Val>> {
        self.nested(|r| {
            let mut items = Vec::new();
            loop {
                match r.peek() {
                    None => {
                        return Err(r.error(
                            r.pos,
                            format!(
                            "unexpected end of input: `{}` opened at byte {start} is not closed",
                            close as char
                        ),
                        ))
                    }
                    Some(b) if b == close => {
                        r.bump();
                        return Ok(items);
                    }
                    Some(_) => {
                        let n = items.len();
                        r.guard.inside_value(&items, || {
                            format!("reading a value of {n} items that begins at byte {start}")
                        })?;
                        items.push(r.value()?)
                    }
                }
            }
        })
    }

    /// A run of symbol characters (possibly empty), as text.
    fn token(&mut self) -> &'a str {
        let start = self.pos;
        while let Some(&b) = self.src.get(self.pos) {
            if b.is_ascii_whitespace()
                || matches!(
                    b,
                    b',' | b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'"' | b';'
                )
                || !(b.is_ascii_graphic() || b >= 0x80)
            {
                break;
            }
            self.pos += 1;
        }
        // Non-ASCII bytes are included above; invalid UTF-8 is reported as such.
        match std::str::from_utf8(&self.src[start..self.pos]) {
            Ok(s) => s,
            Err(_) => {
                self.pos = start;
                ""
            }
        }
    }

    /// Where the string body `rest` ends or has its first escape; a long one is searched a
    /// megabyte at a time, asking the memory limit for room to copy what it has passed (its
    /// bytes are resident too, as they are read).
    fn plain_string_end(&self, rest: &[u8], start: usize) -> Result<Option<usize>> {
        let mut from = 0;
        loop {
            let end = (from + LONG_STRING).min(rest.len());
            if let Some(i) = rest[from..end]
                .iter()
                .position(|&b| b == b'"' || b == b'\\')
            {
                return Ok(Some(from + i));
            }
            if end == rest.len() {
                return Ok(None);
            }
            from = end;
            self.string_so_far(start, from)?;
        }
    }

    /// The memory limit, `n` bytes into a string that begins at byte `start`: the string may
    /// be no more than an eighth of it ([`Guard::one_value`]), and its copy must fit.
    fn string_so_far(&self, start: usize, n: usize) -> Result<()> {
        let doing = || format!("reading a string at byte {start} ({n} bytes so far)");
        self.guard.one_value(n, doing)?;
        self.guard.room(n, doing)
    }

    fn string(&mut self) -> Result<Val> {
        let start = self.pos;
        self.bump();
        // Most strings have no escapes: take them in one slice.
        let rest = &self.src[self.pos..];
        if let Some(end) = self.plain_string_end(rest, start)? {
            if rest[end] == b'"' {
                self.pos += end + 1;
                return std::str::from_utf8(&rest[..end])
                    .map(|s| Val::Str(s.into()))
                    .map_err(|_| self.error(start, "string is not valid UTF-8"));
            }
        }
        let mut out = Vec::new();
        // Escapes add up to four bytes at once: the next look is due at a length, not at a
        // multiple of one.
        let mut next_look = LONG_STRING;
        loop {
            let Some(&b) = self.src.get(self.pos) else {
                return Err(self.error(
                    self.pos,
                    format!("unexpected end of input: string opened at byte {start} is not closed"),
                ));
            };
            self.pos += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.src.get(self.pos) else {
                        continue;
                    };
                    self.pos += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'u' => {
                            let hex = self.src.get(self.pos..self.pos + 4);
                            let c = hex
                                .and_then(|h| std::str::from_utf8(h).ok())
                                .and_then(|h| u32::from_str_radix(h, 16).ok())
                                .and_then(char::from_u32)
                                .ok_or_else(|| {
                                    self.error(self.pos, "expected 4 hex digits after `\\u`")
                                })?;
                            self.pos += 4;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        }
                        other => out.push(other),
                    }
                }
                other => out.push(other),
            }
            if out.len() >= next_look {
                next_look += LONG_STRING;
                self.string_so_far(start, out.len())?;
            }
        }
        String::from_utf8(out)
            .map(|s| Val::Str(s.into()))
            .map_err(|_| self.error(start, "string is not valid UTF-8"))
    }
}

fn atom(tok: &str) -> Val {
    match tok {
        "nil" => Val::Nil,
        "true" => Val::Bool(true),
        "false" => Val::Bool(false),
        _ => {
            let digits = tok.strip_prefix(['-', '+']).unwrap_or(tok);
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                if let Ok(i) = tok.parse::<i64>() {
                    return Val::Int(i);
                }
            }
            // `42N` (bigint) reads as the integer when it fits.
            if let Some(n) = tok.strip_suffix('N').and_then(|t| t.parse::<i64>().ok()) {
                return Val::Int(n);
            }
            Val::Sym(tok.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(s: &str) -> Result<Vec<Val>> {
        let mut r = Reader::new(s.as_bytes());
        let mut out = Vec::new();
        while let Some(v) = r.read()? {
            out.push(v);
        }
        Ok(out)
    }

    #[test]
    fn reads_the_forms_histories_use() {
        let v = read_all(
            r#"; comment
            {:type :invoke, :f :cas, :value [1 nil], :process 3, :error {:msg "a \"b\""}, :s #{:a 1}}
            (1 -2 3.5 \a true #inst "2020" #_ ignored 42N)"#,
        )
        .unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].get("f"), Some(&Val::Kw("cas".into())));
        assert_eq!(
            v[0].get("value"),
            Some(&Val::List(vec![Val::Int(1), Val::Nil].into()))
        );
        assert_eq!(
            v[0].get("error").and_then(|e| e.get("msg")),
            Some(&Val::Str("a \"b\"".into()))
        );
        let l = v[1].as_list().unwrap();
        assert_eq!(l[0], Val::Int(1));
        assert_eq!(l[1], Val::Int(-2));
        assert_eq!(l[2], Val::Sym("3.5".into()));
        assert_eq!(l[4], Val::Bool(true));
        assert_eq!(l[5], Val::Str("2020".into()));
        assert_eq!(l[6], Val::Int(42));
    }

    #[test]
    fn truncated_input_names_the_position() {
        let e = read_all("[{:a 1}\n {:b").unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
        assert!(e.contains("not closed"), "{e}");
        assert!(read_all("{:a}").is_err());
        assert!(read_all("\"abc").is_err());
        assert!(read_all(")").is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let s = "[".repeat(100_000);
        assert!(read_all(&s).is_err());
    }
}
