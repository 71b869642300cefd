//! A seeded generator of list-append histories, for benchmarks and tests.
//!
//! Construction: `procs` workers each invoke a transaction, *apply* it (its reads computed from
//! the state at that moment, its appends done), then complete it, the three steps of all
//! workers interleaved at random. Applying happens inside the transaction's interval and in
//! one global order, so the history is strictly serializable by construction, with real-time
//! overlap. Some transactions end `info` (applied or not, at random), some `fail` (not
//! applied). Keys are retired after `max_writes_per_key` appends and replaced by fresh ones, as
//! Jepsen's list-append generator does, so reads stay short.
//!
//! Planted anomalies are small groups of concurrent transactions on keys of their own, inserted
//! at a known event position, each showing exactly one anomaly.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use crate::history::{Event, EventType, Process};

/// What to generate.
#[derive(Debug, Clone)]
pub struct ListAppendGen {
    pub seed: u64,
    pub txns: usize,
    /// Keys in use at any time.
    pub keys: usize,
    pub max_writes_per_key: usize,
    pub ops_per_txn: usize,
    pub procs: usize,
    /// Fraction of transactions that end `info`.
    pub info_rate: f64,
    /// Fraction of transactions that end `fail`.
    pub fail_rate: f64,
    /// Anomalies to plant, each at a fraction of the history (0.0 start, 1.0 end).
    pub plant: Vec<(Plant, f64)>,
}

impl Default for ListAppendGen {
    fn default() -> Self {
        ListAppendGen {
            seed: 1,
            txns: 1000,
            keys: 10,
            max_writes_per_key: 32,
            ops_per_txn: 4,
            procs: 10,
            info_rate: 0.05,
            fail_rate: 0.0,
            plant: Vec::new(),
        }
    }
}

/// An anomaly to plant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plant {
    /// Two transactions append to x and y in opposite orders.
    G0,
    /// Two transactions each read the other's append.
    G1c,
    /// Read skew: one transaction reads y before and z after another's appends to both.
    GSingle,
    /// Write skew: two transactions each read the key the other appends to, empty.
    G2,
}

impl Plant {
    /// Reads a plant's name: `g0`, `g1c`, `g-single`, `g2`.
    pub fn from_name(s: &str) -> Option<Plant> {
        Some(match s.to_ascii_lowercase().as_str() {
            "g0" => Plant::G0,
            "g1c" => Plant::G1c,
            "g-single" | "gsingle" => Plant::GSingle,
            "g2" | "g2-item" => Plant::G2,
            _ => return None,
        })
    }

    /// The anomaly the checker names it.
    pub fn anomaly(self) -> &'static str {
        match self {
            Plant::G0 => "G0",
            Plant::G1c => "G1c",
            Plant::GSingle => "G-single",
            Plant::G2 => "G2-item",
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Stage {
    Idle,
    Invoked,
    Applied,
}

struct Worker {
    process: u64,
    stage: Stage,
    ops: Value,
    /// Whether it will end info, and if so whether it is applied.
    end: EventType,
    apply: bool,
}

impl ListAppendGen {
    /// The history's events, in order.
    pub fn events(&self) -> Vec<Event> {
        let mut events = Vec::with_capacity(self.txns * 2 + 32);
        self.generate(&mut |e| events.push(e));
        events
    }

    /// The history as `history.jsonl` text.
    pub fn jsonl(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Writing to memory does not fail.
        let _ = self.write_jsonl(&mut out);
        out
    }

    /// Writes the history as `history.jsonl`, one event at a time (a million transactions are
    /// never all in memory).
    pub fn write_jsonl(&self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        let mut result = Ok(());
        self.generate(&mut |e| {
            if result.is_ok() {
                result = serde_json::to_writer(&mut *w, &e)
                    .map_err(std::io::Error::from)
                    .and_then(|()| w.write_all(b"\n"));
            }
        });
        result
    }

    /// Hands each event to `emit`, in order.
    fn generate(&self, emit: &mut dyn FnMut(Event)) {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut state = State::new(self.keys);
        let mut out = Out { emit, next: 0 };
        let procs = self.procs.max(1);
        let mut workers: Vec<Worker> = (0..procs as u64)
            .map(|p| Worker {
                process: p,
                stage: Stage::Idle,
                ops: Value::Null,
                end: EventType::Ok,
                apply: true,
            })
            .collect();
        let mut next_process = procs as u64;
        let (mut invoked, mut completed) = (0usize, 0usize);
        let mut plants: Vec<(usize, Plant)> = self
            .plant
            .iter()
            .map(|&(p, at)| (((self.txns as f64) * at.clamp(0.0, 1.0)) as usize, p))
            .collect();
        plants.sort_by_key(|p| std::cmp::Reverse(p.0));
        let mut planted = 0u64;
        while completed < self.txns {
            while plants.last().is_some_and(|p| p.0 <= completed) {
                let (_, p) = plants.pop().unwrap_or((0, Plant::G0));
                plant(&mut out, p, planted, &mut next_process);
                planted += 1;
            }
            let w = &mut workers[rng.gen_range(0..procs)];
            match w.stage {
                Stage::Idle if invoked < self.txns => {
                    w.ops = state.txn(&mut rng, self.ops_per_txn);
                    let roll: f64 = rng.gen();
                    (w.end, w.apply) = if roll < self.info_rate {
                        (EventType::Info, rng.gen_bool(0.5))
                    } else if roll < self.info_rate + self.fail_rate {
                        (EventType::Fail, false)
                    } else {
                        (EventType::Ok, true)
                    };
                    push(&mut out, w.process, EventType::Invoke, w.ops.clone());
                    w.stage = Stage::Invoked;
                    invoked += 1;
                }
                Stage::Idle => {}
                Stage::Invoked => {
                    if w.apply {
                        w.ops = state.apply(&w.ops, self.max_writes_per_key);
                    }
                    w.stage = Stage::Applied;
                }
                Stage::Applied => {
                    let value = match w.end {
                        EventType::Ok => w.ops.clone(),
                        _ => Value::Null,
                    };
                    push(&mut out, w.process, w.end, value);
                    if w.end == EventType::Info {
                        // A crashed worker continues as a new process, as Jepsen's do.
                        w.process = next_process;
                        next_process += 1;
                    }
                    w.stage = Stage::Idle;
                    completed += 1;
                }
            }
        }
        for (_, p) in plants.into_iter().rev() {
            plant(&mut out, p, planted, &mut next_process);
            planted += 1;
        }
    }
}

/// Where events go, numbered as they go.
struct Out<'a> {
    emit: &'a mut dyn FnMut(Event),
    next: u64,
}

fn push(out: &mut Out<'_>, process: u64, kind: EventType, value: Value) {
    let index = out.next;
    out.next += 1;
    (out.emit)(Event {
        index,
        time: index,
        process: Process::Client(process),
        kind,
        f: "txn".into(),
        key: None,
        value,
        error: None,
    });
}

/// The lists, and the live keys.
struct State {
    lists: std::collections::HashMap<u64, Vec<u64>>,
    live: Vec<u64>,
    next_key: u64,
    next_value: u64,
}

impl State {
    fn new(keys: usize) -> State {
        State {
            lists: Default::default(),
            live: (0..keys.max(1) as u64).collect(),
            next_key: keys.max(1) as u64,
            next_value: 1,
        }
    }

    /// A transaction's invocation: appends of fresh values and reads, over live keys.
    fn txn(&mut self, rng: &mut ChaCha8Rng, n: usize) -> Value {
        let ops: Vec<Value> = (0..n.max(1))
            .map(|_| {
                let key = self.live[rng.gen_range(0..self.live.len())];
                if rng.gen_bool(0.5) {
                    json!(["r", key, null])
                } else {
                    self.next_value += 1;
                    json!(["append", key, self.next_value])
                }
            })
            .collect();
        Value::Array(ops)
    }

    /// Applies a transaction at this moment: its reads filled in. A key that reached its
    /// appends' limit is retired for a fresh one.
    fn apply(&mut self, ops: &Value, max_writes: usize) -> Value {
        let mut out = Vec::new();
        for op in ops.as_array().into_iter().flatten() {
            let (f, key) = (op[0].as_str().unwrap_or(""), op[1].as_u64().unwrap_or(0));
            let list = self.lists.entry(key).or_default();
            if f == "append" {
                list.push(op[2].as_u64().unwrap_or(0));
                if list.len() >= max_writes {
                    if let Some(slot) = self.live.iter().position(|&k| k == key) {
                        self.live[slot] = self.next_key;
                        self.next_key += 1;
                    }
                }
                out.push(op.clone());
            } else {
                out.push(json!(["r", key, list]));
            }
        }
        Value::Array(out)
    }
}

/// Plants one anomaly on keys of its own (strings, unlike the generated integer keys), its
/// transactions concurrent with each other.
fn plant(out: &mut Out<'_>, p: Plant, n: u64, next_process: &mut u64) {
    let (x, y) = (format!("p{n}x"), format!("p{n}y"));
    let (a, b) = (1_000_000_000 + n * 10, 1_000_000_001 + n * 10);
    let (t1, t2, t3): (Value, Value, Value) = match p {
        Plant::G0 => (
            json!([["append", x, a], ["append", y, a]]),
            json!([["append", x, b], ["append", y, b]]),
            json!([["r", x, [a, b]], ["r", y, [b, a]]]),
        ),
        Plant::G1c => (
            json!([["append", x, a], ["r", y, [b]]]),
            json!([["append", y, b], ["r", x, [a]]]),
            json!([["r", x, [a]], ["r", y, [b]]]),
        ),
        Plant::GSingle => (
            json!([["r", x, []], ["r", y, [b]]]),
            json!([["append", x, a], ["append", y, b]]),
            json!([["r", x, [a]], ["r", y, [b]]]),
        ),
        Plant::G2 => (
            json!([["r", x, []], ["append", y, b]]),
            json!([["r", y, []], ["append", x, a]]),
            json!([["r", x, [a]], ["r", y, [b]]]),
        ),
    };
    let procs: Vec<u64> = (0..3).map(|i| *next_process + i).collect();
    *next_process += 3;
    let invocation = |v: &Value| {
        let ops = v.as_array().cloned().unwrap_or_default();
        Value::Array(
            ops.into_iter()
                .map(|op| match op[0].as_str() {
                    Some("r") => json!(["r", op[1], null]),
                    _ => op,
                })
                .collect(),
        )
    };
    push(out, procs[0], EventType::Invoke, invocation(&t1));
    push(out, procs[1], EventType::Invoke, invocation(&t2));
    push(out, procs[0], EventType::Ok, t1);
    push(out, procs[1], EventType::Ok, t2);
    push(out, procs[2], EventType::Invoke, invocation(&t3));
    push(out, procs[2], EventType::Ok, t3);
}
