//! `faultline test`: campaigns and the phases of a run, as a library.
//!
//! - `campaign` parses the YAML file, `validate` (with `validate_nemesis` and `validate_system`)
//!   checks it into a `plan::Plan` (errors name file, line, column and field, located by
//!   `yaml_pos`), `duration` reads `30s`-style values;
//! - `launch` runs a plan: the run directory, the target (`crate::cluster`: Docker, or local
//!   processes), the phases;
//! - `phases` runs setup → run → final heal → quiet and final reads → recovery → close history
//!   → logs → teardown → check → verdict and report, with `clients` (workload processes),
//!   `faults` (the nemesis task, with `strobe` for strobed clocks and `membership` reading the
//!   configuration a membership fault changed), `crash` (the crash watcher
//!   and checker), `recovery` (the recovery check), `leader` (waiting for a leader), `coverage`
//!   (fault coverage, by kind and by mode), `recorder` (the history writer), `online` (the
//!   linearizability checker while the run goes, fed by the writer), `live` and `progress`
//!   (the progress line);
//! - `analyze` re-checks a recorded run with the current checkers;
//! - `check` reads the history once and runs the workload's checkers (`checkers::analysis`);
//!   `replay` rebuilds a recorded run's plan; `memory` is an in-memory store for the runner's
//!   benchmark.

pub mod analyze;
pub mod campaign;
pub mod check;
pub mod clients;
pub mod coverage;
pub mod crash;
pub mod duration;
pub mod faults;
pub mod launch;
pub mod leader;
pub mod live;
pub mod membership;
pub mod memory;
pub mod online;
pub mod phases;
pub mod plan;
pub mod progress;
pub mod recorder;
pub mod recovery;
pub mod replay;
pub mod strobe;
pub mod validate;
pub mod validate_nemesis;
pub mod validate_system;
pub mod yaml_pos;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod online_tests;
#[cfg(test)]
mod tests;
