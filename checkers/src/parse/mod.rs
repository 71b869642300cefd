//! Reading histories: format detection and one parser per format, all producing [`RawEvent`]s.

pub mod edn;
mod etcd_log;
mod faultline;
mod maps;
mod pieces;

pub use pieces::Release;

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::history::{Event, EventType, NemesisTag, Process};
use crate::memory::Guard;
use crate::value::Val;

/// The input formats `faultline check` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Jepsen EDN (`history.edn`): one vector of op maps, or a stream of maps. Knossos semantics.
    Edn,
    /// Jepsen logs as in Porcupine's etcd test data. Porcupine semantics.
    EtcdLog,
    /// Porcupine's kv logs (`{:process 0, :type :invoke, :f :put, :key "3", :value "x"}`).
    KvLog,
    /// faultline's `history.jsonl` (see [`crate::history::Event`]).
    Faultline,
}

impl Format {
    pub const ALL: [Format; 4] = [
        Format::Edn,
        Format::EtcdLog,
        Format::KvLog,
        Format::Faultline,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::Edn => "edn",
            Format::EtcdLog => "etcd-log",
            Format::KvLog => "kv-log",
            Format::Faultline => "faultline",
        }
    }

    pub fn from_name(s: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == s)
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Who issued an event: a client process, or anything else (the nemesis), which checkers ignore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proc {
    Client(i64),
    Other(Arc<str>),
}

/// One event of a history, in any format.
#[derive(Debug, Clone, PartialEq)]
pub struct RawEvent {
    pub process: Proc,
    pub kind: EventType,
    pub f: Arc<str>,
    /// An explicit key (faultline, kv logs); EDN's independent `[k v]` tuples are split later.
    pub key: Option<Val>,
    pub value: Val,
    pub time: Option<u64>,
    /// 1-based line where the event starts.
    pub line: usize,
}

/// A parsed history: its events in order, and what was noticed on the way.
#[derive(Debug, Clone)]
pub struct History {
    pub format: Format,
    pub events: Vec<RawEvent>,
    /// Things worth telling the user that are not errors (an ignored partial last line).
    pub warnings: Vec<String>,
    /// The `error` text of the events that have one (faultline's histories), by position in
    /// `events`, in order: for people and for `history.edn`; checkers never read it.
    pub errors: Vec<(usize, Arc<str>)>,
}

impl History {
    /// The events as faultline's [`Event`]s, numbered by position: keys and values as JSON,
    /// processes that are not clients (the nemesis, or a negative id no client would use) as
    /// the nemesis, with their `error` texts. What reports, `history.edn` and the JSON-level
    /// checkers read.
    pub fn to_events(&self) -> Vec<Event> {
        let mut errors = self.errors.iter().peekable();
        self.events
            .iter()
            .enumerate()
            .map(|(i, e)| Event {
                index: i as u64,
                time: e.time.unwrap_or(i as u64),
                process: match e.process {
                    Proc::Client(p) if p >= 0 => Process::Client(p as u64),
                    _ => Process::Nemesis(NemesisTag::Nemesis),
                },
                kind: e.kind,
                f: e.f.to_string(),
                key: e.key.as_ref().map(|k| match k {
                    Val::Str(s) => s.to_string(),
                    other => other.to_string(),
                }),
                value: e.value.to_json(),
                error: errors
                    .next_if(|(at, _)| *at == i)
                    .map(|(_, text)| text.to_string()),
            })
            .collect()
    }
}

/// Guesses the format from the first non-blank content; `None` when nothing matches.
/// An input that is empty or only whitespace is an EDN stream with no events.
pub fn detect(src: &[u8]) -> Option<Format> {
    let start = src.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = &src[start..];
    // The first line, or its first 64 KiB: a history on one line is not read whole to tell.
    let head = &rest[..rest.len().min(64 << 10)];
    let first_line = &head[..memchr::memchr(b'\n', head).unwrap_or(head.len())];
    let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    if rest.starts_with(b"{\"") || rest.starts_with(b"{ \"") {
        return Some(Format::Faultline);
    }
    if contains(first_line, b"jepsen.util") || contains(first_line, b"\t:invoke\t") {
        return Some(Format::EtcdLog);
    }
    if rest.starts_with(b"{:process") && contains(first_line, b":key ") {
        return Some(Format::KvLog);
    }
    if matches!(rest[0], b'[' | b'(' | b'{' | b';') {
        return Some(Format::Edn);
    }
    None
}

/// Parses `src` in `format` (use [`detect`] first, or let [`parse_auto`] do it).
pub fn parse(src: &[u8], format: Format) -> Result<History> {
    parse_with(src, Some(format), &|_| {}, Guard::none())
}

/// Detects the format and parses. An empty input is an empty EDN history.
pub fn parse_auto(src: &[u8]) -> Result<History> {
    parse_with(src, None, &|_| {}, Guard::none())
}

/// Parses `src` in `format`, or in the format [`detect`] finds; `release` is told each range of
/// `src` whose events are parsed (see [`Release`]); past `guard`'s limit the parse stops with
/// [`Error::MemoryLimit`].
pub fn parse_with(
    src: &[u8],
    format: Option<Format>,
    release: Release<'_>,
    guard: Guard,
) -> Result<History> {
    let format = match format {
        Some(f) => f,
        None if src.iter().all(|b| b.is_ascii_whitespace()) => {
            return Ok(History {
                format: Format::Edn,
                events: Vec::new(),
                warnings: vec!["the history is empty".into()],
                errors: Vec::new(),
            })
        }
        None => detect(src).ok_or_else(|| {
            let head: String = String::from_utf8_lossy(&src[..src.len().min(40)])
                .chars()
                .map(|c| if c.is_control() { '.' } else { c })
                .collect();
            Error::UnknownFormat(format!("it starts with {head:?}"))
        })?,
    };
    match format {
        Format::Edn | Format::KvLog => maps::parse(src, format, release, guard),
        Format::EtcdLog => etcd_log::parse(src, guard),
        Format::Faultline => faultline::parse(src, release, guard),
    }
}

/// Bytes a parse reads between two calls to its [`Release`] for what lies behind it: a piece
/// can be the whole input (one line, or no line where a piece may start), and a mapped file
/// read whole would be resident whole.
pub(crate) const RELEASE_EVERY: usize = 16 << 20;

/// Room for the events of `src` (which starts at offset `base` of the input): about one a
/// line, never more than one per 32 bytes (the shortest op maps), so that the events' vector
/// grows once instead of by copying doublings. Counting reads every byte, so a long `src` is
/// released as it is counted.
pub(crate) fn events_vec(src: &[u8], base: usize, release: Release<'_>) -> Vec<RawEvent> {
    let mut lines = 1;
    for (k, chunk) in src.chunks(RELEASE_EVERY).enumerate() {
        lines += memchr::memchr_iter(b'\n', chunk).count();
        if src.len() > RELEASE_EVERY {
            let at = base + k * RELEASE_EVERY;
            release(at..at + chunk.len());
        }
    }
    Vec::with_capacity(lines.min(src.len() / 32 + 1))
}

/// Texts that repeat across events (`:f` names, keys, values read back), shared instead of
/// allocated for each event.
///
/// Short texts (names, keys, small values) are looked up in a small direct-mapped table that
/// compares them as one integer: most events only name texts seen a few lines before, and a
/// hit there costs neither UTF-8 validation nor hashing the bytes. Texts of middle length are
/// shared through a hash set; long ones, values read back and mostly each its own, are not.
pub(crate) struct Texts {
    recent: Box<[Option<Recent>; Texts::RECENT]>,
    known: crate::hash::FxSet<Arc<str>>,
}

/// A short text packed into an integer (see [`pack`]) with its length: two texts are equal
/// exactly when both are.
struct Recent {
    packed: u128,
    len: u8,
    text: Arc<str>,
}

/// Up to 16 bytes as one integer that, with the length, tells them apart: the first and the
/// last half (overlapping when shorter), read without a call to copy them.
fn pack(b: &[u8]) -> u128 {
    let n = b.len();
    let (lo, hi) = if n >= 8 {
        (
            u64::from_le_bytes(b[..8].try_into().unwrap_or_default()),
            u64::from_le_bytes(b[n - 8..].try_into().unwrap_or_default()),
        )
    } else if n >= 4 {
        (
            u64::from(u32::from_le_bytes(b[..4].try_into().unwrap_or_default())),
            u64::from(u32::from_le_bytes(
                b[n - 4..].try_into().unwrap_or_default(),
            )),
        )
    } else {
        (b.iter().fold(0, |w, &x| w << 8 | u64::from(x)), 0)
    };
    u128::from(lo) | u128::from(hi) << 64
}

impl Default for Texts {
    fn default() -> Self {
        Texts {
            recent: Box::new([const { None }; Texts::RECENT]),
            known: std::collections::HashSet::with_capacity_and_hasher(256, Default::default()),
        }
    }
}

impl Texts {
    /// Past this many distinct texts, new ones are no longer remembered.
    const MAX: usize = 1 << 16;
    /// Slots of the direct-mapped table (a power of two): enough that a value written by an
    /// invocation is usually still there when its completion, a few dozen events later (one
    /// per concurrent client), names it again.
    const RECENT: usize = 512;
    /// Longer texts are values read back, mostly each its own: hashing them to share costs
    /// more than the copy it saves.
    const SHARE_MAX: usize = 64;

    /// The text of `bytes`, or `None` when they are not UTF-8.
    pub(crate) fn get(&mut self, bytes: &[u8]) -> Option<Arc<str>> {
        self.text(bytes, false)
    }

    /// The text of a key: keys repeat across the whole history, not just between an
    /// invocation and its completion, so one missing from the recent table is looked up among
    /// all known texts before it is allocated. With 10,000 keys (most miss the recent table)
    /// each event otherwise held its own copy of its key: 32 bytes an event, 640 MB for 20M.
    pub(crate) fn key(&mut self, bytes: &[u8]) -> Option<Arc<str>> {
        self.text(bytes, true)
    }

    fn text(&mut self, bytes: &[u8], repeats: bool) -> Option<Arc<str>> {
        if bytes.len() <= 16 {
            let packed = pack(bytes);
            let len = bytes.len() as u8;
            // The halves are multiplied apart before they meet: of an 8-byte text both halves
            // are the whole text, and a plain xor would send every such text to one slot.
            let mixed = ((packed as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
                ^ (packed >> 64) as u64
                ^ u64::from(len))
            .wrapping_mul(0xbf58_476d_1ce4_e5b9);
            let slot = (mixed >> (64 - Self::RECENT.trailing_zeros())) as usize;
            if let Some(r) = &self.recent[slot] {
                if r.packed == packed && r.len == len {
                    return Some(r.text.clone());
                }
            }
            // A short value missing here is mostly one written once (an append's), whose
            // completion comes too late to find it: hashing it to share would cost more than
            // the small copy it saves. A key is worth the hash.
            let text: Arc<str> = if repeats {
                self.shared(bytes)?
            } else {
                std::str::from_utf8(bytes).ok()?.into()
            };
            self.recent[slot] = Some(Recent {
                packed,
                len,
                text: text.clone(),
            });
            return Some(text);
        }
        if bytes.len() > Self::SHARE_MAX {
            return Some(std::str::from_utf8(bytes).ok()?.into());
        }
        self.shared(bytes)
    }

    fn shared(&mut self, bytes: &[u8]) -> Option<Arc<str>> {
        let s = std::str::from_utf8(bytes).ok()?;
        if let Some(t) = self.known.get(s) {
            return Some(t.clone());
        }
        let t: Arc<str> = s.into();
        if self.known.len() < Self::MAX {
            self.known.insert(t.clone());
        }
        Some(t)
    }
}

/// Reads an event type from its name.
pub(crate) fn event_type(name: &str) -> Option<EventType> {
    Some(match name {
        "invoke" => EventType::Invoke,
        "ok" => EventType::Ok,
        "fail" => EventType::Fail,
        "info" => EventType::Info,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Texts come back as they were given, equal ones shared, for every length of the packed
    /// table (including texts that differ in one byte, or only in their length).
    #[test]
    fn texts_are_exact_and_shared() {
        let mut texts = Texts::default();
        let mut all: Vec<Vec<u8>> = Vec::new();
        for len in 0..24 {
            let base: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            all.push(base.clone());
            all.push(vec![0u8; len]);
            for at in 0..len {
                let mut v = base.clone();
                v[at] = b'Z';
                all.push(v);
            }
        }
        let first: Vec<Arc<str>> = all.iter().map(|b| texts.get(b).unwrap()).collect();
        for round in 0..2 {
            for (b, f) in all.iter().zip(&first) {
                let t = texts.get(b).unwrap();
                assert_eq!(t.as_bytes(), &b[..], "round {round}");
                if (17..=Texts::SHARE_MAX).contains(&b.len()) {
                    assert!(Arc::ptr_eq(&t, f), "{b:?} is shared");
                }
                if b.len() <= 16 {
                    // Short texts are shared while the recent table holds them.
                    let again = texts.get(b).unwrap();
                    assert!(Arc::ptr_eq(&t, &again), "{b:?} is shared with its next use");
                }
            }
        }
        assert!(texts.get(b"\xff\xfe").is_none(), "not UTF-8");
    }

    #[test]
    fn detects_each_format_from_content() {
        assert_eq!(
            detect(b"INFO  jepsen.util - 0\t:invoke\t:read\tnil\n"),
            Some(Format::EtcdLog)
        );
        assert_eq!(
            detect(b"{:process 0, :type :invoke, :f :get, :key \"3\", :value nil}\n"),
            Some(Format::KvLog)
        );
        assert_eq!(detect(b"; c\n[{:type :invoke}]"), Some(Format::Edn));
        assert_eq!(detect(b"\n{\"index\":0}"), Some(Format::Faultline));
        assert_eq!(detect(b"\x00\x01garbage"), None);
        assert!(parse_auto(b"  \n").unwrap().events.is_empty());
        assert!(matches!(
            parse_auto(b"\x7fELF"),
            Err(Error::UnknownFormat(_))
        ));
    }
}
