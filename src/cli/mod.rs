//! The command line: argument definitions and dispatch. Each command's arguments live with the
//! module that runs it.

pub mod analyze;
pub mod check;
pub mod cluster;
pub mod cluster_membership;
pub mod fault;
pub mod gen_history;
pub mod history_file;
pub mod image;
pub mod kv;
pub mod matrix;
pub mod report;
pub mod runtime;
pub mod serve;
pub mod test;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::exit::{self, Validity};

#[derive(Debug, Parser)]
#[command(
    name = "faultline",
    version,
    about = "A Jepsen-style cluster test harness and operator CLI"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check recorded histories for linearizability (exit 0 valid, 1 invalid, 2 unknown).
    Check(check::CheckArgs),
    /// Benchmark the checker (default) or the node.
    Bench(crate::bench::BenchArgs),
    /// Generate a random register history (valid by construction, or with planted stale reads).
    GenHistory(gen_history::GenHistoryArgs),
    /// Run one openraft key-value node (the system under test), or inspect its data.
    Node(crate::node::NodeArgs),
    /// Build the node image through the Docker API.
    #[command(subcommand)]
    Image(image::ImageArgs),
    /// Start, inspect and remove clusters in Docker.
    #[command(subcommand)]
    Cluster(cluster::ClusterArgs),
    /// Read and write keys on a running cluster.
    #[command(subcommand)]
    Kv(kv::KvArgs),
    /// Inject faults by hand: kill, start, restart, pause, resume, partition, loss, slow, delay, clock, heal.
    #[command(subcommand)]
    Fault(fault::FaultArgs),
    /// Run a campaign against a fresh cluster and check it (exit 0/1/2/254/255).
    Test(test::TestArgs),
    /// Regenerate the report of a result directory.
    Report(report::ReportArgs),
    /// Re-check a recorded run with this faultline's checkers; rewrites results.json (the old
    /// verdict kept under `previous`), junit.xml and report.html. Exit code as `check`.
    Analyze(analyze::AnalyzeArgs),
    /// Serve a local page listing every run.
    Serve(serve::ServeArgs),
    /// Panics on purpose: how a bug in faultline reaches a user (for the tests).
    #[command(hide = true)]
    InternalPanic,
}

/// Parses the arguments, runs the command, and maps the outcome to Jepsen's exit codes.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version are not errors; every other parse failure is bad input.
            let code = if e.use_stderr() { exit::BAD_INPUT } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    // A running node logs to stdout, like any server in a container (`docker logs`); every
    // other command keeps stdout for its results.
    let serving = matches!(&cli.command, Command::Node(n) if n.cmd.is_none());
    init_tracing(serving);
    quiet_on_closed_stdout(&cli.command);
    report_bugs_in_one_line(serving);
    match std::panic::catch_unwind(|| run(cli.command)) {
        Ok(Ok(verdict)) => ExitCode::from(exit::code(verdict)),
        Ok(Err(err)) => {
            eprintln!("error: {err:#}");
            ExitCode::from(exit::code_for(&err))
        }
        // The hook has said what happened; a bug is the harness failing to run.
        Err(_) => ExitCode::from(exit::HARNESS),
    }
}

fn run(command: Command) -> anyhow::Result<Validity> {
    match command {
        Command::Check(args) => check::run(args),
        Command::Bench(args) => crate::bench::run(args),
        Command::GenHistory(args) => gen_history::run(args),
        Command::Node(args) => crate::node::run(args),
        Command::Image(args) => image::run(args),
        Command::Cluster(args) => cluster::run(args),
        Command::Kv(args) => kv::run(args),
        Command::Fault(args) => fault::run(args),
        Command::Test(args) if test::is_matrix(&args) => matrix::run(&args),
        Command::Test(args) => test::run(args),
        Command::Report(args) => report::run(args),
        Command::Analyze(args) => analyze::run(args),
        Command::Serve(args) => serve::run(args),
        Command::InternalPanic => panic!("asked to panic"),
    }
}

/// A panic is a bug in faultline: it says so in one line, where, and what to do, and the process
/// exits 255. The backtrace (with build paths) only when asked for: `FAULTLINE_BACKTRACE=1`.
/// A serving node aborts on any panic, wherever it happened (as with `panic = "abort"`): a node
/// whose Raft task died would otherwise hang, half alive, instead of visibly crashing.
fn report_bugs_in_one_line(abort: bool) {
    let verbose = std::env::var_os("FAULTLINE_BACKTRACE").is_some_and(|v| v != "0");
    if verbose {
        std::env::set_var("RUST_BACKTRACE", "1");
    }
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if verbose {
            default(info);
        } else {
            let what = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into());
            let at = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            eprintln!(
                "error: faultline hit a bug ({what}{at}); this is not your input's fault: please \
                 report it with the command you ran (FAULTLINE_BACKTRACE=1 shows the backtrace)"
            );
        }
        if abort {
            std::process::abort();
        }
    }));
}

/// A command that prints results ends quietly when the reader of its output goes away
/// (`faultline check ... | head`), like any Unix tool. Servers and runs keep SIGPIPE ignored
/// (Rust's default): a client that resets a socket must not end a node, `serve` or a test.
fn quiet_on_closed_stdout(command: &Command) {
    let long_running = matches!(
        command,
        Command::Node(_) | Command::Serve(_) | Command::Test(_)
    );
    if !long_running {
        // SAFETY: called before this process starts any thread; SIG_DFL is always a valid
        // disposition.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
}

/// Diagnostics go through `tracing`: to stderr, so that stdout carries only results, except
/// for a running node, whose log is its output.
fn init_tracing(to_stdout: bool) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("FAULTLINE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    // Colour codes only for a person at a terminal, never into log files or `docker logs`.
    let _ = if to_stdout {
        builder
            .with_ansi(std::io::stdout().is_terminal())
            .with_writer(std::io::stdout)
            .try_init()
    } else {
        builder
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .try_init()
    };
}
