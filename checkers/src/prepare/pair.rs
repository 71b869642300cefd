//! Pairing each invocation with its completion.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::history::EventType;
use crate::op::OpMeta;
use crate::parse::{History, Proc};
use crate::search::FxHasher;
use crate::value::Val;

/// How an operation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Ok(Val),
    Fail(Val),
    Info,
    /// Never completed: the history ended first.
    Pending,
}

/// An invocation paired with its completion.
#[derive(Debug, Clone)]
pub struct RawOp {
    pub process: i64,
    pub f: Arc<str>,
    pub key: Option<Val>,
    pub invoke: Val,
    pub outcome: Outcome,
    pub call: u64,
    pub ret: Option<u64>,
    pub invoke_time: Option<u64>,
    pub complete_time: Option<u64>,
    pub line: usize,
}

impl RawOp {
    pub(super) fn meta(&self) -> OpMeta {
        OpMeta {
            process: Some(self.process),
            invoke_time: self.invoke_time,
            complete_time: self.complete_time,
            invoke_index: Some(self.call),
            complete_index: self.ret,
            line: Some(self.line),
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
            line: self.line,
            msg: msg.into(),
        }
    }
}

/// Pairs each client invocation with its process's next completion. Events of non-client
/// processes (the nemesis) are ignored.
pub fn pair(h: &History) -> Result<Vec<RawOp>> {
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
                    ev.f, ops[prev].f, ops[prev].line
                )));
            }
            open.insert(p, ops.len());
            ops.push(RawOp {
                process: p,
                f: ev.f.clone(),
                key: ev.key.clone(),
                invoke: ev.value.clone(),
                outcome: Outcome::Pending,
                call: i as u64,
                ret: None,
                invoke_time: ev.time,
                complete_time: None,
                line: ev.line,
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
        if op.f != ev.f {
            return Err(err(format!(
                "process {p} invoked :{} (line {}) but completes :{}",
                op.f, op.line, ev.f
            )));
        }
        op.outcome = match ev.kind {
            EventType::Ok => Outcome::Ok(ev.value.clone()),
            EventType::Fail => Outcome::Fail(ev.value.clone()),
            _ => Outcome::Info,
        };
        op.complete_time = ev.time;
        if ev.kind != EventType::Info {
            op.ret = Some(i as u64);
        }
    }
    Ok(ops)
}
