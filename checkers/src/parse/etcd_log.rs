//! Jepsen log lines as in Porcupine's etcd test data:
//! `INFO  jepsen.util - 3<TAB>:invoke<TAB>:cas<TAB>[1 4]` (tabs, or runs of spaces).

use super::edn::Reader;
use super::{event_type, Format, History, Proc, RawEvent};
use crate::error::{Error, Pos, Result};
use crate::memory::Guard;
use crate::value::Val;

const MARK: &[u8] = b"jepsen.util - ";

pub(super) fn parse(src: &[u8], guard: Guard) -> Result<History> {
    let mut events = super::events_vec(src, 0, &|_| {});
    let mut offset = 0usize;
    for (i, raw) in src.split(|&b| b == b'\n').enumerate() {
        let line_no = i + 1;
        guard.every(i, || format!("reading line {line_no}"))?;
        let line_start = offset;
        offset += raw.len() + 1;
        // Lines that are not jepsen.util op lines (other log output) are skipped, as Porcupine does.
        let Some(at) = raw.windows(MARK.len()).position(|w| w == MARK) else {
            continue;
        };
        let body_start = at + MARK.len();
        let body = &raw[body_start..];
        let err = |col: usize, msg: String| Error::Event {
            pos: Pos::at(src, line_start + body_start + col),
            msg,
        };
        let mut fields = Vec::with_capacity(4);
        let mut j = 0;
        while fields.len() < 3 {
            while j < body.len() && body[j].is_ascii_whitespace() {
                j += 1;
            }
            let s = j;
            while j < body.len() && !body[j].is_ascii_whitespace() {
                j += 1;
            }
            if s == j {
                return Err(err(
                    j,
                    "expected `<process> <:type> <:f> <value>` after `jepsen.util - `".into(),
                ));
            }
            fields.push((s, std::str::from_utf8(&body[s..j]).unwrap_or("")));
        }
        let process = match fields[0].1.parse::<i64>() {
            Ok(p) => Proc::Client(p),
            Err(_) => Proc::Other(fields[0].1.trim_start_matches(':').into()),
        };
        let kind = fields[1]
            .1
            .strip_prefix(':')
            .and_then(event_type)
            .ok_or_else(|| {
                err(
                    fields[1].0,
                    format!(
                        "expected :invoke, :ok, :fail or :info, found {:?}",
                        fields[1].1
                    ),
                )
            })?;
        let f = fields[2].1.trim_start_matches(':');
        let rest = &body[j..];
        let mut r = Reader::new(rest);
        let value = match r.read() {
            Ok(Some(v)) => v,
            Ok(None) => {
                return Err(err(j, "expected a value after the :f field".into()));
            }
            Err(Error::Syntax { pos, msg }) => {
                return Err(err(j + pos.offset, msg));
            }
            Err(e) => return Err(e),
        };
        events.push(RawEvent {
            process,
            kind,
            f: f.into(),
            key: None,
            value: match value {
                Val::Kw(k) if &*k == "timed-out" => Val::Nil,
                v => v,
            },
            time: None,
            line: line_no,
        });
    }
    if events.is_empty() && !src.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::Syntax {
            pos: Pos::at(src, 0),
            msg: "no `jepsen.util - <process> <:type> <:f> <value>` lines: not an etcd log".into(),
        });
    }
    Ok(History {
        errors: Vec::new(),
        format: Format::EtcdLog,
        events,
        warnings: Vec::new(),
    })
}
