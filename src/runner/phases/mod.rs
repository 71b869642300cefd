//! The phases of a run, each a function: [`setup`](Run::setup) (a leader elected) →
//! [`run`](Run::run) (clients, nemesis and the crash watcher) → [`final_heal`](Run::final_heal)
//! → [`quiet_and_final_reads`](Run::quiet_and_final_reads) → [`recovery`](Run::recovery) → a
//! last crash sweep → [`close_history`](Run::close_history) →
//! [`collect_logs`](Run::collect_logs) → [`teardown`](Run::teardown) → [`check`](Run::check)
//! (and the crash checker over the logs) → `results` and `report` (in `verdict`). Heal and
//! teardown are owned by a [`guard::Cleanup`], so a run ends healed and torn down on success,
//! error and Ctrl-C alike.

mod guard;
mod run;
mod verdict;

use std::sync::Arc;
use std::time::{Duration, Instant};

use checkers::analysis::CheckerResult;
use checkers::history::EventType;
use checkers::parse::History;
use serde_json::json;
use tokio::sync::watch;

use super::check;
use super::coverage;
use super::crash;
use super::faults::NEMESIS;
use super::leader::wait_for_leader;
use super::live::Live;
use super::plan::Plan;
use super::recorder::Written as HistoryWritten;
use super::recovery;
use crate::cluster::client::Client;
use crate::cluster::target::TestTarget;
use crate::report::results::{FaultRecord, PhaseTiming, Results};
use crate::report::{RunDir, Written};
use guard::Cleanup;
use run::{OnlineOutcome, Recording};

/// How long a fresh cluster may take to elect a leader, and the healed one to settle.
const LEADER_DEADLINE: Duration = Duration::from_secs(60);
/// How long, once a leader is back, every node may take to answer and read back the write.
const RECOVERY_DEADLINE: Duration = Duration::from_secs(20);
/// How long the final reads may keep retrying.
const FINAL_READS_DEADLINE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct Options {
    pub keep_cluster: bool,
    pub progress: bool,
    /// Keep no history (the recording-cost benchmark's baseline); nothing is checked and no
    /// results are written.
    pub no_history: bool,
    /// How long a fresh cluster may take to elect a leader, and the healed one to settle.
    pub leader_deadline: Duration,
    /// How long the final reads may keep retrying.
    pub final_reads_deadline: Duration,
    /// How long, once a leader is back, every node may take to answer and read back the
    /// recovery check's write.
    pub recovery_deadline: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            keep_cluster: false,
            progress: true,
            no_history: false,
            leader_deadline: LEADER_DEADLINE,
            final_reads_deadline: FINAL_READS_DEADLINE,
            recovery_deadline: RECOVERY_DEADLINE,
        }
    }
}

/// What a run produced. `harness_errors` are failures of the harness itself (heal, teardown,
/// writing results): the CLI exits 255 on them after the results are written.
pub struct Outcome {
    pub results: Results,
    pub harness_errors: Vec<String>,
    /// The files the store wrote (none without a history, or when writing failed).
    pub written: Option<Written>,
}

/// One run in progress: what every phase reads and adds to.
struct Run<'a, T: TestTarget, C: Client> {
    plan: &'a Plan,
    target: Arc<T>,
    client: C,
    dir: &'a RunDir,
    options: &'a Options,
    interrupted: watch::Receiver<bool>,
    was_interrupted: bool,
    /// The online checker found a violation and the campaign asked to stop on one.
    stopped_on_violation: bool,
    names: Vec<String>,
    phases: Vec<PhaseTiming>,
    notes: Vec<String>,
    harness_errors: Vec<String>,
}

/// Runs the plan against a target that is up (containers or processes started), writing into
/// `dir`, which exists.
pub async fn execute<T: TestTarget, C: Client>(
    plan: &Plan,
    target: T,
    client: C,
    dir: &RunDir,
    options: &Options,
    interrupted: watch::Receiver<bool>,
) -> anyhow::Result<Outcome> {
    let target = Arc::new(target);
    let mut cleanup = Cleanup::new(target.clone(), options.keep_cluster);
    let mut run = Run {
        plan,
        names: target.nodes().into_iter().map(|(n, _)| n).collect(),
        target,
        client,
        dir,
        options,
        interrupted,
        was_interrupted: false,
        stopped_on_violation: false,
        phases: Vec::new(),
        notes: Vec::new(),
        harness_errors: Vec::new(),
    };
    if let Err(e) = run.setup().await {
        // The nodes' logs say why they never agreed on a leader: keep them, and quote them.
        run.collect_logs().await;
        if run.was_interrupted {
            // Interrupted before anything ran: no verdict (exit 2), the cluster removed.
            if let Err(te) = run.teardown(&mut cleanup).await {
                run.harness_errors.push(te);
            }
            let live = Live::default();
            let results = run.results(
                Vec::new(),
                Vec::new(),
                &live,
                0,
                HistoryWritten::default(),
                None,
            );
            return Ok(run.report(results, None));
        }
        let last = last_log_lines(&run.dir.logs());
        if let Err(te) = run.teardown(&mut cleanup).await {
            tracing::error!(target: "faultline::runner", "teardown after failed setup: {te}");
        }
        return Err(e.context(format!(
            "setting up {}{last}; the nodes' logs are in {}",
            run.target.describe(),
            run.dir.logs().display()
        )));
    }
    cleanup.arm_heal();
    let recording = match Recording::start(&run) {
        Ok(r) => r,
        Err(e) => {
            if let Err(te) = run.teardown(&mut cleanup).await {
                tracing::error!(target: "faultline::runner", "teardown: {te}");
            }
            return Err(e);
        }
    };
    let ran = run.run(&recording).await;
    let mut faults = ran.faults;
    let mut crashes = ran.crashes;
    run.final_heal(&mut cleanup, &recording, &mut faults, &crashes)
        .await;
    let no_leader = run
        .quiet_and_final_reads(&recording, ran.last_process)
        .await;
    let recovered = run.recovery(no_leader).await;
    // After the heal every node should run: one that does not has crashed since.
    if !run.is_interrupted() {
        let more = crash::sweep(&*run.target, &recording.live, &recording.recorder, &crashes).await;
        crashes.extend(more);
    }
    let (written, online) = run.close_history(recording);
    run.collect_logs().await;
    if let Err(e) = run.teardown(&mut cleanup).await {
        run.harness_errors.push(e);
    }
    let (mut checkers, history) = run.check().await;
    if run.plan.crash_check && !run.options.no_history {
        let hits = crash::scan_logs(&run.dir.logs(), &run.plan.crash_markers);
        checkers.push(crash::result(&crashes, &hits));
    }
    if let Some(outcome) = &recovered {
        checkers.push(recovery::result(outcome));
    }
    let results = run.results(checkers, faults, &ran.live, ran.run_ms, written, online);
    Ok(run.report(results, history))
}

impl<T: TestTarget, C: Client> Run<'_, T, C> {
    fn timed(&mut self, phase: &str, since: Instant, error: Option<String>) {
        self.phases.push(PhaseTiming {
            phase: phase.into(),
            ms: since.elapsed().as_millis() as u64,
            error,
        });
    }

    fn is_interrupted(&mut self) -> bool {
        self.was_interrupted |= *self.interrupted.borrow();
        self.was_interrupted
    }

    /// The cluster must have a leader before anything is recorded.
    async fn setup(&mut self) -> anyhow::Result<()> {
        let t = Instant::now();
        let deadline = self.options.leader_deadline;
        let mut interrupted = self.interrupted.clone();
        let setup = tokio::select! {
            r = wait_for_leader(&*self.target, deadline) => r.map(drop),
            _ = interrupted.wait_for(|i| *i) => {
                self.was_interrupted = true;
                Err(anyhow::anyhow!("interrupted during setup"))
            }
        };
        self.timed("setup", t, setup.as_ref().err().map(|e| format!("{e:#}")));
        setup
    }

    /// Heals everything, whatever happened in the run; windows still open end here.
    async fn final_heal(
        &mut self,
        cleanup: &mut Cleanup<T>,
        recording: &Recording<C>,
        faults: &mut [FaultRecord],
        crashed: &[crash::Crash],
    ) {
        let t = Instant::now();
        let recorder = &recording.recorder;
        let targets = json!({"phase": "start", "targets": self.names});
        recorder.record(NEMESIS, EventType::Info, "heal-all", None, targets, None);
        let healed = cleanup.heal(&self.names).await;
        let error = healed.err();
        let targets = json!({"phase": "end", "targets": self.names});
        recorder.record(
            NEMESIS,
            EventType::Info,
            "heal-all",
            None,
            targets,
            error.clone(),
        );
        let healed_at = recorder.now();
        for f in faults
            .iter_mut()
            .filter(|f| f.start_ns.is_some() && f.end_ns.is_none())
        {
            f.end_ns = Some(healed_at);
        }
        recording.live.clear_active();
        self.timed("heal", t, error.clone());
        let Some(error) = error else {
            // Every node was started again: from here on, any node that is down crashed.
            recording.live.brought_back(&self.names);
            return;
        };
        // A node that crashed by itself and does not stay up when started again is the system
        // failing (a crash loop, for the crash checker), not the harness.
        let mut down = Vec::new();
        for name in &self.names {
            if matches!(self.target.exited(name).await, Ok(Some(_))) {
                down.push(name.clone());
            }
        }
        let crash_loop =
            !down.is_empty() && down.iter().all(|n| crashed.iter().any(|c| &c.node == n));
        if crash_loop {
            // Those still down are known crashes; any other node that goes down is a new one.
            recording.live.brought_back(&self.names);
            self.notes.push(format!(
                "final heal: {error}; {} crashed by itself during the run and did not stay up \
                 when started again",
                down.join(", ")
            ));
        } else {
            self.harness_errors.push(error);
        }
    }

    /// The quiet period (a leader again, then `quiet` of calm) and the workload's final reads,
    /// unless the run was interrupted.
    /// Returns why no leader came back, when none did (the recovery check need not wait again).
    async fn quiet_and_final_reads(
        &mut self,
        recording: &Recording<C>,
        last_process: u64,
    ) -> Option<String> {
        if self.is_interrupted() {
            return None;
        }
        let t = Instant::now();
        let mut interrupted = self.interrupted.clone();
        let no_leader = std::sync::Mutex::new(None);
        let settle = async {
            if let Err(e) = wait_for_leader(&*self.target, self.options.leader_deadline).await {
                *no_leader.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!("{e:#}"));
                return Err(e);
            }
            tokio::time::sleep(self.plan.quiet).await;
            Ok::<_, anyhow::Error>(())
        };
        let reads = async {
            settle.await?;
            let deadline = tokio::time::Instant::now() + self.options.final_reads_deadline;
            let (_, missing) = recording
                .workers
                .final_reads(last_process + 1, deadline)
                .await;
            if missing.is_empty() {
                Ok(())
            } else {
                Err(anyhow::anyhow!(
                    "final reads that never succeeded: {}",
                    missing.join("; ")
                ))
            }
        };
        let error = tokio::select! {
            r = reads => r.err().map(|e| format!("{e:#}")),
            _ = interrupted.wait_for(|i| *i) => Some("interrupted during the final reads".into()),
        };
        if let Some(e) = &error {
            self.notes
                .push(format!("quiet period and final reads: {e}"));
        }
        self.timed("final-reads", t, error);
        no_leader.into_inner().unwrap_or_else(|p| p.into_inner())
    }

    /// The recovery check (see [`recovery`]), unless the run was interrupted or keeps no
    /// history.
    async fn recovery(&mut self, no_leader: Option<String>) -> Option<recovery::Outcome> {
        if self.is_interrupted() || self.options.no_history {
            return None;
        }
        if let Some(e) = no_leader {
            // The quiet period already waited the whole leader wait in vain.
            return Some(recovery::Outcome::NoLeader(e));
        }
        let t = Instant::now();
        let value = format!("recovered-{}-{}", self.plan.seed, self.dir.path().display());
        let mut interrupted = self.interrupted.clone();
        let outcome = tokio::select! {
            o = recovery::check(
                &*self.target,
                &self.client,
                self.options.leader_deadline,
                self.options.recovery_deadline,
                self.plan.system.reads_and_writes_registers(),
                value,
            ) => Some(o),
            _ = interrupted.wait_for(|i| *i) => None,
        };
        self.timed("recovery", t, None);
        outcome
    }

    /// Stops the progress line and the recorder, and waits for the history to be on disk and
    /// the online checker to end. A failed write is reported after the cluster is gone, never
    /// instead of removing it.
    fn close_history(&mut self, recording: Recording<C>) -> (HistoryWritten, OnlineOutcome) {
        self.is_interrupted();
        match recording.close(self.stopped_on_violation) {
            Ok(w) => w,
            Err(e) => {
                self.harness_errors.push(format!("{e:#}"));
                (HistoryWritten::default(), None)
            }
        }
    }

    async fn collect_logs(&mut self) {
        let t = Instant::now();
        let logs = self.target.collect_logs(&self.dir.logs()).await;
        let error = logs.err().map(|e| format!("{e:#}"));
        if let Some(e) = &error {
            self.notes.push(format!("node logs not collected: {e}"));
        }
        self.timed("collect-logs", t, error);
    }

    async fn teardown(&mut self, cleanup: &mut Cleanup<T>) -> Result<(), String> {
        let t = Instant::now();
        let down = cleanup.teardown().await;
        let error = down
            .as_ref()
            .err()
            .map(|e| format!("teardown of {}: {e:#}", self.target.describe()));
        if !matches!(down, Ok(false)) {
            self.timed("teardown", t, error.clone());
        }
        error.map_or(Ok(()), Err)
    }

    /// Reads the history once and runs the checkers the workload declares on it.
    async fn check(&mut self) -> (Vec<CheckerResult>, Option<History>) {
        if self.options.no_history {
            return (Vec::new(), None);
        }
        let t = Instant::now();
        let history = match check::read_history(&self.dir.history()) {
            Ok(h) => Arc::new(h),
            Err(e) => {
                self.harness_errors.push(format!("{e:#}"));
                self.timed("check", t, None);
                return (Vec::new(), None);
            }
        };
        self.notes.extend(history.warnings.iter().cloned());
        let limits = check::Limits {
            time: self.plan.checker_time_limit,
            memory_mb: self.plan.checker_memory_mb,
        };
        let checkers = self.plan.workload.checkers();
        let results = check::check_within(checkers, history.clone(), limits).await;
        self.timed("check", t, None);
        (results, Arc::into_inner(history))
    }
}

/// ` (last log lines: n1: ...; n2: ...)` from the logs collected in `dir`, or nothing.
fn last_log_lines(dir: &std::path::Path) -> String {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    let lines: Vec<String> = files
        .iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(p).ok()?;
            let line = text.lines().rev().find(|l| !l.trim().is_empty())?;
            let node = p.file_stem()?.to_string_lossy();
            Some(format!(
                "{node}: {}",
                line.trim().chars().take(300).collect::<String>()
            ))
        })
        .collect();
    if lines.is_empty() {
        String::new()
    } else {
        format!(" (last log lines: {})", lines.join("; "))
    }
}
