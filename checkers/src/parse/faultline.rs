//! faultline's `history.jsonl`: one [`crate::history::Event`] per line.
//!
//! Lines of the usual shape (flat fields, integers, strings without escapes, arrays) are scanned
//! straight off the bytes; any other line goes through serde, which also owns the errors. Both
//! read a line the same way: the fast path only takes what it fully understands.

use std::sync::Arc;

use super::{Format, History, Proc, RawEvent, Texts};
use crate::error::{Error, Pos, Result};
use crate::history::{Event, EventType, Process};
use crate::memory::Guard;
use crate::value::Val;

pub(super) fn parse(src: &[u8], release: super::Release<'_>, guard: Guard) -> Result<History> {
    // Any line may start a piece: each line is an event of its own.
    let (events, warnings, errors) = super::pieces::parse(
        src,
        0,
        |_| true,
        |start, end, line, last| parse_range(src, start..end, line, last, (guard, release)),
        release,
    )?;
    Ok(History {
        format: Format::Faultline,
        events,
        warnings,
        errors,
    })
}

/// Parses the lines of `src[start..end]` (`start` is a line start, numbered `first_line`);
/// `last` says whether the range ends the input, where a partial line is forgiven.
pub(super) fn parse_range(
    src: &[u8],
    range: std::ops::Range<usize>,
    first_line: usize,
    last: bool,
    (guard, release): (Guard, super::Release<'_>),
) -> Result<super::pieces::Parsed> {
    let (start, end) = (range.start, range.end);
    let body = &src[start..end];
    let mut events = super::events_vec(body, start, release);
    let mut released = start;
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    let mut texts = Texts::default();
    let mut offset = start;
    let mut lines = body.split(|&b| b == b'\n').enumerate().peekable();
    while let Some((i, raw)) = lines.next() {
        let line = first_line + i;
        guard.every(i, || format!("reading line {line}"))?;
        guard.before_growing(&events, || format!("reading line {line}"))?;
        let line_start = offset;
        if line_start - released > super::RELEASE_EVERY {
            release(released..line_start);
            released = line_start;
        }
        offset += raw.len() + 1;
        let terminated = offset <= end;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let mut scan = Scan::guarded(raw, guard, line);
        if let Some((ev, error)) = scan.event(line, &mut texts) {
            if let Some(text) = error {
                errors.push((events.len(), text));
            }
            events.push(ev);
            continue;
        }
        if let Some(e) = scan.stopped {
            return Err(e);
        }
        if raw.len() > LONG_LINE {
            // serde_json reads a line in one go: ask for the most it can take first.
            guard.room(WORST * raw.len(), || {
                format!("reading line {line} ({} MB)", raw.len() >> 20)
            })?;
        }
        let ev: Event = match serde_json::from_slice(raw) {
            Ok(ev) => ev,
            Err(e) if last && !terminated && lines.peek().is_none() => {
                // The writer was interrupted mid-line: the run ended, the history before it stands.
                warnings.push(format!(
                    "line {line}: ignored a partial last line ({e}); the run was probably interrupted while writing it"
                ));
                continue;
            }
            Err(e) => {
                return Err(Error::Event {
                    pos: Pos::at(src, line_start + e.column().saturating_sub(1)),
                    msg: format!("not a faultline history event: {e}"),
                })
            }
        };
        if let Some(error) = ev.error {
            errors.push((events.len(), error.into()));
        }
        events.push(RawEvent {
            process: match ev.process {
                Process::Client(p) => Proc::Client(p as i64),
                Process::Nemesis(_) => Proc::Other("nemesis".into()),
            },
            kind: ev.kind,
            f: ev.f.into(),
            key: ev.key.map(|k| Val::Str(k.into())),
            value: Val::from_json(&ev.value),
            time: Some(ev.time),
            line,
        });
    }
    Ok((events, warnings, errors))
}

/// Lines longer than this that the fast path leaves to serde_json ask the memory limit for
/// room before they are read.
const LONG_LINE: usize = 1 << 20;
/// The most memory a line's bytes can become while serde_json reads it: a list of one-digit
/// numbers, two bytes an item, is a 32-byte JSON value an item (64 while its vector doubles),
/// then a 24-byte [`Val`].
const WORST: usize = 48;

/// A cursor over one line. Every method returns `None` for anything outside the fast path.
struct Scan<'a> {
    s: &'a [u8],
    i: usize,
    /// Looked at inside a long list (see [`Guard::inside_value`]).
    guard: Guard,
    line: usize,
    /// Why the scan stopped when the memory limit did: then `None` is not "not the fast path".
    stopped: Option<crate::Error>,
}

/// A scanned value: borrowed text is turned into a [`Val`] only where it is kept.
enum Json<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Str(&'a [u8]),
    Array(Vec<Val>),
}

impl<'a> Scan<'a> {
    #[cfg(test)]
    fn new(s: &'a [u8]) -> Self {
        Self::guarded(s, Guard::none(), 1)
    }

    fn guarded(s: &'a [u8], guard: Guard, line: usize) -> Self {
        Scan {
            s,
            i: 0,
            guard,
            line,
            stopped: None,
        }
    }

    fn ws(&mut self) -> Option<u8> {
        while let Some(&b) = self.s.get(self.i) {
            if matches!(b, b' ' | b'\t' | b'\r') {
                self.i += 1;
            } else {
                return Some(b);
            }
        }
        None
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        (self.ws()? == b).then(|| self.i += 1)
    }

    /// A string without escapes or control characters, as its bytes.
    fn string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let body = &self.s[self.i..];
        let end = memchr::memchr2(b'"', b'\\', body)?;
        if body[end] != b'"' || body[..end].iter().any(|&b| b < 0x20) {
            return None;
        }
        std::str::from_utf8(&body[..end]).ok()?;
        self.i += end + 1;
        Some(&body[..end])
    }

    fn value(&mut self, depth: u8) -> Option<Json<'a>> {
        match self.ws()? {
            b'"' => self.string().map(Json::Str),
            b'[' if depth < 4 => {
                self.i += 1;
                let mut items = Vec::with_capacity(2); // a cas pair, mostly: boxed without a copy
                if self.ws()? == b']' {
                    self.i += 1;
                    return Some(Json::Array(items));
                }
                loop {
                    let (n, line) = (items.len(), self.line);
                    if let Err(e) = self.guard.inside_value(&items, || {
                        format!("reading a value of {n} items on line {line}")
                    }) {
                        self.stopped = Some(e);
                        return None;
                    }
                    items.push(self.value(depth + 1)?.into_val()?);
                    match self.ws()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Some(Json::Array(items));
                        }
                        _ => return None,
                    }
                }
            }
            b'n' => self.word(b"null", Json::Null),
            b't' => self.word(b"true", Json::Bool(true)),
            b'f' => self.word(b"false", Json::Bool(false)),
            b'-' | b'0'..=b'9' => {
                let start = self.i;
                let neg = self.s[self.i] == b'-';
                self.i += usize::from(neg);
                let digits = self.i;
                while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
                    self.i += 1;
                }
                let d = &self.s[digits..self.i];
                // Fractions, exponents, leading zeros and very long numbers go to serde.
                if d.is_empty()
                    || d.len() > 18
                    || (d.len() > 1 && d[0] == b'0')
                    || matches!(self.s.get(self.i), Some(b'.' | b'e' | b'E'))
                {
                    self.i = start;
                    return None;
                }
                let n = d.iter().fold(0i64, |n, &c| n * 10 + i64::from(c - b'0'));
                Some(Json::Int(if neg { -n } else { n }))
            }
            _ => None,
        }
    }

    fn word(&mut self, w: &[u8], v: Json<'a>) -> Option<Json<'a>> {
        self.s[self.i..].starts_with(w).then(|| {
            self.i += w.len();
            v
        })
    }

    /// The event, and its `error` text when it has one.
    fn event(&mut self, line: usize, texts: &mut Texts) -> Option<(RawEvent, Option<Arc<str>>)> {
        self.eat(b'{')?;
        let (mut index, mut time, mut process, mut kind, mut f) = (None, None, None, None, None);
        let (mut key, mut value, mut error) = (None, None, None);
        loop {
            let name = self.string()?;
            self.eat(b':')?;
            let v = self.value(0)?;
            match name {
                b"index" => {
                    first(&index)?;
                    index = Some(u64::try_from(v.int()?).ok()?);
                }
                b"time" => {
                    first(&time)?;
                    time = Some(u64::try_from(v.int()?).ok()?);
                }
                b"process" => {
                    first(&process)?;
                    process = Some(match v {
                        Json::Int(p) if p >= 0 => Proc::Client(p),
                        Json::Str(b"nemesis") => Proc::Other(texts.get(b"nemesis")?),
                        _ => return None,
                    });
                }
                b"type" => {
                    first(&kind)?;
                    kind = Some(match v {
                        Json::Str(b"invoke") => EventType::Invoke,
                        Json::Str(b"ok") => EventType::Ok,
                        Json::Str(b"fail") => EventType::Fail,
                        Json::Str(b"info") => EventType::Info,
                        _ => return None,
                    });
                }
                b"f" => {
                    first(&f)?;
                    f = Some(texts.get(v.str()?)?);
                }
                b"key" => {
                    first(&key)?;
                    key = Some(match v {
                        Json::Null => None,
                        Json::Str(k) => Some(Val::Str(texts.key(k)?)),
                        _ => return None,
                    });
                }
                b"value" => {
                    first(&value)?;
                    value = Some(v.into_val()?);
                }
                b"error" => {
                    first(&error)?;
                    error = Some(match v {
                        Json::Null => None,
                        Json::Str(text) => Some(Arc::from(std::str::from_utf8(text).ok()?)),
                        _ => return None,
                    });
                }
                // Fields the event does not have are ignored, as serde does.
                _ => {}
            }
            match self.ws()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    break;
                }
                _ => return None,
            }
        }
        if self.ws().is_some() {
            return None;
        }
        index?;
        let event = RawEvent {
            process: process?,
            kind: kind?,
            f: f?,
            key: key.flatten(),
            value: value.unwrap_or(Val::Nil),
            time: Some(time?),
            line,
        };
        Some((event, error.flatten()))
    }
}

/// serde rejects a repeated field; so does the fast path, by leaving the line to it.
fn first<T>(slot: &Option<T>) -> Option<()> {
    slot.is_none().then_some(())
}

impl Json<'_> {
    fn int(&self) -> Option<i64> {
        match *self {
            Json::Int(i) => Some(i),
            _ => None,
        }
    }

    fn str(&self) -> Option<&[u8]> {
        match *self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    fn into_val(self) -> Option<Val> {
        Some(match self {
            Json::Null => Val::Nil,
            Json::Bool(b) => Val::Bool(b),
            Json::Int(i) => Val::Int(i),
            Json::Str(s) => Val::Str(std::str::from_utf8(s).ok()?.into()),
            Json::Array(a) => Val::List(a.into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path and serde must read every line alike.
    #[test]
    fn the_fast_path_reads_lines_as_serde_does() {
        let lines = [
            r#"{"index":0,"time":5,"process":3,"type":"invoke","f":"cas","key":"k1","value":[3,-1]}"#,
            r#"{"index":1,"time":6,"process":"nemesis","type":"info","f":"kill","value":["n1"]}"#,
            r#"{ "index" : 2 , "time":7,"process":3,"type":"ok","f":"read","value":null,"error":null}"#,
            r#"{"index":3,"time":8,"process":3,"type":"fail","f":"write","key":null,"value":"x y","error":"timeout","extra":[true,false]}"#,
            r#"{"index":4,"time":9,"process":0,"type":"ok","f":"txn","value":[["r","x",[1,2]],["w","y",3]]}"#,
        ];
        for l in lines {
            let fast = Scan::new(l.as_bytes())
                .event(1, &mut Texts::default())
                .unwrap_or_else(|| panic!("the fast path takes {l}"));
            let (fast, error) = fast;
            let ev_error: Option<String> = serde_json::from_str::<Event>(l).unwrap().error;
            assert_eq!(error.as_deref(), ev_error.as_deref(), "{l}");
            let ev: Event = serde_json::from_str(l).unwrap();
            assert_eq!(fast.kind, ev.kind, "{l}");
            assert_eq!(&*fast.f, ev.f, "{l}");
            assert_eq!(fast.time, Some(ev.time), "{l}");
            assert_eq!(fast.value, Val::from_json(&ev.value), "{l}");
            assert_eq!(fast.key, ev.key.map(|k| Val::Str(k.into())), "{l}");
            match (&fast.process, ev.process) {
                (Proc::Client(a), Process::Client(b)) => assert_eq!(*a, b as i64),
                (Proc::Other(a), Process::Nemesis(_)) => assert_eq!(&**a, "nemesis"),
                other => panic!("{other:?}"),
            }
        }
        // Lines the fast path leaves to serde (which accepts some and rejects others).
        for l in [
            r#"{"index":0,"time":5,"process":3,"type":"ok","f":"read","value":1.5}"#,
            r#"{"index":0,"time":5,"process":3,"type":"ok","f":"read","value":"a\"b"}"#,
            r#"{"index":0,"time":5,"process":3,"type":"ok","f":"read","value":{"a":1}}"#,
            r#"{"index":0,"index":1,"time":5,"process":3,"type":"ok","f":"read"}"#,
            r#"{"index":0,"time":5,"process":3,"type":"ok","f":"read","value":01}"#,
            r#"{"index":0,"time":5,"process":3,"type":"ok","f":"read","error":5}"#,
            r#"{"index":0,"time":5,"process":-1,"type":"ok","f":"read"}"#,
            r#"{"index":0,"time":5,"process":3,"type":"done","f":"read"}"#,
            r#"{"time":5,"process":3,"type":"ok","f":"read"}"#,
            r#"{"index":0,"time":5,"process":3,"type":"ok","f":"read"} x"#,
        ] {
            assert!(
                Scan::new(l.as_bytes())
                    .event(1, &mut Texts::default())
                    .is_none(),
                "the fast path leaves {l} to serde"
            );
        }
    }

    /// A large history parsed in pieces reads as one sequential parse, down to the warning
    /// about a partial last line.
    #[test]
    fn pieces_read_like_one_sequential_parse() {
        let mut src = String::new();
        for i in 0..6000 {
            src.push_str(&format!(
                r#"{{"index":{i},"time":{},"process":{},"type":"invoke","f":"write","key":"k{}","value":{i}}}"#,
                i * 10,
                i % 30,
                i % 7
            ));
            src.push('\n');
        }
        src.push_str(r#"{"index":6000,"time":1,"proc"#);
        let h = crate::parse::parse(src.as_bytes(), Format::Faultline).unwrap();
        let (events, warnings, _) = parse_range(
            src.as_bytes(),
            0..src.len(),
            1,
            true,
            (Guard::none(), &|_| {}),
        )
        .unwrap();
        assert_eq!(h.events, events);
        assert_eq!(h.warnings, warnings);
        assert_eq!(h.events.len(), 6000);
        assert_eq!(h.events[5999].line, 6000);
        assert!(h.warnings[0].starts_with("line 6001: ignored a partial last line"));
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            (-1e6f64..1e6).prop_map(serde_json::Value::from),
            "[a-z \"\\\n\u{e9}]{0,6}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 12, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::btree_map("[a-z]{1,3}", inner, 0..3)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// Whatever the fast path takes, it reads as serde does.
        #[test]
        fn the_fast_path_agrees_with_serde_on_written_events(
            index in 0u64..1 << 40,
            time in proptest::prelude::any::<u64>(),
            process in proptest::option::of(0u64..1000),
            kind in 0usize..4,
            f in "[a-z\\\"]{1,5}",
            key in proptest::option::of("[a-z0-9 \\\"]{0,4}"),
            value in json_value(),
            error in proptest::option::of("[a-z]{0,3}"),
        ) {
            let ev = Event {
                index,
                time,
                process: process.map_or(Process::Nemesis(crate::history::NemesisTag::Nemesis), Process::Client),
                kind: [EventType::Invoke, EventType::Ok, EventType::Fail, EventType::Info][kind],
                f,
                key,
                value,
                error,
            };
            let line = serde_json::to_string(&ev).unwrap();
            if let Some((fast, error)) = Scan::new(line.as_bytes()).event(1, &mut Texts::default()) {
                proptest::prop_assert_eq!(error.as_deref(), ev.error.as_deref());
                proptest::prop_assert_eq!(fast.kind, ev.kind);
                proptest::prop_assert_eq!(&*fast.f, ev.f.as_str());
                proptest::prop_assert_eq!(fast.time, Some(ev.time));
                proptest::prop_assert_eq!(&fast.value, &Val::from_json(&ev.value));
                proptest::prop_assert_eq!(&fast.key, &ev.key.map(|k| Val::Str(k.into())));
            }
        }
    }
}
