//! `faultline test`: campaigns and the phases of a run.
//!
//! - `campaign` parses the YAML file, `validate` (and `validate_nemesis`) check it into a `plan::Plan` (errors name
//!   file, line, column and field, located by `yaml_pos`), `duration` reads `30s`-style values;
//! - `target` is the trait a cluster implements for the runner (Docker in `src/cluster`,
//!   processes on 127.0.0.1 in `local`); `client` talks HTTP to the nodes;
//! - `phases` runs setup → run → final heal → final reads → logs → teardown → check, with
//!   `clients` (workload processes), `faults` (the nemesis task and fault coverage),
//!   `recorder` (the history writer), `live` and `progress` (the progress line);
//! - `check` applies the workload's checkers, `results` is `results.json`, `replay` rebuilds a
//!   recorded run's plan, `history_file` reads histories back.

pub mod campaign;
pub mod check;
pub mod client;
pub mod clients;
pub mod coverage;
pub mod docker;
pub mod duration;
pub mod faults;
pub mod launch;
pub mod live;
pub mod local;
pub mod memory;
pub mod phases;
pub mod plan;
pub mod progress;
pub mod recorder;
pub mod replay;
pub mod target;
pub mod validate;
pub mod validate_nemesis;
pub mod yaml_pos;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;
