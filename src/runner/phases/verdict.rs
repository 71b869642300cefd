//! The last two phases: the verdict (the checkers', made no better than unknown by faults
//! that did not take effect, missing coverage or an interruption) and the report (the results
//! store writes the run's files).

use checkers::analysis::CheckerResult;
use checkers::parse::History;

use super::run::OnlineOutcome;
use super::{coverage, Outcome, Run};
use crate::cluster::client::Client;
use crate::cluster::target::TestTarget;
use crate::exit::Validity;
use crate::report::results::{FaultRecord, FirstViolation, Results, Stats};
use crate::runner::live::Live;
use crate::runner::recorder::Written as HistoryWritten;

impl<T: TestTarget, C: Client> Run<'_, T, C> {
    /// The verdict: the checkers', made at best unknown when the faults did not take effect or
    /// the run was interrupted.
    pub(super) fn results(
        &mut self,
        checkers: Vec<CheckerResult>,
        faults: Vec<FaultRecord>,
        live: &Live,
        run_ms: u64,
        written: HistoryWritten,
        online: OnlineOutcome,
    ) -> Results {
        let (first_violation, online) = match online {
            Some((found, stats)) => (found, Some(stats)),
            None => (None, None),
        };
        if let Some(v) = &first_violation {
            self.notes.push(online_note(v, &checkers));
        }
        let coverage = coverage::coverage(&self.plan.fault_kinds, &faults);
        let modes = coverage::mode_coverage(&faults);
        let (coverage_notes, undermined) = coverage::coverage_notes(&coverage);
        self.notes.extend(coverage_notes);
        let mut valid = Validity::combine_checked(checkers.iter().map(|c| c.valid));
        if undermined {
            valid = valid.worst(Validity::Unknown);
        }
        // An interrupted run is unknown anyway, and one stopped on a violation invalid: their
        // missing coverage is no news.
        let missing_coverage = if self.is_interrupted() || self.stopped_on_violation {
            Vec::new()
        } else {
            coverage::missing(&self.plan.required_coverage, &coverage, &modes)
        };
        if !missing_coverage.is_empty() {
            self.notes.push(format!(
                "required fault coverage missing (each must be applied and observed at least \
                 once; a longer duration or a shorter interval gives it more windows): {}",
                missing_coverage.join(", ")
            ));
            valid = valid.worst(Validity::Unknown);
        }
        if self.is_interrupted() {
            self.notes
                .push("interrupted (Ctrl-C, SIGTERM or SIGHUP): the history is partial".into());
            valid = valid.worst(Validity::Unknown);
        }
        let (ok, fail, info) = (
            Live::get(&live.ok),
            Live::get(&live.fail),
            Live::get(&live.info),
        );
        let ops = ok + fail + info;
        Results {
            campaign: self.plan.name.clone(),
            seed: self.plan.seed,
            run: self
                .dir
                .path()
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            target: self.target.describe(),
            valid,
            notes: std::mem::take(&mut self.notes),
            interrupted: self.was_interrupted,
            checkers,
            stats: Stats {
                ops,
                ok,
                fail,
                info,
                processes: Live::get(&live.processes),
                run_ms,
                ops_per_sec: ops as f64 / (run_ms.max(1) as f64 / 1000.0),
                history_events: written.events,
                history_bytes: written.bytes,
            },
            faults,
            coverage,
            modes,
            required_coverage: self.plan.required_coverage.clone(),
            missing_coverage,
            phases: std::mem::take(&mut self.phases),
            faultline_version: String::new(),
            started_at: None,
            previous: None,
            analysis: None,
            first_violation,
            online,
        }
    }

    /// Hands the results and the history to the store, which writes the run's files.
    pub(super) fn report(mut self, results: Results, history: Option<History>) -> Outcome {
        let written = match history {
            Some(h) => match self.dir.finish(results.clone(), &h) {
                Ok(w) => Some(w),
                Err(e) => {
                    self.harness_errors
                        .push(format!("writing the results: {e:#}"));
                    None
                }
            },
            // No history to report on: the results alone, unless nothing is to be kept.
            None if !self.options.no_history => {
                if let Err(e) = self.dir.write_results(&results) {
                    self.harness_errors.push(format!("{e:#}"));
                }
                None
            }
            None => None,
        };
        Outcome {
            results,
            harness_errors: self.harness_errors,
            written,
        }
    }
}

/// The note on a violation found online: where, when, and whether the check of the whole
/// history confirmed it (it does whenever it finishes: see `runner::online`).
fn online_note(v: &FirstViolation, checkers: &[CheckerResult]) -> String {
    let who =
        v.op.process
            .map(|p| format!(" by p{p}"))
            .unwrap_or_default();
    let stopped = if v.stopped_run {
        "; the run stopped there (checker.stop_on_violation)"
    } else {
        ""
    };
    let confirmed = match checkers.iter().find(|c| c.name == v.checker) {
        Some(c) if c.valid == checkers::Validity::Invalid => String::new(),
        Some(c) => format!(
            "; the check of the whole history could not confirm it ({}: {}), which only a \
             limit explains: a prefix that is not linearizable makes the whole history not \
             linearizable",
            c.valid.label(),
            c.summary
        ),
        None => "; the check of the whole history did not run".into(),
    };
    format!(
        "online check: key {} not linearizable from {:.3}s ({}{who}), found at {:.3}s{stopped}{confirmed}",
        v.key, v.at_s, v.op.op, v.found_s
    )
}
