//! `--replay RESULTS_DIR`: the recorded campaign (with its seed) and its fault schedule as it
//! happened: same faults, same targets, same offsets.

use std::path::Path;
use std::time::Duration;

use nemesis::{FaultSpec, Schedule, Window};

use super::campaign;
use super::plan::Plan;
use super::validate::{validate, Overrides};
use crate::exit::bad_input;
use crate::report::results::{FaultStatus, Results};
use crate::report::store;

/// The plan of a recorded run. `out` overrides where the new results go; `local` says the
/// replay runs on local node processes; `netem` is the host's netem support, when probed.
pub fn plan(
    dir: &Path,
    out: Option<std::path::PathBuf>,
    local: bool,
    netem: Option<Result<(), String>>,
) -> anyhow::Result<Plan> {
    let path = dir.join("campaign.yaml");
    if !path.is_file() {
        return Err(bad_input(format!(
            "{} is not a results directory: {} is missing",
            dir.display(),
            path.display()
        )));
    }
    let (c, text) = campaign::load(&path)?;
    let stored = store::load_results(dir).map_err(|e| bad_input(format!("{e:#}")))?;
    let Some(results) = stored.ours() else {
        return Err(bad_input(format!(
            "{}: no results.json of faultline to replay the faults from",
            dir.display()
        )));
    };
    let overrides = Overrides {
        seed: Some(results.seed),
        out,
        local,
        netem,
    };
    let mut plan = validate(&c, &text, &path, &overrides)?;
    plan.schedule = schedule(results);
    Ok(plan)
}

/// Every window that was attempted, with its targets fixed to those it had.
pub fn schedule(results: &Results) -> Schedule {
    let windows = results
        .faults
        .iter()
        .filter(|f| matches!(f.status, FaultStatus::Applied | FaultStatus::Failed))
        .filter_map(|f| {
            let fault = FaultSpec::exact(f.action.as_ref()?)?;
            Some(Window {
                at: Duration::from_millis(f.at_ms),
                duration: Duration::from_millis(f.duration_ms),
                fault,
            })
        })
        .collect();
    Schedule::explicit(windows, results.seed)
}
