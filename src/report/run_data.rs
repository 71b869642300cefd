//! A run as the report sees it: operations paired from `history.jsonl`, fault windows from the
//! nemesis events, and the verdict from `results.json`.

use std::collections::HashMap;
use std::path::PathBuf;

use checkers::history::{Event, EventType, Process};
use checkers::Validity;
use serde_json::Value;

/// How an operation ended, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Ok,
    Fail,
    /// Indeterminate: an `info` completion, or no completion at all.
    Info,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Info => "info",
        }
    }
}

/// One client operation: its invocation and (if any) its completion.
#[derive(Debug, Clone)]
pub struct Op {
    pub index: u64,
    pub process: u64,
    pub f: String,
    pub key: Option<String>,
    pub invoke_ns: u64,
    /// `None` when the operation never completed (the run ended first).
    pub complete_ns: Option<u64>,
    pub outcome: Outcome,
    pub call: Value,
    pub result: Value,
}

impl Op {
    pub fn latency_ns(&self) -> Option<u64> {
        self.complete_ns.map(|c| c.saturating_sub(self.invoke_ns))
    }
}

/// A stretch of time during which a fault was in effect.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultWindow {
    /// The fault's name as applied: `kill`, `pause`, `partition`, ...
    pub fault: String,
    pub detail: String,
    pub start_ns: u64,
    /// `None` when the history ends before the fault was undone.
    pub end_ns: Option<u64>,
}

/// Faults that open a window, with the inverse that closes it.
const INVERSES: &[(&str, &str)] = &[
    ("kill", "start"),
    ("pause", "resume"),
    ("partition", "heal"),
    ("loss", "heal-loss"),
    ("slow", "heal-slow"),
    ("delay", "heal-delay"),
    ("clock", "reset-clock"),
    ("remove", "add"),
    ("start-partition", "stop-partition"),
];

/// Everything the report draws, loaded from a result directory.
#[derive(Debug, Default)]
pub struct RunData {
    pub dir: PathBuf,
    pub ops: Vec<Op>,
    pub windows: Vec<FaultWindow>,
    /// The last event's time: the end of the run as far as the history knows.
    pub end_ns: u64,
    /// `results.json`, or `Null` when the directory has none (a history from elsewhere).
    pub results: Value,
    /// What reading `history.jsonl` noticed (a partial last line left by a crash).
    pub warnings: Vec<String>,
    /// Node log files, relative to the directory.
    pub logs: Vec<PathBuf>,
}

impl RunData {
    /// Pairs invocations with completions per process, and fault starts with their inverses.
    pub fn from_events(events: &[Event]) -> RunData {
        from_events(events)
    }

    /// The overall verdict: `true`, `false` or `"unknown"` (from results.json; unknown without it).
    pub fn valid(&self) -> Validity {
        validity_from_json(self.results.get("valid"))
    }

    pub fn campaign_name(&self) -> String {
        self.results
            .get("campaign")
            .filter(|c| c.is_string())
            .or_else(|| self.results.pointer("/campaign/name"))
            .or_else(|| self.results.get("campaign_name"))
            .or_else(|| self.results.get("name"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| {
                self.dir
                    .parent()
                    .and_then(|p| p.file_name())
                    .or_else(|| self.dir.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "history".to_owned())
            })
    }
}

/// A verdict as results.json states it (`true`, `false`, `"unknown"`, or the labels); anything
/// else is unknown.
pub fn validity_from_json(v: Option<&Value>) -> Validity {
    match v {
        Some(Value::Bool(true)) => Validity::Valid,
        Some(Value::Bool(false)) => Validity::Invalid,
        Some(Value::String(s)) => Validity::from_label(s).unwrap_or(Validity::Unknown),
        _ => Validity::Unknown,
    }
}

fn from_events(events: &[Event]) -> RunData {
    let mut ops: Vec<Op> = Vec::new();
    let mut open: HashMap<u64, usize> = HashMap::new();
    let mut windows: Vec<FaultWindow> = Vec::new();
    let mut end_ns = 0;
    for e in events {
        end_ns = end_ns.max(e.time);
        match e.process {
            Process::Client(p) => match e.kind {
                EventType::Invoke => {
                    open.insert(p, ops.len());
                    ops.push(Op {
                        index: e.index,
                        process: p,
                        f: e.f.clone(),
                        key: e.key.clone(),
                        invoke_ns: e.time,
                        complete_ns: None,
                        outcome: Outcome::Info,
                        call: e.value.clone(),
                        result: Value::Null,
                    });
                }
                kind => {
                    if let Some(i) = open.remove(&p) {
                        let op = &mut ops[i];
                        op.complete_ns = Some(e.time);
                        op.result = e.value.clone();
                        op.outcome = match kind {
                            EventType::Ok => Outcome::Ok,
                            EventType::Fail => Outcome::Fail,
                            _ => Outcome::Info,
                        };
                    }
                }
            },
            Process::Nemesis(_) => apply_nemesis(&mut windows, e),
        }
    }
    RunData {
        ops,
        windows,
        end_ns,
        ..RunData::default()
    }
}

fn apply_nemesis(windows: &mut Vec<FaultWindow>, e: &Event) {
    // A nemesis event may say its phase outright; otherwise its name says it.
    let phase = e.value.get("phase").and_then(Value::as_str);
    let name = e
        .value
        .get("fault")
        .and_then(Value::as_str)
        .unwrap_or(&e.f)
        .to_owned();
    let opens = INVERSES.iter().find(|(s, _)| *s == name).map(|(s, _)| *s);
    let closes = INVERSES.iter().find(|(_, c)| *c == name).map(|(s, _)| *s);
    let is_start = match phase {
        Some("start") => true,
        Some("end") | Some("stop") => false,
        _ => opens.is_some() || closes.is_none(),
    };
    if e.kind == EventType::Invoke {
        // Jepsen records a nemesis op twice (invoke, then info); the window starts when it took
        // effect, so only the completion counts.
        return;
    }
    if is_start {
        windows.push(FaultWindow {
            fault: name,
            detail: describe_targets(&e.value),
            start_ns: e.time,
            end_ns: None,
        });
    } else {
        let kind = closes.unwrap_or(name.as_str()).to_owned();
        for w in windows.iter_mut().rev() {
            if w.end_ns.is_none() && (w.fault == kind || phase.is_some() && w.fault == name) {
                w.end_ns = Some(e.time);
                // `heal` ends every partition at once; the others end one window each.
                if kind != "partition" {
                    break;
                }
            }
        }
    }
}

fn describe_targets(v: &Value) -> String {
    if let Some(t) = v.get("targets").and_then(Value::as_array) {
        let names: Vec<String> = t
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| x.to_string())
            })
            .collect();
        // A link fault says how it degrades its links: `30% loss`, `1mbit`, `100ms±20ms`.
        // A clock fault says its offset and rate: `-30s`, `+0s x0.5`.
        let how = if let Some(o) = v.get("offset_secs").and_then(Value::as_i64) {
            match v.get("rate").and_then(Value::as_f64) {
                Some(r) => format!(" ({o:+}s x{r})"),
                None => format!(" ({o:+}s)"),
            }
        } else if let Some(p) = v.get("percent").and_then(Value::as_f64) {
            format!(" ({p}% loss)")
        } else if let Some(r) = v.get("rate").and_then(Value::as_str) {
            format!(" ({r})")
        } else if let Some(d) = v.get("delay") {
            format!(
                " ({}ms±{}ms)",
                d["ms"].as_u64().unwrap_or(0),
                d["jitter_ms"].as_u64().unwrap_or(0)
            )
        } else {
            String::new()
        };
        return format!("{}{how}", names.join(", "));
    }
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_windows_say_their_offset_and_rate() {
        let bump = serde_json::json!({"targets": ["n3"], "offset_secs": -30, "phase": "start"});
        assert_eq!(describe_targets(&bump), "n3 (-30s)");
        let skew = serde_json::json!({"targets": ["n1"], "offset_secs": 0, "rate": 0.5});
        assert_eq!(describe_targets(&skew), "n1 (+0s x0.5)");
        let slow = serde_json::json!({"targets": ["n1", "n2"], "rate": "1mbit"});
        assert_eq!(describe_targets(&slow), "n1, n2 (1mbit)");
    }

    fn ev(
        index: u64,
        time: u64,
        process: Process,
        kind: EventType,
        f: &str,
        value: Value,
    ) -> Event {
        Event {
            index,
            time,
            process,
            kind,
            f: f.into(),
            key: None,
            value,
            error: None,
        }
    }

    #[test]
    fn pairs_ops_and_fault_windows() {
        use checkers::history::NemesisTag::Nemesis as N;
        let events = vec![
            ev(
                0,
                10,
                Process::Client(0),
                EventType::Invoke,
                "write",
                1.into(),
            ),
            ev(
                1,
                20,
                Process::Nemesis(N),
                EventType::Info,
                "kill",
                serde_json::json!({"targets":["n1"]}),
            ),
            ev(2, 30, Process::Client(0), EventType::Ok, "write", 1.into()),
            ev(
                3,
                40,
                Process::Client(1),
                EventType::Invoke,
                "read",
                Value::Null,
            ),
            ev(
                4,
                50,
                Process::Nemesis(N),
                EventType::Info,
                "start",
                serde_json::json!({"targets":["n1"]}),
            ),
        ];
        let run = from_events(&events);
        assert_eq!(run.ops.len(), 2);
        assert_eq!(run.ops[0].outcome, Outcome::Ok);
        assert_eq!(run.ops[0].latency_ns(), Some(20));
        assert_eq!(run.ops[1].outcome, Outcome::Info);
        assert_eq!(run.ops[1].complete_ns, None);
        assert_eq!(run.windows.len(), 1);
        assert_eq!(run.windows[0].fault, "kill");
        assert_eq!(run.windows[0].detail, "n1");
        assert_eq!(
            (run.windows[0].start_ns, run.windows[0].end_ns),
            (20, Some(50))
        );
        assert_eq!(run.end_ns, 50);
    }

    #[test]
    fn link_fault_windows_say_how_they_degrade() {
        use checkers::history::NemesisTag::Nemesis as N;
        let events = vec![
            ev(
                0,
                10,
                Process::Nemesis(N),
                EventType::Info,
                "loss",
                serde_json::json!({"window":0,"phase":"start","targets":["n1","n2"],"percent":30.0}),
            ),
            ev(
                1,
                20,
                Process::Nemesis(N),
                EventType::Info,
                "slow",
                serde_json::json!({"window":1,"phase":"start","targets":["n3"],"rate":"1mbit"}),
            ),
            ev(
                2,
                30,
                Process::Nemesis(N),
                EventType::Info,
                "loss",
                serde_json::json!({"window":0,"phase":"end","targets":["n1","n2"],"percent":30.0}),
            ),
        ];
        let run = from_events(&events);
        assert_eq!(run.windows.len(), 2);
        assert_eq!(run.windows[0].fault, "loss");
        assert_eq!(run.windows[0].detail, "n1, n2 (30% loss)");
        assert_eq!(run.windows[0].end_ns, Some(30));
        assert_eq!(run.windows[1].detail, "n3 (1mbit)");
        assert_eq!(run.windows[1].end_ns, None);
    }
}
