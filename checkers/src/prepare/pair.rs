//! Pairing each invocation with its completion.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use crate::error::{Error, Result};
use crate::history::EventType;
use crate::op::OpMeta;
use crate::parse::{History, Proc, RawEvent};
use crate::search::FxHasher;
use crate::value::Val;

/// How an operation ended; values are borrowed from the history's events.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome<'a> {
    Ok(&'a Val),
    Fail(&'a Val),
    Info,
    /// Never completed: the history ended first.
    Pending,
}

/// An invocation paired with its completion. It borrows from the history's events instead of
/// copying them: a large history's operations then cost a few words each, not a second copy
/// of its values.
#[derive(Debug, Clone, Copy)]
pub struct RawOp<'a> {
    pub process: i64,
    /// The operation's key, if any: the event's, or the first of an EDN `[k v]` tuple.
    pub key: Option<&'a Val>,
    /// The invocation's value (the second of an EDN `[k v]` tuple).
    pub invoke: &'a Val,
    pub outcome: Outcome<'a>,
    /// Index of the invocation event.
    pub call: u64,
    /// Index of the completion event, unless the operation crashed or never completed.
    pub ret: Option<u64>,
    inv: &'a RawEvent,
    end: Option<&'a RawEvent>,
}

impl<'a> RawOp<'a> {
    pub fn f(&self) -> &'a str {
        &self.inv.f
    }

    pub fn line(&self) -> usize {
        self.inv.line
    }

    pub(super) fn meta(&self) -> OpMeta {
        OpMeta {
            process: Some(self.process),
            invoke_time: self.inv.time,
            complete_time: self.end.and_then(|e| e.time),
            invoke_index: Some(self.call),
            complete_index: self.ret,
            line: Some(self.line()),
            outcome: match self.outcome {
                Outcome::Ok(_) => "ok",
                Outcome::Fail(_) => "fail",
                Outcome::Info => "info",
                Outcome::Pending => "pending",
            },
        }
    }

    pub(super) fn err(&self, msg: impl Into<String>) -> Error {
        Error::AtLine {
            line: self.line(),
            msg: msg.into(),
        }
    }
}

/// Pairs each client invocation with its process's next completion. Events of non-client
/// processes (the nemesis) are ignored.
pub fn pair(h: &History) -> Result<Vec<RawOp<'_>>> {
    let mut ops: Vec<RawOp> = Vec::with_capacity(h.events.len() / 2 + 1);
    let mut open: HashMap<i64, usize, BuildHasherDefault<FxHasher>> = HashMap::default();
    for (i, ev) in h.events.iter().enumerate() {
        let Proc::Client(p) = ev.process else {
            continue;
        };
        let err = |msg: String| Error::AtLine { line: ev.line, msg };
        if ev.kind == EventType::Invoke {
            if let Some(&prev) = open.get(&p) {
                return Err(err(format!(
                    "process {p} invokes :{} while its :{} from line {} has not completed",
                    ev.f,
                    ops[prev].f(),
                    ops[prev].line()
                )));
            }
            open.insert(p, ops.len());
            ops.push(RawOp {
                process: p,
                key: ev.key.as_ref(),
                invoke: &ev.value,
                outcome: Outcome::Pending,
                call: i as u64,
                ret: None,
                inv: ev,
                end: None,
            });
            continue;
        }
        let Some(idx) = open.remove(&p) else {
            if ev.kind == EventType::Info {
                // Jepsen logs a lone :info for a process that crashed before invoking; harmless.
                continue;
            }
            return Err(err(format!(
                "process {p} completes :{} ({:?}) without a pending invocation",
                ev.f, ev.kind
            )));
        };
        let op = &mut ops[idx];
        if op.inv.f != ev.f {
            return Err(err(format!(
                "process {p} invoked :{} (line {}) but completes :{}",
                op.f(),
                op.line(),
                ev.f
            )));
        }
        op.outcome = match ev.kind {
            EventType::Ok => Outcome::Ok(&ev.value),
            EventType::Fail => Outcome::Fail(&ev.value),
            _ => Outcome::Info,
        };
        op.end = Some(ev);
        if ev.kind != EventType::Info {
            op.ret = Some(i as u64);
        }
    }
    Ok(ops)
}
