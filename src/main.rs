//! faultline: a Jepsen-style cluster test harness and operator CLI.
//!
//! Modules, by concern:
//! - `cli`: argument definitions, exit codes, and the thin command functions;
//! - `bench`: benchmarks of the checker and the node;
//! - `node`: the openraft key-value node (the system under test);
//! - `cluster`: clusters in Docker and the fault executor;
//! - `runner`: campaigns, clients, the recorder and the phases of a test;
//! - `report`: results.json, junit.xml, report.html.

mod bench;
mod cli;
mod cluster;
mod node;
mod report;
mod runner;

fn main() -> std::process::ExitCode {
    cli::main()
}
