//! faultline: a Jepsen-style cluster test harness and operator CLI, as a library.
//!
//! The binary (`src/main.rs`) is the command line alone; everything it does is here, so tests,
//! benchmarks and a user's own crate drive the same code.
//!
//! How a run flows, and where each part lives:
//!
//! ```text
//! campaign.yaml ─► runner::campaign, runner::validate   (parse; errors name line and field)
//!                    │
//!                    ▼
//!                  cluster            (Docker through bollard, or local processes: the
//!                    │                 TestTarget a run drives, the fault executor, node::client)
//!         ┌──────────┼────────────┐
//!         ▼          ▼            ▼
//!    runner::clients runner::faults  node logs
//!   (workloads)   (nemesis schedule)
//!         └──► runner::recorder ◄─┘    (one writer → history.jsonl)
//!                    │
//!                    ▼
//!                 checkers            (one parser, the workload's checkers, one Validity)
//!                    │
//!                    ▼
//!                  report             (the results store: run dir, results.json, junit.xml,
//!                                      report.html, history.edn, `latest` links)
//! ```
//!
//! - [`cli`]: argument definitions and the thin command functions (the binary's only module);
//! - [`exit`]: errors and exit codes (Jepsen's), usable from every other module;
//! - [`node`]: the openraft key-value node, the system under test, and its HTTP client;
//! - [`system`]: the other systems faultline can test, each an adapter (etcd);
//! - [`cluster`]: what a test runs against: Docker clusters, local process clusters, the
//!   [`cluster::TestTarget`] trait, and the fault executors;
//! - [`runner`]: campaigns, clients, the recorder and the phases of a test;
//! - [`report`]: the results store and the files of a run directory;
//! - [`bench`]: the benchmarks behind every speed figure.
//!
//! The pure libraries are crates of their own: `checkers` (histories, models, checkers, the
//! verdict), `workloads` (what clients ask, and which checkers a workload gets) and `nemesis`
//! (faults, partitions as data, seeded schedules).

pub mod bench;
pub mod cli;
pub mod cluster;
pub mod exit;
pub mod node;
pub mod report;
pub mod runner;
pub mod system;
