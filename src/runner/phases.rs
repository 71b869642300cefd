//! The phases of a run: setup (leader elected) → run (clients + nemesis) → final heal (always)
//! → quiet period and final reads → collect logs → teardown → check. The final heal runs after
//! success, error, panic of a run task, and Ctrl-C alike: the run phase is a set of spawned tasks
//! whose end (however it comes) is awaited before healing.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use checkers::history::EventType;
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::check;
use super::client::Client;
use super::clients::Workers;
use super::faults::{Nemesis, NEMESIS};
use super::history_file;
use super::live::Live;
use super::plan::Plan;
use super::progress::Progress;
use super::recorder::{Recorder, Written};
use super::results::{self, FaultRecord, PhaseTiming, Results, Stats, Validity};
use super::target::TestTarget;

/// How long a fresh cluster may take to elect a leader, and the healed one to settle.
const LEADER_DEADLINE: Duration = Duration::from_secs(60);
/// How long the final reads may keep retrying.
const FINAL_READS_DEADLINE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct Options {
    pub keep_cluster: bool,
    pub progress: bool,
    /// Keep no history (the recording-cost benchmark's baseline); nothing is checked.
    pub no_history: bool,
    /// How long a fresh cluster may take to elect a leader, and the healed one to settle.
    pub leader_deadline: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            keep_cluster: false,
            progress: true,
            no_history: false,
            leader_deadline: LEADER_DEADLINE,
        }
    }
}

/// What a run produced. `harness_errors` are failures of the harness itself (setup, heal,
/// teardown): the CLI exits 255 on them after the results are written.
pub struct Outcome {
    pub results: Results,
    pub harness_errors: Vec<String>,
}

struct Timer {
    phases: Vec<PhaseTiming>,
}

impl Timer {
    fn done(&mut self, phase: &str, since: Instant, error: Option<String>) {
        self.phases.push(PhaseTiming {
            phase: phase.into(),
            ms: since.elapsed().as_millis() as u64,
            error,
        });
    }
}

/// Runs the plan against a target that is up (containers or processes started). `dir` exists.
pub async fn execute<T: TestTarget, C: Client>(
    plan: &Plan,
    target: T,
    client: C,
    dir: &Path,
    options: &Options,
    mut interrupted: watch::Receiver<bool>,
) -> anyhow::Result<Outcome> {
    let target = Arc::new(target);
    let names: Vec<String> = target.nodes().into_iter().map(|(n, _)| n).collect();
    let mut timer = Timer { phases: Vec::new() };
    let mut harness_errors = Vec::new();
    let mut notes = Vec::new();

    // Setup: the cluster must have a leader before anything is recorded.
    let t = Instant::now();
    let setup = tokio::select! {
        r = wait_for_leader(&*target, options.leader_deadline) => r,
        _ = interrupted.wait_for(|i| *i) => Err(anyhow::anyhow!("interrupted during setup")),
    };
    timer.done("setup", t, setup.as_ref().err().map(|e| format!("{e:#}")));
    if let Err(e) = setup {
        if !options.keep_cluster {
            if let Err(te) = target.teardown().await {
                tracing::error!(target: "faultline::runner", error = %format!("{te:#}"), "teardown after failed setup");
            }
        }
        return Err(e.context(format!("setting up {}", target.describe())));
    }

    // Run.
    let start = Instant::now();
    let (recorder, writer) = if options.no_history {
        (Recorder::discard(start), None)
    } else {
        match Recorder::to_file(&dir.join("history.jsonl"), start) {
            Ok((r, w)) => (r, Some(w)),
            Err(e) => {
                if !options.keep_cluster {
                    if let Err(te) = target.teardown().await {
                        tracing::error!(target: "faultline::runner", error = %format!("{te:#}"), "teardown");
                    }
                }
                return Err(e);
            }
        }
    };
    let live = Arc::new(Live::default());
    let progress = Progress::start(live.clone(), start, options.progress);
    let workers = Workers {
        client: client.clone(),
        recorder: recorder.clone(),
        live: live.clone(),
        workload: Arc::new(workloads::Workload::new(plan.workload.clone(), plan.seed)),
        nodes: Arc::new(target.nodes().into_iter().map(|(_, a)| a).collect()),
        concurrency: plan.concurrency,
        rate: plan.rate,
        ops_limit: plan.ops,
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let nemesis = Nemesis {
        target: target.clone(),
        client: client.clone(),
        recorder: recorder.clone(),
        live: live.clone(),
    };
    let schedule = plan.schedule.clone();
    let nemesis_stop = stop_rx.clone();
    let nemesis_task = tokio::spawn(async move { nemesis.run(&schedule, nemesis_stop).await });
    let mut clients = JoinSet::new();
    for w in 0..plan.concurrency {
        clients.spawn(workers.clone().run(w, stop_rx.clone()));
    }
    let t = Instant::now();
    let mut last_process = 0;
    let mut run_error = None;
    let deadline = tokio::time::Instant::from_std(start + plan.duration);
    let mut was_interrupted = false;
    loop {
        tokio::select! {
            joined = clients.join_next() => match joined {
                None => break,
                Some(Ok(p)) => last_process = last_process.max(p),
                Some(Err(e)) => {
                    run_error.get_or_insert_with(|| format!("a client task failed: {e}"));
                    let _ = stop_tx.send(true);
                }
            },
            _ = tokio::time::sleep_until(deadline), if !*stop_tx.borrow() => { let _ = stop_tx.send(true); }
            _ = interrupted.wait_for(|i| *i), if !was_interrupted => {
                was_interrupted = true;
                tracing::warn!(target: "faultline::runner", "interrupted: stopping clients, then healing the cluster");
                let _ = stop_tx.send(true);
            }
        }
    }
    // Clients are done (op limit, duration, error or interrupt): the nemesis stops too.
    let _ = stop_tx.send(true);
    let mut faults: Vec<FaultRecord> = match nemesis_task.await {
        Ok(records) => records,
        Err(e) => {
            run_error.get_or_insert_with(|| format!("the nemesis task failed: {e}"));
            Vec::new()
        }
    };
    let run_ms = t.elapsed().as_millis() as u64;
    timer.done("run", t, run_error.clone());
    if let Some(e) = run_error {
        harness_errors.push(e);
    }

    // Final heal, whatever happened above.
    let t = Instant::now();
    recorder.record(
        NEMESIS,
        EventType::Info,
        "heal-all",
        None,
        json!({"phase": "start", "targets": names}),
        None,
    );
    let heal = nemesis::heal_all(&*target, &names).await;
    let heal_error = heal.as_ref().err().map(|e| e.to_string());
    recorder.record(
        NEMESIS,
        EventType::Info,
        "heal-all",
        None,
        json!({"phase": "end", "targets": names}),
        heal_error.clone(),
    );
    let healed_at = recorder.now();
    for f in faults
        .iter_mut()
        .filter(|f| f.start_ns.is_some() && f.end_ns.is_none())
    {
        f.end_ns = Some(healed_at);
    }
    live.clear_active();
    timer.done("heal", t, heal_error.clone());
    if let Some(e) = heal_error {
        harness_errors.push(e);
    }

    // Quiet period and final reads, unless interrupted.
    if !was_interrupted && !*interrupted.borrow() {
        let t = Instant::now();
        let settled = tokio::select! {
            r = async {
                wait_for_leader(&*target, options.leader_deadline).await?;
                tokio::time::sleep(plan.quiet).await;
                Ok::<_, anyhow::Error>(())
            } => r,
            _ = interrupted.wait_for(|i| *i) => Err(anyhow::anyhow!("interrupted")),
        };
        let mut error = settled.as_ref().err().map(|e| format!("{e:#}"));
        if settled.is_ok() {
            let deadline = tokio::time::Instant::now() + FINAL_READS_DEADLINE;
            tokio::select! {
                (_, missing) = workers.final_reads(last_process + 1, deadline) => {
                    if !missing.is_empty() {
                        error = Some(format!(
                            "final reads that never succeeded: {}",
                            missing.join("; ")
                        ));
                    }
                }
                _ = interrupted.wait_for(|i| *i) => {
                    error = Some("interrupted during the final reads".into());
                }
            }
        }
        if let Some(e) = &error {
            notes.push(format!("quiet period and final reads: {e}"));
        }
        timer.done("final-reads", t, error);
    }
    was_interrupted |= *interrupted.borrow();
    progress.finish();
    recorder.close();
    drop(workers);
    // A failed history write is reported after the cluster is gone, never instead of removing it.
    let written = match writer.map(|w| w.finish()).transpose() {
        Ok(w) => w.unwrap_or_default(),
        Err(e) => {
            harness_errors.push(format!("{e:#}"));
            Written::default()
        }
    };

    // Logs, teardown.
    let t = Instant::now();
    let logs = target.collect_logs(&dir.join("logs")).await;
    timer.done(
        "collect-logs",
        t,
        logs.as_ref().err().map(|e| format!("{e:#}")),
    );
    if let Err(e) = logs {
        notes.push(format!("node logs not collected: {e:#}"));
    }
    if !options.keep_cluster {
        let t = Instant::now();
        let down = target.teardown().await;
        timer.done("teardown", t, down.as_ref().err().map(|e| format!("{e:#}")));
        if let Err(e) = down {
            harness_errors.push(format!("teardown of {}: {e:#}", target.describe()));
        }
    }

    // Check what was written, as `faultline check` would read it.
    let t = Instant::now();
    let checkers = if options.no_history {
        Vec::new()
    } else {
        match history_file::read(&dir.join("history.jsonl")) {
            Ok((events, warning)) => {
                notes.extend(warning);
                let limits = check::Limits {
                    time: plan.checker_time_limit,
                    memory_mb: plan.checker_memory_mb,
                };
                check::check_within(plan.workload.clone(), events, limits).await
            }
            Err(e) => {
                harness_errors.push(format!("{e:#}"));
                Vec::new()
            }
        }
    };
    timer.done("check", t, None);

    let coverage = results::coverage(&plan.fault_kinds, &faults);
    let (coverage_notes, undermined) = results::coverage_notes(&coverage);
    notes.extend(coverage_notes);
    let mut valid = check::combine(&checkers);
    if undermined {
        valid = valid.worst(Validity::Unknown);
    }
    if was_interrupted {
        notes.push("interrupted by Ctrl-C: the history is partial".into());
        valid = valid.worst(Validity::Unknown);
    }
    let ops = Live::get(&live.ok) + Live::get(&live.fail) + Live::get(&live.info);
    let stats = Stats {
        ops,
        ok: Live::get(&live.ok),
        fail: Live::get(&live.fail),
        info: Live::get(&live.info),
        processes: Live::get(&live.processes),
        run_ms,
        ops_per_sec: ops as f64 / (run_ms.max(1) as f64 / 1000.0),
        history_events: written.events,
        history_bytes: written.bytes,
    };
    let results = Results {
        campaign: plan.name.clone(),
        seed: plan.seed,
        run: dir
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        target: target.describe(),
        valid,
        notes,
        interrupted: was_interrupted,
        checkers,
        stats,
        faults,
        coverage,
        phases: timer.phases,
    };
    if !options.no_history {
        results.write(dir)?;
    }
    Ok(Outcome {
        results,
        harness_errors,
    })
}

/// Polls the target until it reports a leader.
pub async fn wait_for_leader<T: TestTarget>(
    target: &T,
    within: Duration,
) -> anyhow::Result<String> {
    let deadline = Instant::now() + within;
    let mut last_error = None;
    loop {
        match target.leader().await {
            Ok(Some(l)) => return Ok(l),
            Ok(None) => {}
            Err(e) => last_error = Some(format!("{e:#}")),
        }
        if Instant::now() >= deadline {
            anyhow::bail!(
                "no leader elected within {}s{}",
                within.as_secs(),
                last_error
                    .map(|e| format!(" (last error: {e})"))
                    .unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Creates `<out>/<campaign>/<UTC timestamp>/` (with a suffix if two runs share a second).
pub fn results_dir(out: &Path, campaign: &str) -> anyhow::Result<PathBuf> {
    let base = out.join(campaign);
    std::fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
    let stamp = utc_stamp(std::time::SystemTime::now());
    for n in 0..100 {
        let dir = if n == 0 {
            base.join(&stamp)
        } else {
            base.join(format!("{stamp}-{n}"))
        };
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
        }
    }
    anyhow::bail!("{} holds 100 runs from this second already", base.display())
}

/// `20261123T054900Z`, from the Unix clock (days to civil date after Howard Hinnant).
pub fn utc_stamp(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        let t = std::time::UNIX_EPOCH + Duration::from_secs(1_795_412_345);
        assert_eq!(utc_stamp(t), "20261123T053905Z");
        assert_eq!(utc_stamp(std::time::UNIX_EPOCH), "19700101T000000Z");
        let leap = std::time::UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(utc_stamp(leap), "20000229T000000Z");
    }
}
