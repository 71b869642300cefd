//! `faultline bench`: benchmarks that print a table. Never a timed test.

mod bugs;
mod checker;
mod cluster;
mod elle;
mod node;
mod runner;

use clap::{Args, Subcommand};

use crate::exit::Validity;

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub target: Option<BenchTarget>,
}

#[derive(Debug, Subcommand)]
pub enum BenchTarget {
    /// Time the checker on the corpora and on generated histories (the default).
    Checker(checker::CheckerBenchArgs),
    /// Time the transactional (Elle-style) checker on generated list-append histories.
    Elle(elle::ElleBenchArgs),
    /// Start 3 local nodes and drive them with concurrent clients.
    Node(node::NodeBenchArgs),
    /// Time the node image build (unchanged binary) and fresh clusters up to a leader.
    Cluster(cluster::ClusterBenchArgs),
    /// Run every `bug-*.yaml` campaign over N seeds with and without its planted bug: caught,
    /// clean, time to the first violation, check time.
    Bugs(bugs::BugsBenchArgs),
    /// The test runner's throughput with and without recording the history.
    Runner(runner::RunnerBenchArgs),
}

pub fn run(args: BenchArgs) -> anyhow::Result<Validity> {
    match args.target {
        None => checker::run(checker::CheckerBenchArgs::default()),
        Some(BenchTarget::Checker(a)) => checker::run(a),
        Some(BenchTarget::Elle(a)) => elle::run(a),
        Some(BenchTarget::Node(a)) => node::run(a),
        Some(BenchTarget::Cluster(a)) => cluster::run(a),
        Some(BenchTarget::Runner(a)) => runner::run(a),
        Some(BenchTarget::Bugs(a)) => bugs::run(a),
    }
}
