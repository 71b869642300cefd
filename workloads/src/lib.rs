//! Client workloads: which operations to generate, and how to read their results. No I/O: the
//! runner sends each [`Request`] over HTTP and hands back a [`Response`]; the workload turns it
//! into the value recorded in the history.
//!
//! - `op`: requests, responses, operations and completions (the runner's side of the contract);
//! - `register`: read/write/cas on independent keys, write values unique per key;
//! - `set`: unique adds and a final read per key;
//! - `list_append`: Jepsen list-append transactions over a few keys;
//! - `rw_register`: Jepsen rw-register transactions (register writes and reads) over a few keys;
//! - `txn`: what the transactional workloads share (a transaction, a random one, its reply);
//! - `workload`: the configuration enum and per-process generators seeded from the run's seed.

pub mod list_append;
pub mod op;
pub mod register;
pub mod rw_register;
pub mod set;
pub mod txn;
pub mod workload;

pub use op::{Completion, MicroOp, Op, Request, Response};
pub use workload::{ProcessGen, Workload, WorkloadConfig};

/// Bad workload settings (the campaign validator reports them with file and line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{field} must be at least {min}, got {got}")]
    TooSmall {
        field: &'static str,
        min: u64,
        got: u64,
    },
    #[error("the ratios {0} are all zero: at least one operation must have a weight")]
    NoWeight(&'static str),
}
