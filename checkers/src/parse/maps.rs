//! EDN histories (Knossos/Jepsen op maps) and Porcupine kv logs, both read as EDN maps.

use super::edn::{Reader, LONG_STRING};
use super::{event_type, Format, History, Proc, RawEvent, Texts};
use crate::error::{Error, Pos, Result};
use crate::history::EventType;
use crate::memory::Guard;
use crate::value::Val;
use std::sync::Arc;

pub(super) fn parse(
    src: &[u8],
    format: Format,
    release: super::Release<'_>,
    guard: Guard,
) -> Result<History> {
    let mut r = Reader::with_guard(src, guard);
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
    let (events, warnings, _) = super::pieces::parse(
        src,
        r.offset(),
        opens_map,
        |start, end, line, last| {
            Ok((
                parse_range(src, start..end, line, wrapped, last, (guard, release))?,
                Vec::new(),
                Vec::new(),
            ))
        },
        release,
    )?;
    Ok(History {
        format,
        events,
        warnings,
        errors: Vec::new(),
    })
}

/// Parses the events of `src[start..end]`, where `start` (on line `first_line`) is between two
/// events; `last` says whether the range ends the input (and so closes a `wrapped` history).
fn parse_range(
    src: &[u8],
    range: std::ops::Range<usize>,
    first_line: usize,
    wrapped: Option<u8>,
    last: bool,
    (guard, release): (Guard, super::Release<'_>),
) -> Result<Vec<RawEvent>> {
    let (start, end) = (range.start, range.end);
    let src = &src[..end];
    let mut r = Reader::with_guard(src, guard);
    r.set_offset(start);
    let mut events = super::events_vec(&src[start..], start, release);
    let mut released = start;
    // Line numbers come from one pass over the newlines, advanced as events start, never
    // past the event (a search for the next newline could read a one-line history whole).
    let mut line = first_line;
    let mut counted = start;
    let mut line_at = |offset: usize| {
        line += memchr::memchr_iter(b'\n', &src[counted..offset]).count();
        counted = offset;
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
        if at - released > super::RELEASE_EVERY {
            release(released..at);
            released = at;
        }
        let l = line_at(at);
        guard.every(events.len(), || format!("reading line {l}"))?;
        guard.before_growing(&events, || format!("reading line {l}"))?;
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

/// Lists longer than this, and strings longer than `LONG_STRING` bytes, are read by the
/// general reader (see [`Scan::value`]), which watches the memory limit inside one value.
const LONG_LIST: usize = 1 << 16;

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

/// Where a string's body ends: its closing quote, or a backslash (which the general reader
/// handles). Most strings are short, so the first bytes are searched eight at a time in a
/// register before a vector search (which costs a setup) takes over.
fn string_end(body: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // High bit set in each byte equal to `b`; only the lowest set bit is exact, which is the
    // one used.
    let bytes_equal = |w: u64, b: u8| {
        let x = w ^ (ONES * u64::from(b));
        x.wrapping_sub(ONES) & !x & HIGHS
    };
    let mut i = 0;
    while i + 8 <= body.len().min(32) {
        let w = u64::from_le_bytes(body[i..i + 8].try_into().ok()?);
        let m = bytes_equal(w, b'"') | bytes_equal(w, b'\\');
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    memchr::memchr2(b'"', b'\\', &body[i..]).map(|p| i + p)
}

/// The fields of an op map the scan reads; any other is skipped.
enum Field {
    Process,
    Type,
    Time,
    F,
    Key,
    Value,
    Other,
}

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

    /// Whether the token at the cursor is exactly `w`; if so the cursor moves past it.
    /// Comparing with the names the scan expects is cheaper than finding the token's end.
    #[inline(always)]
    fn word<const N: usize>(&mut self, w: &[u8; N]) -> bool {
        match self.s[self.i..].split_first_chunk::<N>() {
            Some((head, tail))
                if head == w && tail.first().is_none_or(|&b| ENDS_TOKEN[b as usize]) =>
            {
                self.i += N;
                true
            }
            _ => false,
        }
    }

    /// A keyword naming one of an op map's fields.
    fn field(&mut self) -> Option<Field> {
        if self.peek()? != b':' {
            return None;
        }
        self.i += 1;
        let known = match self.s.get(self.i)? {
            b'p' if self.word(b"process") => Field::Process,
            b't' if self.word(b"type") => Field::Type,
            b't' if self.word(b"time") => Field::Time,
            b'f' if self.word(b"f") => Field::F,
            b'k' if self.word(b"key") => Field::Key,
            b'v' if self.word(b"value") => Field::Value,
            _ => {
                self.token()?;
                Field::Other
            }
        };
        Some(known)
    }

    /// The event type keyword after `:type`.
    fn event_type(&mut self) -> Option<EventType> {
        if self.peek()? != b':' {
            return None;
        }
        self.i += 1;
        match self.s.get(self.i)? {
            b'i' if self.word(b"invoke") => Some(EventType::Invoke),
            b'i' if self.word(b"info") => Some(EventType::Info),
            b'o' if self.word(b"ok") => Some(EventType::Ok),
            b'f' if self.word(b"fail") => Some(EventType::Fail),
            _ => None,
        }
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
                // A long string too is the general reader's (see `LONG_LIST`): the search for
                // its end stops a megabyte in.
                let end = string_end(&body[..body.len().min(LONG_STRING)])?;
                if body[end] != b'"' {
                    return None;
                }
                self.i += end + 2;
                Some(Val::Str(texts.get(&body[..end])?))
            }
            b':' => Some(Val::Kw(texts.get(self.keyword()?)?)),
            b'[' if depth < 4 => {
                self.i += 1;
                let mut items = Vec::with_capacity(2); // a cas pair, mostly: boxed without a copy
                loop {
                    if self.peek()? == b']' {
                        self.i += 1;
                        return Some(Val::List(items.into()));
                    }
                    // A long list is left to the general reader, which watches the memory
                    // limit while it reads one.
                    if items.len() == LONG_LIST {
                        return None;
                    }
                    items.push(self.value(depth + 1, texts)?);
                }
            }
            b'n' if self.word(b"nil") => Some(Val::Nil),
            b't' if self.word(b"true") => Some(Val::Bool(true)),
            b'f' if self.word(b"false") => Some(Val::Bool(false)),
            b @ (b'-' | b'0'..=b'9') => {
                let neg = b == b'-';
                let start = self.i + usize::from(neg);
                let mut n: i64 = 0;
                let mut end = start;
                while let Some(&d) = self.s.get(end).filter(|d| d.is_ascii_digit()) {
                    // Up to 18 digits cannot overflow; longer ones take the general path.
                    if end - start == 18 {
                        return None;
                    }
                    n = n * 10 + i64::from(d - b'0');
                    end += 1;
                }
                // Anything else in the token (`1.5`, `12N`, `-`) is for the general reader.
                if end == start || self.s.get(end).is_some_and(|&b| !ENDS_TOKEN[b as usize]) {
                    return None;
                }
                self.i = end;
                Some(Val::Int(if neg { -n } else { n }))
            }
            _ => None,
        }
    }

    /// Whether the bytes at the cursor are `w`; if so the cursor moves past them.
    #[inline(always)]
    fn literal<const N: usize>(&mut self, w: &[u8; N]) -> Option<()> {
        let (head, _) = self.s[self.i..].split_first_chunk::<N>()?;
        (head == w).then(|| self.i += N)
    }

    /// Porcupine's kv logs write every event in one layout, `{:process 0, :type :invoke, :f
    /// :get, :key "3", :value nil}`: its fixed text is matched a piece at a time instead of
    /// scanned field by field. Any other layout is left to [`Scan::fields`].
    fn kv_layout(&mut self, line: usize, texts: &mut Texts) -> Option<RawEvent> {
        self.literal(b"{:process ")?;
        let Val::Int(process) = self.value(0, texts)? else {
            return None;
        };
        self.literal(b", :type ")?;
        let kind = self.event_type()?;
        self.literal(b", :f ")?;
        let f = texts.get(self.keyword()?)?;
        self.literal(b", :key ")?;
        let key = self.value(0, texts)?;
        self.literal(b", :value ")?;
        let value = self.value(0, texts)?;
        self.literal(b"}")?;
        Some(RawEvent {
            process: Proc::Client(process),
            kind,
            f,
            key: Some(key),
            value,
            time: None,
            line,
        })
    }

    fn event(&mut self, line: usize, texts: &mut Texts) -> Option<RawEvent> {
        if self.peek()? != b'{' {
            return None;
        }
        let start = self.i;
        if let Some(ev) = self.kv_layout(line, texts) {
            return Some(ev);
        }
        self.i = start;
        self.fields(line, texts)
    }

    /// An op map read field by field, in any order.
    fn fields(&mut self, line: usize, texts: &mut Texts) -> Option<RawEvent> {
        self.i += 1;
        let (mut process, mut kind, mut f, mut key, mut value, mut time) =
            (None, None, None, None, Val::Nil, None);
        loop {
            if self.peek()? == b'}' {
                self.i += 1;
                break;
            }
            match self.field()? {
                Field::Process => {
                    process = Some(match self.value(0, texts)? {
                        Val::Int(p) => Proc::Client(p),
                        Val::Kw(p) => Proc::Other(p),
                        _ => return None,
                    })
                }
                Field::Type => kind = Some(self.event_type()?),
                Field::F => f = Some(texts.get(self.keyword()?)?),
                Field::Value => value = self.value(0, texts)?,
                Field::Key => key = Some(self.value(0, texts)?),
                Field::Time => {
                    time = match self.value(0, texts)? {
                        Val::Int(t) => u64::try_from(t).ok(),
                        _ => None,
                    }
                }
                Field::Other => {
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
        parse_range(
            src,
            r.offset()..src.len(),
            1,
            wrapped,
            true,
            (Guard::none(), &|_| {}),
        )
    }

    /// The scans (the kv layout, and field by field) read op maps exactly as the general
    /// reader does: the kv layout and its near misses, other orders, extra fields, the nemesis.
    #[test]
    fn scans_read_like_the_general_reader() {
        let lines = [
            r#"{:process 0, :type :invoke, :f :get, :key "3", :value nil}"#,
            r#"{:process 12, :type :ok, :f :append, :key "8", :value "x 12 0 y"}"#,
            r#"{:process -1, :type :fail, :f :put, :key 7, :value [1 "a" :b]}"#,
            r#"{:process 3, :type :info, :f :get, :key "3", :value 42}"#,
            r#"{:process 3, :type :ok, :f :get, :key "3", :value true}"#,
            r#"{:process :nemesis, :type :info, :f :start, :key "3", :value nil}"#,
            r#"{:type :invoke, :process 0, :f :get, :key "3", :value nil}"#,
            r#"{:process 0, :type :invoke, :f :get, :key "3", :value nil, :time 5}"#,
            r#"{:process 0,  :type :invoke, :f :get, :key "3", :value nil}"#,
            r#"{:process 0, :type :invoke, :f :get, :value nil}"#,
            r#"{:process 0, :type :invoke, :f :get, :key "3"}"#,
        ];
        for l in lines {
            let mut texts = Texts::default();
            let mut scan = Scan {
                s: l.as_bytes(),
                i: 0,
            };
            let fast = scan.event(7, &mut texts).expect("the scan reads it");
            assert_eq!(scan.i, l.len(), "{l}");
            let v = Reader::new(l.as_bytes()).read().unwrap().unwrap();
            assert_eq!(fast, event(&v, 7, l.as_bytes(), 0).unwrap(), "{l}");
        }
    }

    /// The word-at-a-time search finds the first quote or backslash wherever it falls, also
    /// among bytes that trip its carries (0x21 after a quote, 0x5d after a backslash, 0x80+).
    #[test]
    fn string_end_finds_the_first_quote_or_backslash() {
        let fill = [b'a', b'#', b'!', b']', 0x80, 0xff, 0x00, b'"' + 1];
        for len in 0..48 {
            for at in 0..=len {
                for (k, &f) in fill.iter().enumerate() {
                    for stop in [b'"', b'\\'] {
                        let mut body: Vec<u8> =
                            (0..len).map(|i| fill[(i + k) % 8].max(f)).collect();
                        body.iter_mut().for_each(|b| {
                            if *b == b'"' || *b == b'\\' {
                                *b = b'a';
                            }
                        });
                        if at < len {
                            body[at] = stop;
                            if at + 1 < len {
                                body[at + 1] = stop ^ 0x7f;
                            }
                        }
                        let naive = body.iter().position(|&b| b == b'"' || b == b'\\');
                        assert_eq!(string_end(&body), naive, "{body:?}");
                    }
                }
            }
        }
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
            let h = crate::parse::parse(src.as_bytes(), Format::Edn).unwrap();
            assert_eq!(h.events, sequential(src.as_bytes()).unwrap());
            assert_eq!(h.events.len(), 8000);
            assert_eq!(
                h.events[7999].line,
                src[..src.rfind("{:process").unwrap()].matches('\n').count() + 1
            );
        }
        let at = stream.rfind("{:process 3,").unwrap() + "{:process 3,".len();
        let broken = format!("{} :oops{}", &stream[..at], &stream[at..]);
        let a = crate::parse::parse(broken.as_bytes(), Format::Edn)
            .unwrap_err()
            .to_string();
        let b = sequential(broken.as_bytes()).unwrap_err().to_string();
        assert_eq!(a, b);
    }
}
