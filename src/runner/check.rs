//! The check phase: `history.jsonl` read once through `checkers::parse`, then the checkers the
//! workload declares, run off the async threads within the campaign's limits. `faultline check`
//! runs the same [`checkers::analysis::analyze`] on the same parsed history.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use checkers::analysis::{self, Checker, CheckerResult};
use checkers::parse::{self, Format, History};

/// The campaign's checker limits; past them a checker answers `unknown`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub time: Duration,
    pub memory_mb: u64,
}

impl Limits {
    /// The limits as the checkers take them; past them they answer unknown themselves.
    pub fn options(self) -> analysis::Options {
        analysis::Options {
            limits: checkers::Limits {
                time_limit: Some(self.time),
                memory_limit: Some(
                    usize::try_from(self.memory_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
                ),
                ..checkers::Limits::default()
            },
            ..analysis::Options::default()
        }
    }
}

/// Reads and parses a run's `history.jsonl`: the one reading of it that everything after the
/// run (checkers, `history.edn`, the report) shares. A partial last line, left by a run killed
/// mid-write, is dropped with a warning in the history.
pub fn read_history(path: &Path) -> anyhow::Result<History> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    parse::parse(&bytes, Format::Faultline).with_context(|| format!("reading {}", path.display()))
}

/// Runs `checkers` off the async threads, answering `unknown` past the time limit.
pub async fn check_within(
    checkers: &'static [Checker],
    history: Arc<History>,
    limits: Limits,
) -> Vec<CheckerResult> {
    let task = tokio::task::spawn_blocking(move || {
        match analysis::analyze(&history, checkers, &limits.options()) {
            Ok(a) => a.results(),
            Err(e) => vec![CheckerResult::unknown(
                "checkers",
                format!("the history could not be checked: {e}"),
            )],
        }
    });
    // The checkers stop themselves at the time limit; this bound is for one that does not.
    let grace = limits.time + Duration::from_secs(5);
    match tokio::time::timeout(grace, task).await {
        Ok(Ok(results)) => results,
        Ok(Err(e)) => vec![CheckerResult::unknown(
            "checkers",
            format!("a checker crashed: {e}"),
        )],
        Err(_) => vec![CheckerResult::unknown(
            "checkers",
            format!(
                "checking took longer than the limit of {}s",
                limits.time.as_secs()
            ),
        )],
    }
}
