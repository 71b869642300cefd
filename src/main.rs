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
    // Like any Unix tool, end quietly when the reader of our output goes away
    // (`faultline check ... | head`) instead of panicking on a broken pipe.
    // SAFETY: called first thing, before any thread exists; SIG_DFL is always a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    cli::main()
}
