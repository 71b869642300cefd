//! EDN histories (Knossos/Jepsen op maps) and Porcupine kv logs, both read as EDN maps.

use super::edn::Reader;
use super::{event_type, Format, History, Proc, RawEvent};
use crate::error::{Error, Pos, Result};
use crate::value::Val;

pub(super) fn parse(src: &[u8], format: Format) -> Result<History> {
    let mut r = Reader::new(src);
    let mut events = Vec::new();
    // Line numbers are counted incrementally between events, so the whole parse stays linear.
    let mut line = 1usize;
    let mut counted_to = 0usize;
    let mut line_at = |offset: usize| {
        line += src[counted_to..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        counted_to = offset;
        line
    };
    let wrapped = match r.peek() {
        Some(b @ (b'[' | b'(')) => {
            r.bump();
            Some(if b == b'[' { b']' } else { b')' })
        }
        _ => None,
    };
    loop {
        let Some(b) = r.peek() else {
            if let Some(close) = wrapped {
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
            if r.peek().is_some() {
                return Err(r.error(
                    r.offset(),
                    "unexpected text after the history's closing bracket",
                ));
            }
            break;
        }
        let start = r.offset();
        let l = line_at(start);
        if let Some(ev) = fast_event(&mut r, l) {
            events.push(ev);
            continue;
        }
        r.set_offset(start);
        let v = r.read()?.expect("peek saw a value");
        events.push(event(&v, l, src, start)?);
    }
    Ok(History {
        format,
        events,
        warnings: Vec::new(),
    })
}

/// The common shape, `{:process 0, :type :ok, :f :read, :value 1, ...}` with keyword keys,
/// read without building a map. `None` (the caller rereads it the general way, with its error
/// messages) for anything else.
fn fast_event(r: &mut Reader<'_>, line: usize) -> Option<RawEvent> {
    if r.peek() != Some(b'{') {
        return None;
    }
    r.bump();
    let (mut process, mut kind, mut f, mut key, mut value, mut time) =
        (None, None, None, None, Val::Nil, None);
    loop {
        if r.peek()? == b'}' {
            r.bump();
            break;
        }
        let k = r.keyword()?;
        match k {
            "process" => {
                process = Some(match r.read().ok()?? {
                    Val::Int(p) => Proc::Client(p),
                    Val::Kw(p) => Proc::Other(p),
                    _ => return None,
                })
            }
            "type" => kind = Some(event_type(r.keyword()?)?),
            "f" => f = Some(Box::<str>::from(r.keyword()?)),
            "value" => value = r.read().ok()??,
            "key" => key = Some(r.read().ok()??),
            "time" => {
                time = match r.read().ok()?? {
                    Val::Int(t) => u64::try_from(t).ok(),
                    _ => None,
                }
            }
            _ => {
                r.read().ok()??;
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
    let f: Box<str> = match v.get("f") {
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
