//! The run phase: client processes and the nemesis against the cluster, recorded, until the
//! campaign's duration or op limit, an error, or Ctrl-C.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;
use tokio::task::JoinSet;

use super::Run;
use crate::cluster::client::Client;
use crate::cluster::target::TestTarget;
use crate::report::results::FaultRecord;
use crate::runner::clients::Workers;
use crate::runner::crash::{self, Crash};
use crate::runner::faults::Nemesis;
use crate::runner::live::Live;
use crate::runner::online::Online;
use crate::runner::progress::Progress;
use crate::runner::recorder::{Recorder, Writer, Written};

/// What records the run: the history's writer, the live counters and the progress line, and the
/// client processes (whose final reads come after the heal).
pub(super) struct Recording<C> {
    pub recorder: Recorder,
    writer: Option<Writer>,
    pub live: Arc<Live>,
    progress: Progress,
    pub workers: Workers<C>,
    /// The online checker, for workloads checked per key for linearizability (unless the
    /// campaign turned it off).
    online: Option<Online>,
}

/// What the online checker found and did, once the recording is closed.
pub(super) type OnlineOutcome = Option<(
    Option<crate::report::results::FirstViolation>,
    crate::report::results::OnlineStats,
)>;

/// What the run phase gives the phases after it.
pub(super) struct Ran {
    pub faults: Vec<FaultRecord>,
    /// Nodes that exited by themselves during the run.
    pub crashes: Vec<Crash>,
    pub last_process: u64,
    pub run_ms: u64,
    pub live: Arc<Live>,
}

impl<C: Client> Recording<C> {
    pub fn start<T: TestTarget>(run: &Run<'_, T, C>) -> anyhow::Result<Recording<C>> {
        let start = Instant::now();
        let plan = run.plan;
        let live = Arc::new(Live::default());
        let online = if plan.online_check && !run.options.no_history {
            Some(Online::start(
                start,
                plan.checker_time_limit,
                plan.checker_memory_mb,
                live.clone(),
            )?)
        } else {
            None
        };
        let (recorder, writer) = if run.options.no_history {
            (Recorder::discard(start), None)
        } else {
            let feed = online.as_ref().map(Online::feed);
            let (r, w) = Recorder::to_file_feeding(&run.dir.history(), start, feed)?;
            (r, Some(w))
        };
        let workers = Workers {
            client: run.client.clone(),
            recorder: recorder.clone(),
            live: live.clone(),
            workload: Arc::new(workloads::Workload::new(plan.workload.clone(), plan.seed)),
            nodes: Arc::new(run.target.nodes().into_iter().map(|(_, a)| a).collect()),
            concurrency: plan.concurrency,
            rate: plan.rate,
            ops_limit: plan.ops,
        };
        Ok(Recording {
            progress: Progress::start(live.clone(), start, run.options.progress),
            recorder,
            writer,
            live,
            workers,
            online,
        })
    }

    /// Turns true once the online checker finds a violation; `None` without one.
    pub fn violation(&self) -> Option<watch::Receiver<bool>> {
        self.online.as_ref().map(Online::violation)
    }

    /// Ends the progress line and the recording; the history's size once it is on disk, and
    /// what the online checker found (`stopped_run`: whether its violation ended the run).
    pub fn close(self, stopped_run: bool) -> anyhow::Result<(Written, OnlineOutcome)> {
        self.progress.finish();
        self.recorder.close();
        drop(self.workers);
        let written = self.writer.map(Writer::finish).transpose();
        // The writer is done (or failed): the online checker's feed is gone, its thread ends.
        let online = self.online.map(|o| o.finish(stopped_run));
        Ok((written?.unwrap_or_default(), online))
    }
}

impl<T: TestTarget, C: Client> Run<'_, T, C> {
    /// Clients and nemesis until the duration, the op limit, a failed task or Ctrl-C.
    pub(super) async fn run(&mut self, recording: &Recording<C>) -> Ran {
        let t = Instant::now();
        let (stop_tx, stop_rx) = watch::channel(false);
        let nemesis = Nemesis {
            target: self.target.clone(),
            client: self.client.clone(),
            recorder: recording.recorder.clone(),
            live: recording.live.clone(),
        };
        let schedule = self.plan.schedule.clone();
        let nemesis_stop = stop_rx.clone();
        let nemesis_task = tokio::spawn(async move { nemesis.run(&schedule, nemesis_stop).await });
        let crash_watch = tokio::spawn(crash::watch(
            self.target.clone(),
            recording.live.clone(),
            recording.recorder.clone(),
            stop_rx.clone(),
        ));
        let mut clients = JoinSet::new();
        for w in 0..self.plan.concurrency {
            clients.spawn(recording.workers.clone().run(w, stop_rx.clone()));
        }
        let start = recording.recorder.start();
        let deadline = tokio::time::Instant::from_std(start + self.plan.duration);
        let mut last_process = 0;
        let mut error = None;
        let mut interrupted = self.interrupted.clone();
        // The online checker's violation ends the run when the campaign asks it to.
        let mut violation = recording
            .violation()
            .filter(|_| self.plan.stop_on_violation);
        let mut watching = violation.is_some();
        loop {
            tokio::select! {
                joined = clients.join_next() => match joined {
                    None => break,
                    Some(Ok(p)) => last_process = last_process.max(p),
                    Some(Err(e)) => {
                        error.get_or_insert_with(|| format!("a client task failed: {e}"));
                        stop_tx.send_replace(true);
                    }
                },
                _ = tokio::time::sleep_until(deadline), if !*stop_tx.borrow() => {
                    stop_tx.send_replace(true);
                }
                found = async { violation.as_mut().expect("watched").wait_for(|v| *v).await.is_ok() }, if watching => {
                    watching = false;
                    if found && !*stop_tx.borrow() {
                        self.stopped_on_violation = true;
                        tracing::warn!(target: "faultline::runner", "a violation was found online: stopping clients (checker.stop_on_violation), then healing the cluster");
                        stop_tx.send_replace(true);
                    }
                }
                _ = interrupted.wait_for(|i| *i), if !self.was_interrupted => {
                    self.was_interrupted = true;
                    tracing::warn!(target: "faultline::runner", "interrupted: stopping clients, then healing the cluster");
                    stop_tx.send_replace(true);
                }
            }
        }
        // Clients are done (op limit, duration, error or interrupt): the nemesis stops too.
        stop_tx.send_replace(true);
        let faults = nemesis_task.await.unwrap_or_else(|e| {
            error.get_or_insert_with(|| format!("the nemesis task failed: {e}"));
            Vec::new()
        });
        let crashes = crash_watch.await.unwrap_or_else(|e| {
            error.get_or_insert_with(|| format!("the crash watcher failed: {e}"));
            Vec::new()
        });
        let run_ms = t.elapsed().as_millis() as u64;
        self.timed("run", t, error.clone());
        self.harness_errors.extend(error);
        Ran {
            faults,
            crashes,
            last_process,
            run_ms,
            live: recording.live.clone(),
        }
    }
}
