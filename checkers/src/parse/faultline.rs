//! faultline's `history.jsonl`: one [`crate::history::Event`] per line.

use super::{Format, History, Proc, RawEvent};
use crate::error::{Error, Pos, Result};
use crate::history::{Event, Process};
use crate::value::Val;

pub(super) fn parse(src: &[u8]) -> Result<History> {
    let mut events = super::events_vec(src);
    let mut warnings = Vec::new();
    let mut offset = 0usize;
    let mut lines = src.split(|&b| b == b'\n').enumerate().peekable();
    while let Some((i, raw)) = lines.next() {
        let start = offset;
        offset += raw.len() + 1;
        let terminated = offset <= src.len();
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let ev: Event = match serde_json::from_slice(raw) {
            Ok(ev) => ev,
            Err(e) if !terminated && lines.peek().is_none() => {
                // The writer was interrupted mid-line: the run ended, the history before it stands.
                warnings.push(format!(
                    "line {}: ignored a partial last line ({e}); the run was probably interrupted while writing it",
                    i + 1
                ));
                continue;
            }
            Err(e) => {
                return Err(Error::Event {
                    pos: Pos::at(src, start + e.column().saturating_sub(1)),
                    msg: format!("not a faultline history event: {e}"),
                })
            }
        };
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
            line: i + 1,
        });
    }
    Ok(History {
        format: Format::Faultline,
        events,
        warnings,
    })
}
