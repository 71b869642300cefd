//! EDN histories (Knossos/Jepsen op maps) and Porcupine kv logs, both read as EDN maps.

use super::edn::Reader;
use super::{event_type, Format, History, Proc, RawEvent, Texts};
use crate::error::{Error, Pos, Result};
use crate::history::EventType;
use crate::value::Val;
use std::sync::Arc;

pub(super) fn parse(src: &[u8], format: Format) -> Result<History> {
    let mut r = Reader::new(src);
    let wrapped = match r.peek() {
        Some(b @ (b'[' | b'(')) => {
            r.bump();
            Some(if b == b'[' { b']' } else { b')' })
        }
        _ => None,
    };
    // Pieces start at lines that open a map; a piece that does not parse cleanly to its end
    // (the cut fell inside a value) sends the whole input to a sequential parse.
    let opens_map = |at: usize| {
        src[at..]
            .iter()
            .find(|b| !matches!(b, b' ' | b'\t' | b','))
            .is_some_and(|&b| b == b'{')
    };
    let (events, warnings) =
        super::pieces::parse(src, r.offset(), opens_map, |start, end, line, last| {
            Ok((
                parse_range(src, start, end, line, wrapped, last)?,
                Vec::new(),
            ))
        })?;
    Ok(History {
        format,
        events,
        warnings,
    })
}

/// Parses the events of `src[start..end]`, where `start` (on line `first_line`) is between two
/// events; `last` says whether the range ends the input (and so closes a `wrapped` history).
fn parse_range(
    src: &[u8],
    start: usize,
    end: usize,
    first_line: usize,
    wrapped: Option<u8>,
    last: bool,
) -> Result<Vec<RawEvent>> {
    let src = &src[..end];
    let mut r = Reader::new(src);
    r.set_offset(start);
    let mut events = super::events_vec(&src[start..]);
    // Line numbers come from one pass over the newlines, advanced as events start.
    let mut newlines = memchr::memchr_iter(b'\n', &src[start..]).peekable();
    let mut line = first_line;
    let mut line_at = |offset: usize| {
        while newlines.next_if(|&nl| start + nl < offset).is_some() {
            line += 1;
        }
        line
    };
    let mut texts = super::Texts::default();
    loop {
        let Some(b) = r.peek() else {
            if let (Some(close), true) = (wrapped, last) {
                return Err(r.error(
                    r.offset(),
                    format!(
                        "unexpected end of input: the history's `{}` is not closed",
                        close as char
                    ),
                ));
            }
            break;
        };
        if Some(b) == wrapped {
            r.bump();
            if !last || r.peek().is_some() {
                return Err(r.error(
                    r.offset(),
                    "unexpected text after the history's closing bracket",
                ));
            }
            break;
        }
        let at = r.offset();
        let l = line_at(at);
        let mut scan = Scan { s: src, i: at };
        if let Some(ev) = scan.event(l, &mut texts) {
            r.set_offset(scan.i);
            events.push(ev);
            continue;
        }
        let v = r.read()?.expect("peek saw a value");
        events.push(event(&v, l, src, at)?);
    }
    Ok(events)
}

/// The common shape, `{:process 0, :type :ok, :f :read, :value 1, ...}` with keyword keys and
/// plain values (nil, booleans, integers, strings without escapes, keywords, vectors of those),
/// scanned straight off the bytes. `None` for anything else: the caller rereads it with the
/// general reader, which also owns the error messages.
struct Scan<'a> {
    s: &'a [u8],
    i: usize,
}

/// Bytes that end a token, as the general reader's `token` has them, as a table: the scan
/// looks one up per byte.
static ENDS_TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_whitespace()
            || matches!(
                c,
                b',' | b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'"' | b';'
            )
            || !(c.is_ascii_graphic() || c >= 0x80);
        b += 1;
    }
    t
};

impl<'a> Scan<'a> {
    fn peek(&mut self) -> Option<u8> {
        while let Some(&b) = self.s.get(self.i) {
            if matches!(b, b' ' | b',' | b'\n' | b'\r' | b'\t') {
                self.i += 1;
            } else {
                return Some(b);
            }
        }
        None
    }

    /// The bytes of a token (not empty).
    fn token(&mut self) -> Option<&'a [u8]> {
        let start = self.i;
        while self.s.get(self.i).is_some_and(|&b| !ENDS_TOKEN[b as usize]) {
            self.i += 1;
        }
        let tok = &self.s[start..self.i];
        (!tok.is_empty()).then_some(tok)
    }

    /// A keyword's name, as bytes.
    fn keyword(&mut self) -> Option<&'a [u8]> {
        if self.peek()? != b':' {
            return None;
        }
        self.i += 1;
        self.token()
    }

    fn value(&mut self, depth: u8, texts: &mut Texts) -> Option<Val> {
        match self.peek()? {
            b'"' => {
                let body = &self.s[self.i + 1..];
                let end = memchr::memchr2(b'"', b'\\', body)?;
                if body[end] != b'"' {
                    return None;
                }
                self.i += end + 2;
                Some(Val::Str(texts.get(&body[..end])?))
            }
            b':' => Some(Val::Kw(texts.get(self.keyword()?)?)),
            b'[' if depth < 4 => {
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    if self.peek()? == b']' {
                        self.i += 1;
                        return Some(Val::List(items));
                    }
                    items.push(self.value(depth + 1, texts)?);
                }
            }
            b'-' | b'0'..=b'9' | b'n' | b't' | b'f' => {
                let tok = self.token()?;
                Some(match tok {
                    b"nil" => Val::Nil,
                    b"true" => Val::Bool(true),
                    b"false" => Val::Bool(false),
                    _ => {
                        let (neg, digits) = match tok {
                            [b'-', rest @ ..] => (true, rest),
                            _ => (false, tok),
                        };
                        // Up to 18 digits cannot overflow; longer ones take the general path.
                        if digits.is_empty() || digits.len() > 18 {
                            return None;
                        }
                        let mut n: i64 = 0;
                        for &d in digits {
                            if !d.is_ascii_digit() {
                                return None;
                            }
                            n = n * 10 + i64::from(d - b'0');
                        }
                        Val::Int(if neg { -n } else { n })
                    }
                })
            }
            _ => None,
        }
    }

    fn event(&mut self, line: usize, texts: &mut Texts) -> Option<RawEvent> {
        if self.peek()? != b'{' {
            return None;
        }
        self.i += 1;
        let (mut process, mut kind, mut f, mut key, mut value, mut time) =
            (None, None, None, None, Val::Nil, None);
        loop {
            if self.peek()? == b'}' {
                self.i += 1;
                break;
            }
            match self.keyword()? {
                b"process" => {
                    process = Some(match self.value(0, texts)? {
                        Val::Int(p) => Proc::Client(p),
                        Val::Kw(p) => Proc::Other(p),
                        _ => return None,
                    })
                }
                b"type" => {
                    kind = Some(match self.keyword()? {
                        b"invoke" => EventType::Invoke,
                        b"ok" => EventType::Ok,
                        b"fail" => EventType::Fail,
                        b"info" => EventType::Info,
                        _ => return None,
                    })
                }
                b"f" => f = Some(texts.get(self.keyword()?)?),
                b"value" => value = self.value(0, texts)?,
                b"key" => key = Some(self.value(0, texts)?),
                b"time" => {
                    time = match self.value(0, texts)? {
                        Val::Int(t) => u64::try_from(t).ok(),
                        _ => None,
                    }
                }
                _ => {
                    self.value(0, texts)?;
                }
            }
        }
        Some(RawEvent {
            process: process?,
            kind: kind?,
            f: f?,
            key,
            value,
            time,
            line,
        })
    }
}

fn event(v: &Val, line: usize, src: &[u8], offset: usize) -> Result<RawEvent> {
    let err = |msg: String| Error::Event {
        pos: Pos::at(src, offset),
        msg,
    };
    if !matches!(v, Val::Map(_)) {
        return Err(err(format!(
            "expected an op map like {{:type :invoke, :f :read, :process 0}}, found {v}"
        )));
    }
    let process = match v.get("process") {
        Some(Val::Int(p)) => Proc::Client(*p),
        Some(p) if p.as_name().is_some() => Proc::Other(p.as_name().unwrap_or_default().into()),
        Some(p) => {
            return Err(err(format!(
                ":process must be an integer or a keyword, found {p}"
            )))
        }
        None => return Err(err("op map has no :process".into())),
    };
    let kind = match v.get("type") {
        Some(t) => t.as_name().and_then(event_type).ok_or_else(|| {
            err(format!(
                ":type must be :invoke, :ok, :fail or :info, found {t}"
            ))
        })?,
        None => return Err(err("op map has no :type".into())),
    };
    let f: Arc<str> = match v.get("f") {
        Some(f) => match f.as_name() {
            Some(n) => n.into(),
            None => f.to_string().into(),
        },
        None => return Err(err("op map has no :f".into())),
    };
    let time = match v.get("time") {
        Some(Val::Int(t)) => u64::try_from(*t).ok(),
        _ => None,
    };
    Ok(RawEvent {
        process,
        kind,
        f,
        key: v.get("key").cloned(),
        value: v.get("value").cloned().unwrap_or(Val::Nil),
        time,
        line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sequential(src: &[u8]) -> Result<Vec<RawEvent>> {
        let mut r = Reader::new(src);
        let wrapped = match r.peek() {
            Some(b'[') => {
                r.bump();
                Some(b']')
            }
            _ => None,
        };
        parse_range(src, r.offset(), src.len(), 1, wrapped, true)
    }

    /// About 600 KB of op maps, in pieces on several threads, read exactly as in one go:
    /// streams, a wrapped vector, maps spread over lines (where a cut can fall inside a map),
    /// and a malformed map near the end (the same error either way).
    #[test]
    fn pieces_read_like_one_sequential_parse() {
        let mut stream = String::new();
        for i in 0..8000 {
            stream.push_str(&format!(
                "{{:process {}, :type :invoke, :f :append, :key \"{}\", :value \"x {i} y\"}}\n",
                i % 50,
                i % 10
            ));
        }
        let wrapped = format!("[{stream}]\n");
        let spread = stream.replace(", :value", ",\n {:a 1} :nested\n:value");
        for src in [&stream, &wrapped, &spread] {
            let h = parse(src.as_bytes(), Format::Edn).unwrap();
            assert_eq!(h.events, sequential(src.as_bytes()).unwrap());
            assert_eq!(h.events.len(), 8000);
            assert_eq!(
                h.events[7999].line,
                src[..src.rfind("{:process").unwrap()].matches('\n').count() + 1
            );
        }
        let at = stream.rfind("{:process 3,").unwrap() + "{:process 3,".len();
        let broken = format!("{} :oops{}", &stream[..at], &stream[at..]);
        let a = parse(broken.as_bytes(), Format::Edn)
            .unwrap_err()
            .to_string();
        let b = sequential(broken.as_bytes()).unwrap_err().to_string();
        assert_eq!(a, b);
    }
}
