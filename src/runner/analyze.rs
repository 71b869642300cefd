//! `faultline analyze RESULTS_DIR`: a recorded run re-checked with the current checkers. The
//! history's checkers run again on its `history.jsonl`; what judged the run itself (the crash
//! and recovery checkers, coverage, an interruption) stands as recorded; `results.json`,
//! `junit.xml` and `report.html` are rewritten, the old verdict kept under `previous` to
//! compare.

use std::path::Path;

use checkers::analysis::{self, CheckerResult};
use checkers::Validity;

use super::check::Limits;
use crate::exit::bad_input;
use crate::report::results::{Previous, Results};
use crate::report::{store, RunDir};

/// The checkers that judge the run, not its history: carried over as they were.
const OF_THE_RUN: &[&str] = &["crash", "recovery"];

/// Re-checks the run in `dir` and rewrites its files; the new results.
pub fn reanalyze(dir: &Path, limits: Limits) -> anyhow::Result<Results> {
    let stored = store::load(dir)?;
    let Some(old) = stored.results.ours().cloned() else {
        return Err(bad_input(format!(
            "{} holds no results.json written by faultline; `faultline check {}` re-checks \
             any history",
            dir.display(),
            dir.display()
        )));
    };
    let chosen = analysis::for_history(&stored.history);
    let mut checkers: Vec<CheckerResult> =
        match analysis::analyze(&stored.history, &chosen, &limits.options()) {
            Ok(a) => a.results(),
            Err(e) => vec![CheckerResult::unknown(
                "checkers",
                format!("the history could not be checked: {e}"),
            )],
        };
    checkers.extend(
        old.checkers
            .iter()
            .filter(|c| OF_THE_RUN.contains(&c.name.as_str()))
            .cloned(),
    );
    // What made the recorded verdict worse than its checkers' (coverage, an interruption)
    // still holds: the history alone cannot undo it.
    let recorded_checkers = Validity::combine_checked(old.checkers.iter().map(|c| c.valid));
    let floor = if old.valid > recorded_checkers {
        old.valid.min(Validity::Unknown)
    } else {
        Validity::Valid
    };
    let valid = Validity::combine_checked(checkers.iter().map(|c| c.valid)).worst(floor);
    let mut results = old.clone();
    results.previous = Some(Previous {
        valid: old.valid,
        checkers: old
            .checkers
            .iter()
            .map(|c| (c.name.clone(), c.valid))
            .collect(),
        faultline_version: old.faultline_version.clone(),
    });
    results.notes.push(format!(
        "re-analyzed by faultline {}: the recorded verdict was {}, now {}",
        env!("CARGO_PKG_VERSION"),
        old.valid.label(),
        valid.label()
    ));
    results.checkers = checkers;
    results.valid = valid;
    RunDir::at(dir).finish(results.clone(), &stored.history)?;
    Ok(results)
}
