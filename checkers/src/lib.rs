//! Checkers for recorded histories: linearizability (register, cas-register, multi-register,
//! mutex, key-value) and workload invariants.

pub mod history;
pub mod set;
