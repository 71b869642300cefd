//! Online checking: the linearizability checker runs while the run goes, so a violation is
//! reported when it happens (and, with `checker.stop_on_violation`, ends the run), not only
//! once the run is over.
//!
//! **Where it applies.** Workloads checked for linearizability per key (`register`, on every
//! system). The others (`set`, `list-append`, `rw-register`) are decided by checkers that need
//! the whole history (a set's final read; transactions' dependency cycles across keys): for
//! them nothing runs online.
//!
//! **How.** The history writer thread (`recorder`), after writing an event's line, adds a copy
//! of the line and its key to a batch, which it sends to this module's thread over a channel
//! every [`BATCH`] lines and at each flush of the history (every 100 ms): the clients' hot path
//! is unchanged (they queue one event, as before), and the writer pays a copy per line and a
//! message per batch. The thread keeps each key's lines in order and,
//! in rounds, checks each key whose history grew, with the same parser and the same checker as
//! the check after the run (`checkers::parse::parse` of the key's lines, then
//! `checkers::check_history`), on one thread, within the campaign's memory limit. A round that
//! took `c` is followed by a pause of at least `(DUTY - 1) * c` (and `MIN_GAP`): the checker
//! spends at most 1/`DUTY` of one core on average, whatever the history's size; checks get
//! rarer as histories grow, never heavier on average. A key whose check hits a limit is left to
//! the check after the run.
//!
//! **Why a violation found online is real.** Let `H` be a key's whole history and `H_T` the
//! events of that key recorded up to some moment `T`. In `H_T` an operation invoked but not yet
//! completed is *pending*: the checker treats it as it treats an indeterminate one (it may take
//! effect at any point after its invocation, or never), with the arguments of its invocation (a
//! pending read constrains nothing). Suppose `H` is linearizable: some legal sequential order
//! `S` of its operations (every `ok` one, any of the `info` ones, no `fail` one), each at a
//! point inside its interval (after its invocation for an indeterminate one). Keep the
//! operations of `S` whose point is at or before `T`:
//! - every operation that completed `ok` in `H_T` returned by `T`, so its point is before `T`:
//!   it is kept, with the same interval and result as in `H`;
//! - every kept operation was invoked before its point, so by `T`: it is in `H_T`, completed
//!   (the same operation as in `H`) or pending (optional there, and its point lies after its
//!   invocation); the register workload completes a write or a cas with the value it invoked,
//!   so the pending operation is the same operation the checker sees in `H`;
//! - `fail` operations are in neither order; an operation that failed in `H_T` failed in `H`;
//! - the kept operations are a prefix of `S`, and a prefix of a legal register sequence is
//!   legal; real-time order within it is `S`'s.
//!
//! So `H_T` is linearizable. Contrapositively: **if the prefix `H_T` is not linearizable,
//! neither is `H`**, and the check of the whole history after the run finds it invalid
//! (given the time and memory to finish: its verdict is the run's, and a check that hits its
//! limit says unknown, never valid; the run's notes then say what was found online). Failing
//! is also monotone in `T` (the same argument from `H_T'` to `H_T` for `T < T'`), so once a
//! round finds a key's prefix invalid, the module bisects between the last valid check and
//! that one, over the key's completions, for the first completion after which the key's
//! history is not linearizable: that completion is the violation's time and operation.
//!
//! A violation found online never disappears offline; the converse is not promised: the
//! offline check may find one the rounds had not reached yet, or one on a key whose online
//! check hit its limit.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use checkers::history::{Event, EventType, Process};
use checkers::parse::{self, Format, History};
use checkers::{check_history, Limits, Verdict};
use tokio::sync::watch;

use super::live::Live;
use crate::report::results::{FirstViolation, OnlineStats, ViolationOp};

/// The least time between two rounds: how late a violation may be found at best.
const MIN_GAP: Duration = Duration::from_millis(250);
/// A round taking `c` is followed by at least `(DUTY - 1) * c` of rest: at most 1/DUTY of one
/// core, on average.
const DUTY: u32 = 50;
/// One online check's time limit (the campaign's, if lower); past it the key is left to the
/// check after the run.
const CHECK_TIME_LIMIT: Duration = Duration::from_secs(10);
/// Time for shrinking the counterexample of the violation found.
const SHRINK_TIME: Duration = Duration::from_secs(2);
/// The copy of the history kept for online checking; past it, online checking stops.
const MAX_BYTES: usize = 512 << 20;
/// Batches taken from the channel before the thread looks at its clock again.
const DRAIN: usize = 64;
/// Lines the writer gathers before it sends them (it also sends what it has at each flush of
/// the history, every 100 ms).
const BATCH: usize = 1024;

/// Written events of client operations on keys, as the writer sends them: their lines one
/// after the other, and where each ends. One message and no allocation per line.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    lines: Vec<LineAt>,
}

/// One line of a batch.
struct LineAt {
    key: String,
    /// The event's index in `history.jsonl`.
    index: u64,
    completes: bool,
    /// End of the line in the batch's bytes.
    end: usize,
}

/// The writer thread's end of the channel; it gathers lines into batches.
pub struct Feed {
    tx: mpsc::Sender<Batch>,
    active: Arc<AtomicBool>,
    batch: Batch,
}

impl Clone for Feed {
    /// Another end of the same channel, with a batch of its own.
    fn clone(&self) -> Feed {
        Feed {
            tx: self.tx.clone(),
            active: self.active.clone(),
            batch: Batch::default(),
        }
    }
}

impl Feed {
    /// Hands the online checker an event the writer wrote as `line` (its index set). Events of
    /// the nemesis and without a key are not checked online. Lines go in batches: call
    /// [`Feed::flush`] regularly (dropping the feed flushes too).
    pub fn send(&mut self, event: Event, line: &[u8]) {
        if !self.active.load(Ordering::Relaxed) {
            self.batch = Batch::default();
            return;
        }
        let (Process::Client(_), Some(key)) = (&event.process, event.key) else {
            return;
        };
        self.batch.bytes.extend_from_slice(line);
        self.batch.lines.push(LineAt {
            key,
            index: event.index,
            completes: event.kind != EventType::Invoke,
            end: self.batch.bytes.len(),
        });
        if self.batch.lines.len() >= BATCH {
            self.flush();
        }
    }

    /// Sends the lines gathered so far.
    pub fn flush(&mut self) {
        if self.batch.lines.is_empty() {
            return;
        }
        // The checker thread stops receiving once it has found a violation or gave up.
        let _ = self.tx.send(std::mem::take(&mut self.batch));
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.flush();
    }
}

/// The online checker of one run: a thread, its channel, and what it found.
pub struct Online {
    feed: Feed,
    handle: JoinHandle<OnlineStats>,
    found: Arc<Mutex<Option<FirstViolation>>>,
    violation: watch::Receiver<bool>,
    checked: Arc<std::sync::atomic::AtomicU64>,
}

/// What the checker thread shares.
struct Shared {
    start: Instant,
    limits: Limits,
    live: Arc<Live>,
    found: Arc<Mutex<Option<FirstViolation>>>,
    violation: watch::Sender<bool>,
    active: Arc<AtomicBool>,
    /// Completed operations the last round had checked, over all keys.
    checked: Arc<std::sync::atomic::AtomicU64>,
}

impl Online {
    /// Starts the checker thread. Times count from `start` (the recorder's); checks use at
    /// most `memory_mb` of memo and `time_limit` (at most [`CHECK_TIME_LIMIT`]) each.
    pub fn start(
        start: Instant,
        time_limit: Duration,
        memory_mb: u64,
        live: Arc<Live>,
    ) -> anyhow::Result<Online> {
        let (tx, rx) = mpsc::channel();
        let active = Arc::new(AtomicBool::new(true));
        let found = Arc::new(Mutex::new(None));
        let (violation_tx, violation) = watch::channel(false);
        let checked = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let shared = Shared {
            start,
            limits: Limits {
                time_limit: Some(time_limit.min(CHECK_TIME_LIMIT)),
                memory_limit: Some(
                    usize::try_from(memory_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
                ),
                threads: 1,
                shrink_time: Duration::ZERO,
            },
            live,
            found: found.clone(),
            violation: violation_tx,
            active: active.clone(),
            checked: checked.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("online-checker".into())
            .spawn(move || check_loop(rx, shared))
            .context("starting the online checker thread")?;
        Ok(Online {
            feed: Feed {
                tx,
                active,
                batch: Batch::default(),
            },
            handle,
            found,
            violation,
            checked,
        })
    }

    /// Completed operations checked so far (by the last round), over all keys.
    pub fn checked(&self) -> u64 {
        self.checked.load(Ordering::Relaxed)
    }

    /// The writer's end of the channel.
    pub fn feed(&self) -> Feed {
        self.feed.clone()
    }

    /// Turns true once a violation is found.
    pub fn violation(&self) -> watch::Receiver<bool> {
        self.violation.clone()
    }

    /// Waits for the thread, which ends once every feed is gone (the writer finished), and
    /// returns what it found. `stopped_run`: whether the violation ended the run. A round in
    /// progress checks no further key (the one being checked finishes, within its limit): the
    /// check after the run checks them all.
    pub fn finish(self, stopped_run: bool) -> (Option<FirstViolation>, OnlineStats) {
        self.feed.active.store(false, Ordering::Relaxed);
        drop(self.feed);
        let stats = self.handle.join().unwrap_or_else(|_| OnlineStats {
            notes: vec!["the online checker panicked; the check after the run decides".into()],
            ..OnlineStats::default()
        });
        let found = self
            .found
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .map(|mut v| {
                v.stopped_run = stopped_run;
                v
            });
        (found, stats)
    }
}

/// One key's lines, in the order written.
#[derive(Default)]
struct KeyLines {
    bytes: Vec<u8>,
    /// End of each line in `bytes`.
    ends: Vec<usize>,
    /// Each line's index in `history.jsonl`.
    index: Vec<u64>,
    /// Lines (counts) that end with a completion.
    completions: Vec<usize>,
    /// Lines the last check found linearizable.
    valid_upto: usize,
    /// Lines at the last check.
    checked: usize,
    /// Left to the check after the run.
    given_up: bool,
}

impl KeyLines {
    fn push(&mut self, index: u64, completes: bool, line: &[u8]) {
        self.bytes.extend_from_slice(line);
        self.ends.push(self.bytes.len());
        self.index.push(index);
        if completes {
            self.completions.push(self.ends.len());
        }
    }

    /// The key's first `lines` events, parsed as the check after the run parses the file.
    fn parse(&self, lines: usize) -> checkers::Result<History> {
        let end = if lines == 0 { 0 } else { self.ends[lines - 1] };
        parse::parse(&self.bytes[..end], Format::Faultline)
    }

    fn completed(&self) -> usize {
        self.completions.len()
    }

    /// Completed operations in the prefix last checked.
    fn checked_ops(&self) -> u64 {
        self.completions.partition_point(|&c| c <= self.checked) as u64
    }
}

fn check_loop(rx: mpsc::Receiver<Batch>, shared: Shared) -> OnlineStats {
    let mut keys: BTreeMap<String, KeyLines> = BTreeMap::new();
    let mut stats = OnlineStats::default();
    let mut bytes = 0usize;
    let mut next_round = Instant::now() + MIN_GAP;
    let mut busy = Duration::ZERO;
    loop {
        let wait = next_round.saturating_duration_since(Instant::now());
        let first = match rx.recv_timeout(wait) {
            Ok(batch) => Some(batch),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        for batch in first.into_iter().chain(rx.try_iter().take(DRAIN)) {
            bytes += batch.bytes.len();
            let mut start = 0;
            for line in &batch.lines {
                let text = &batch.bytes[start..line.end];
                start = line.end;
                match keys.get_mut(&line.key) {
                    Some(k) => k.push(line.index, line.completes, text),
                    None => keys.entry(line.key.clone()).or_default().push(
                        line.index,
                        line.completes,
                        text,
                    ),
                }
            }
        }
        if bytes > MAX_BYTES {
            stats.notes.push(format!(
                "online checking stopped at {:.1}s: its copy of the history reached {} MB",
                shared.start.elapsed().as_secs_f64(),
                MAX_BYTES >> 20
            ));
            break;
        }
        if Instant::now() < next_round {
            continue;
        }
        let round = Instant::now();
        stats.rounds += 1;
        // The run is closing, or a violation was found: nothing more to check.
        let mut closing = false;
        for (key, lines) in keys.iter_mut() {
            if !shared.active.load(Ordering::Relaxed) {
                // The run is closing: the check after the run takes over.
                closing = true;
                break;
            }
            if lines.given_up || lines.checked == lines.ends.len() {
                continue;
            }
            stats.checks += 1;
            let upto = lines.ends.len();
            match check(lines, upto, &shared.limits) {
                Ok(Verdict::Valid) => {
                    lines.valid_upto = upto;
                    lines.checked = upto;
                }
                Ok(Verdict::Invalid(_)) => {
                    let v = pin_down(key, lines, upto, &shared);
                    lines.checked = upto;
                    announce(&shared, v);
                    closing = true;
                    break;
                }
                Ok(Verdict::Unknown(why)) => {
                    lines.given_up = true;
                    stats.notes.push(format!(
                        "key {key}: left to the check after the run at {:.1}s ({} operations): {why}",
                        shared.start.elapsed().as_secs_f64(),
                        lines.completed()
                    ));
                }
                Err(e) => {
                    lines.given_up = true;
                    stats
                        .notes
                        .push(format!("key {key}: left to the check after the run: {e}"));
                }
            }
        }
        stats.ops_checked = keys.values().map(KeyLines::checked_ops).sum();
        shared.checked.store(stats.ops_checked, Ordering::Relaxed);
        let took = round.elapsed();
        busy += took;
        if closing {
            break;
        }
        next_round = Instant::now() + MIN_GAP.max(took * (DUTY - 1));
    }
    // Nothing more is checked: the writer stops copying lines.
    shared.active.store(false, Ordering::Relaxed);
    stats.busy_ms = busy.as_millis() as u64;
    stats.cpu_ms = thread_cpu().map(|d| d.as_millis() as u64);
    stats
}

/// The CPU time the calling thread has used (receiving, keeping and checking, for this one).
fn thread_cpu() -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// The verdict on the key's first `lines` events.
fn check(lines: &KeyLines, upto: usize, limits: &Limits) -> checkers::Result<Verdict> {
    let h = lines.parse(upto)?;
    Ok(check_history(&h, None, None, limits)?.verdict)
}

/// The key's history up to `upto` lines is not linearizable: finds the first completion after
/// which it is not (failing is monotone in the cut, see the module's doc), and the
/// counterexample there.
fn pin_down(key: &str, lines: &KeyLines, upto: usize, shared: &Shared) -> FirstViolation {
    // Cuts at each completion after the last valid check; the last one at or before `upto`
    // fails (invocations after it add only optional operations, which cannot make it fail).
    let cuts: Vec<usize> = lines
        .completions
        .iter()
        .copied()
        .filter(|&c| c > lines.valid_upto && c <= upto)
        .collect();
    let (mut lo, mut hi) = (0usize, cuts.len().saturating_sub(1));
    while lo < hi {
        let mid = (lo + hi) / 2;
        // A probe that hits a limit is not a proof: look later.
        if matches!(
            check(lines, cuts[mid], &shared.limits),
            Ok(Verdict::Invalid(_))
        ) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let cut = cuts.get(hi).copied().unwrap_or(upto);
    let limits = Limits {
        shrink_time: SHRINK_TIME,
        ..shared.limits.clone()
    };
    let parsed = lines.parse(cut);
    let cx = parsed
        .as_ref()
        .ok()
        .and_then(|h| check_history(h, None, None, &limits).ok())
        .and_then(|r| match r.verdict {
            Verdict::Invalid(cx) => Some(cx),
            _ => None,
        });
    let events = parsed.map(|h| h.to_events()).unwrap_or_default();
    let global = |i: Option<u64>| i.and_then(|i| lines.index.get(i as usize).copied());
    let secs = |ns: u64| ns as f64 / 1e9;
    let op = match events.last() {
        Some(done) => {
            let process = match done.process {
                Process::Client(p) => Some(p as i64),
                Process::Nemesis(_) => None,
            };
            let invoked = events[..events.len() - 1]
                .iter()
                .rposition(|e| e.process == done.process && e.kind == EventType::Invoke);
            ViolationOp {
                process,
                op: describe(&done.f, &done.value),
                outcome: match done.kind {
                    EventType::Ok => "ok",
                    EventType::Fail => "fail",
                    EventType::Info => "info",
                    EventType::Invoke => "pending",
                }
                .into(),
                invoke_index: global(invoked.map(|i| i as u64)),
                complete_index: global(Some(cut as u64 - 1)),
                invoke_s: invoked.map(|i| secs(events[i].time)),
                complete_s: Some(secs(done.time)),
            }
        }
        None => ViolationOp {
            process: None,
            op: String::new(),
            outcome: String::new(),
            invoke_index: None,
            complete_index: None,
            invoke_s: None,
            complete_s: None,
        },
    };
    let (core, explanation) = match cx {
        Some(cx) => (
            cx.ops
                .iter()
                .map(|o| ViolationOp {
                    process: o.process,
                    op: o.op.clone(),
                    outcome: o.outcome.clone(),
                    invoke_index: global(o.invoke_index),
                    complete_index: global(o.complete_index),
                    invoke_s: o.invoke_time.map(secs),
                    complete_s: o.complete_time.map(secs),
                })
                .collect(),
            cx.explanation.clone(),
        ),
        None => (Vec::new(), "not linearizable".into()),
    };
    FirstViolation {
        checker: "linearizability".into(),
        key: key.to_string(),
        at_s: op.complete_s.unwrap_or_default(),
        found_s: shared.start.elapsed().as_secs_f64(),
        op,
        core,
        explanation,
        stopped_run: false,
    }
}

/// `read 3`, `write 5`, `cas 1->2`, as the checker's counterexamples say it.
fn describe(f: &str, value: &serde_json::Value) -> String {
    let show = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "nil".to_string(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match (f, value.as_array().map(Vec::as_slice)) {
        ("cas", Some([from, to])) => format!("cas {}->{}", show(from), show(to)),
        _ => format!("{f} {}", show(value)),
    }
}

/// Makes the violation known: to the run (which may stop), the progress line and the log.
fn announce(shared: &Shared, v: FirstViolation) {
    let who =
        v.op.process
            .map(|p| format!(" by p{p}"))
            .unwrap_or_default();
    let line = format!(
        "VIOLATION on key {} at {:.1}s: {}{who}",
        v.key, v.at_s, v.op.op
    );
    tracing::warn!(
        target: "faultline::runner",
        "online check: key {} is not linearizable from {:.3}s on ({}{who}, found at {:.3}s): {}",
        v.key,
        v.at_s,
        v.op.op,
        v.found_s,
        v.explanation
    );
    shared.live.set_violation(line);
    *shared.found.lock().unwrap_or_else(|p| p.into_inner()) = Some(v);
    shared.violation.send_replace(true);
}

#[cfg(test)]
mod tests {
    use super::*;
    use checkers::gen::{generate, GenConfig};

    fn shared(live: Arc<Live>) -> Shared {
        let (violation, _) = watch::channel(false);
        Shared {
            start: Instant::now(),
            limits: Limits {
                time_limit: Some(Duration::from_secs(10)),
                threads: 1,
                shrink_time: Duration::ZERO,
                ..Limits::default()
            },
            live,
            found: Arc::new(Mutex::new(None)),
            violation,
            active: Arc::new(AtomicBool::new(true)),
            checked: Arc::default(),
        }
    }

    /// Each key's lines of a generated history, as the writer hands them over.
    fn lines_by_key(events: &[Event]) -> BTreeMap<String, KeyLines> {
        let mut keys: BTreeMap<String, KeyLines> = BTreeMap::new();
        for e in events {
            let (Process::Client(_), Some(key)) = (&e.process, &e.key) else {
                continue;
            };
            let mut bytes = serde_json::to_vec(e).unwrap();
            bytes.push(b'\n');
            keys.entry(key.clone())
                .or_default()
                .push(e.index, e.kind != EventType::Invoke, &bytes);
        }
        keys
    }

    fn verdict(lines: &KeyLines, upto: usize) -> Validity {
        check(lines, upto, &shared(Arc::default()).limits)
            .unwrap()
            .validity()
    }

    use checkers::Validity;

    /// The soundness the module's doc proves, against the real checker on generated histories
    /// with crashed, failed and concurrent operations, repeated and unique values, valid and
    /// with stale reads: at every cut (each completion, operations still running pending), a
    /// key's prefix that is not linearizable stays so at every later cut and in the whole
    /// history; and `pin_down` names the first completion after which it is not.
    #[test]
    fn a_prefix_that_is_not_linearizable_makes_every_longer_one_and_the_whole_history_so() {
        let mut invalid_keys = 0;
        for seed in 1..=24u64 {
            let events = generate(&GenConfig {
                seed,
                procs: 2 + (seed % 5) as usize,
                ops: 160,
                keys: 2,
                crash_rate: 0.05,
                fail_rate: 0.05,
                values: if seed % 2 == 0 { None } else { Some(3) },
                stale_rate: if seed % 3 == 0 { 0.0 } else { 0.03 },
                cas: seed % 4 != 1,
            });
            for (key, lines) in lines_by_key(&events) {
                let whole = verdict(&lines, lines.ends.len());
                let cuts: Vec<Validity> = lines
                    .completions
                    .iter()
                    .map(|&c| verdict(&lines, c))
                    .collect();
                let first = cuts.iter().position(|v| *v == Validity::Invalid);
                if let Some(first) = first {
                    invalid_keys += 1;
                    assert!(
                        cuts[first..].iter().all(|v| *v == Validity::Invalid),
                        "seed {seed} key {key}: a later prefix is linearizable again: {cuts:?}"
                    );
                    assert_eq!(whole, Validity::Invalid, "seed {seed} key {key}");
                    let s = shared(Arc::default());
                    let v = pin_down(&key, &lines, lines.ends.len(), &s);
                    let at = lines.completions[first];
                    assert_eq!(
                        v.op.complete_index,
                        Some(lines.index[at - 1]),
                        "seed {seed} key {key}"
                    );
                } else {
                    assert_ne!(whole, Validity::Invalid, "seed {seed} key {key}: {cuts:?}");
                }
                if seed % 3 == 0 {
                    assert_eq!(
                        whole,
                        Validity::Valid,
                        "seed {seed} key {key}: no stale read"
                    );
                }
            }
        }
        assert!(
            invalid_keys >= 10,
            "too few violations to test: {invalid_keys}"
        );
    }

    /// The thread, fed as the writer feeds it, finds a planted stale read (reporting it to the
    /// run, the progress line and `finish`) and finds nothing in a linearizable history.
    #[test]
    fn the_thread_finds_a_planted_violation_and_nothing_in_a_valid_history() {
        for (stale, expected) in [(0.02, true), (0.0, false)] {
            let events = generate(&GenConfig {
                seed: 5,
                procs: 5,
                ops: 2000,
                keys: 3,
                values: None,
                stale_rate: stale,
                ..GenConfig::default()
            });
            let live = Arc::new(Live::default());
            let online =
                Online::start(Instant::now(), Duration::from_secs(10), 512, live.clone()).unwrap();
            let mut feed = online.feed();
            let mut found = online.violation();
            for e in &events {
                let mut line = serde_json::to_vec(e).unwrap();
                line.push(b'\n');
                feed.send(e.clone(), &line);
            }
            feed.flush();
            // Found before the feed closes, while the run goes; or every operation checked.
            let completed = events
                .iter()
                .filter(|e| e.kind != EventType::Invoke && e.key.is_some())
                .count() as u64;
            let deadline = Instant::now() + Duration::from_secs(20);
            while !*found.borrow_and_update() && online.checked() < completed {
                assert!(Instant::now() < deadline, "not checked within 20 s");
                std::thread::sleep(Duration::from_millis(10));
            }
            drop(feed);
            let (v, stats) = online.finish(false);
            assert_eq!(v.is_some(), expected, "{v:?} {stats:?}");
            assert_eq!(live.violation().is_some(), expected);
            if let Some(v) = v {
                let at = v.op.complete_index.unwrap() as usize;
                assert_eq!(events[at].key.as_deref(), Some(v.key.as_str()));
                assert_eq!(events[at].f, "read");
                assert!(!v.core.is_empty() && !v.explanation.is_empty(), "{v:?}");
            } else {
                assert!(
                    stats.checks > 0 && stats.ops_checked == completed,
                    "{stats:?}"
                );
            }
        }
    }
}
