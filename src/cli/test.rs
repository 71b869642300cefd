//! `faultline test CAMPAIGN.yaml`: run a campaign against a fresh cluster and check it.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use tokio::sync::watch;

use crate::cluster::reach::ReachChoice;
use crate::exit::Validity;
use crate::runner::campaign;
use crate::runner::launch::{self, Launch};
use crate::runner::phases::{Options, Outcome};
use crate::runner::plan::Plan;
use crate::runner::replay;
use crate::runner::validate::{validate, Overrides};

/// Runs against a fresh Docker cluster (or, with `--local`, `faultline node` processes on
/// 127.0.0.1: kills and pauses, no partitions). Exit 0 valid, 1 violation, 2 unknown, 254 bad
/// campaign, 255 the harness could not run.
#[derive(Debug, Args)]
#[command(
    after_help = "Results go to <out>/<campaign>/<UTC timestamp>/: history.jsonl, campaign.yaml (as run, with its seed), results.json, logs/.\nBy default the cluster is a fresh Docker cluster named after the campaign's cluster name, built from this binary's node image; --local runs `faultline node` processes on 127.0.0.1 instead (no partitions)."
)]
pub struct TestArgs {
    /// The campaign file (see "Campaigns" in README.md); several, or with --seeds, run as a
    /// matrix. Not needed with --replay.
    #[arg(required_unless_present = "replay", conflicts_with = "replay", num_args = 1..)]
    pub campaign: Vec<PathBuf>,
    /// Run every campaign on N seeds (1..=N, or from --seed on), one run after another, then
    /// print a summary table and write summary.json and one junit.xml for them all; the exit
    /// code is the worst (255, then 2, then 1, then 0).
    #[arg(
        long,
        visible_alias = "test-count",
        value_name = "N",
        conflicts_with = "replay"
    )]
    pub seeds: Option<u32>,
    /// Results directory root (overrides the campaign's `out`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Seed for the fault schedule and the operations (overrides the campaign's `seed`).
    #[arg(long, conflicts_with = "replay")]
    pub seed: Option<u64>,
    /// Leave the cluster running after the run.
    #[arg(long)]
    pub keep_cluster: bool,
    /// Re-run a recorded run: its campaign, seed and fault schedule (same faults, targets, offsets).
    #[arg(long, value_name = "RESULTS_DIR")]
    pub replay: Option<PathBuf>,
    /// No progress line.
    #[arg(long)]
    pub no_progress: bool,
    /// Check the campaign and print its fault schedule; start nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Run against local `faultline node` processes instead of Docker (kills and pauses only).
    #[arg(long)]
    pub local: bool,
    /// The node image for the Docker cluster (default: this binary's, built if missing).
    #[arg(long, conflicts_with = "local")]
    pub image: Option<String>,
    /// How to reach the Docker cluster's nodes: auto (published ports when the engine is remote
    /// or Docker Desktop), bridge (their addresses on the cluster network) or published.
    #[arg(
        long,
        value_enum,
        env = "FAULTLINE_REACH",
        default_value = "auto",
        conflicts_with = "local"
    )]
    pub reach: ReachChoice,
}

/// Whether the arguments ask for a matrix of runs (several campaigns, or `--seeds`).
pub fn is_matrix(args: &TestArgs) -> bool {
    args.campaign.len() > 1 || args.seeds.is_some()
}

/// One run of one campaign (or a replay); a matrix goes to [`super::matrix::run`].
pub fn run(args: TestArgs) -> anyhow::Result<Validity> {
    // Everything about the input is checked before anything starts (exit 254).
    let plan = match (&args.replay, args.campaign.first()) {
        (Some(dir), _) => {
            let path = dir.join("campaign.yaml");
            let netem = match campaign::load(&path) {
                Ok((c, _)) => netem(&c, &path, args.local)?,
                // replay::plan says what is wrong with it.
                Err(_) => None,
            };
            replay::plan(dir, args.out.clone(), args.local, netem)?
        }
        (None, Some(path)) => plan_for(path, args.seed, &args)?,
        (None, None) => unreachable!("clap requires a campaign or --replay"),
    };
    if args.dry_run {
        print_plan(&plan);
        return Ok(Validity::Valid);
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let interrupted = runtime.block_on(async { watch_ctrl_c() });
    let (dir, outcome) = run_plan(&plan, &args, &runtime, interrupted)?;
    if !outcome.harness_errors.is_empty() {
        anyhow::bail!(
            "the harness failed (results in {}): {}",
            dir.path().display(),
            outcome.harness_errors.join("; ")
        );
    }
    Ok(outcome.results.valid)
}

/// The campaign at `path` validated into a plan, with `seed` instead of its own when given.
pub(super) fn plan_for(
    path: &std::path::Path,
    seed: Option<u64>,
    args: &TestArgs,
) -> anyhow::Result<Plan> {
    let (c, text) = campaign::load(path)?;
    let overrides = Overrides {
        seed,
        out: args.out.clone(),
        local: args.local,
        netem: netem(&c, path, args.local)?,
    };
    validate(&c, &text, path, &overrides)
}

/// Runs one validated plan into a fresh run directory, printing what runs and how it ended.
pub(super) fn run_plan(
    plan: &Plan,
    args: &TestArgs,
    runtime: &tokio::runtime::Runtime,
    interrupted: watch::Receiver<bool>,
) -> anyhow::Result<(crate::report::RunDir, Outcome)> {
    let dir = launch::create_run_dir(plan)?;
    println!(
        "campaign {} seed {} ({} windows of faults){} -> {}",
        plan.name,
        plan.seed,
        plan.schedule.windows.len(),
        if args.replay.is_some() {
            ", replayed"
        } else {
            ""
        },
        dir.path().display()
    );
    if !plan.campaign.cluster.unsafe_bugs.is_empty() {
        println!(
            "planted bugs on every node: {} (this run is meant to fail)",
            plan.campaign.cluster.unsafe_bugs.join(", ")
        );
    }
    let launch = Launch {
        local: args.local,
        image: args.image.clone(),
        reach: args.reach,
        options: Options {
            keep_cluster: args.keep_cluster,
            progress: !args.no_progress,
            ..Options::default()
        },
    };
    let outcome = runtime.block_on(launch::run(plan, &dir, &launch, interrupted))?;
    print_summary(plan, &outcome);
    if let Some(w) = &outcome.written {
        println!(
            "report: {}\njunit:  {}",
            w.html.display(),
            w.junit.display()
        );
    }
    Ok((dir, outcome))
}

/// A campaign that delays links needs the netem qdisc: probe the Docker host's kernel for it
/// before anything starts (a throwaway container, about a second), so validation can refuse the
/// campaign (254) naming each `delay` field. Docker unreachable is exit 255.
fn netem(
    c: &campaign::Campaign,
    path: &std::path::Path,
    local: bool,
) -> anyhow::Result<Option<Result<(), String>>> {
    if local || !crate::runner::validate_nemesis::asks_for_delay(c) {
        return Ok(None);
    }
    let name = c
        .cluster
        .name
        .clone()
        .unwrap_or_else(|| crate::runner::validate::campaign_name(c, path));
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let found = runtime
        .block_on(crate::cluster::links::probe_netem(&name))
        .context("probing whether the Docker host can delay packets (netem), which this campaign's delay faults need")?;
    match &found {
        Ok(()) => eprintln!("this host can delay packets (netem qdisc present)"),
        Err(why) => eprintln!("this host cannot delay packets: {why}"),
    }
    Ok(Some(found))
}

/// The first Ctrl-C, SIGTERM (a CI job cancelled, `timeout`, `docker stop`) or SIGHUP (the
/// terminal closed) asks the run to stop and clean up: heal, tear down, write the results. A
/// second one exits at once.
pub(super) fn watch_ctrl_c() -> watch::Receiver<bool> {
    use tokio::signal::unix::{signal, SignalKind};
    let (tx, rx) = watch::channel(false);
    let signals = (|| {
        Ok::<_, std::io::Error>((
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
            signal(SignalKind::hangup())?,
        ))
    })();
    let (mut int, mut term, mut hup) = match signals {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(target: "faultline::runner", "cannot watch for signals ({e}): Ctrl-C will end the run without cleanup");
            return rx;
        }
    };
    tokio::spawn(async move {
        let mut next = async || {
            tokio::select! {
                _ = int.recv() => "Ctrl-C",
                _ = term.recv() => "SIGTERM",
                _ = hup.recv() => "SIGHUP",
            }
        };
        let first = next().await;
        tracing::warn!(target: "faultline::runner", "{first}: healing and tearing down (again to exit now)");
        let _ = tx.send(true);
        let second = next().await;
        tracing::error!(target: "faultline::runner", "second {second}: exiting without cleanup; the cluster may still run");
        std::process::exit(i32::from(crate::exit::HARNESS));
    });
    rx
}

pub(super) fn print_plan(plan: &Plan) {
    println!(
        "campaign {}: {} nodes of {}, {} workload, {} clients, {}s, seed {}",
        plan.name,
        plan.nodes,
        plan.system.describe(),
        plan.workload.name(),
        plan.concurrency,
        plan.duration.as_secs_f64(),
        plan.seed
    );
    for w in &plan.schedule.windows {
        let what = w.fault.describe();
        println!(
            "  at {:>7.1}s for {:>5.1}s: {what}",
            w.at.as_secs_f64(),
            w.duration.as_secs_f64()
        );
    }
    // What the schedule gives of what the run must cover; leader or follower, and the side a
    // partition leaves the leader on, are decided when each window starts.
    let mut windows: std::collections::BTreeMap<&str, usize> = Default::default();
    for w in &plan.schedule.windows {
        *windows.entry(w.fault.kind()).or_default() += 1;
    }
    let given: Vec<String> = windows.iter().map(|(k, n)| format!("{k} x{n}")).collect();
    println!(
        "coverage: {} windows ({}); required: {}",
        plan.schedule.windows.len(),
        if given.is_empty() {
            "none".into()
        } else {
            given.join(", ")
        },
        if plan.required_coverage.is_empty() {
            "nothing".into()
        } else {
            plan.required_coverage.join(", ")
        }
    );
    for r in &plan.required_coverage {
        let kind = r.split('-').next().unwrap_or(r);
        if !windows.contains_key(kind) {
            println!("  {r}: no {kind} window in this schedule: the run will be unknown");
        }
    }
}

fn print_summary(plan: &Plan, outcome: &Outcome) {
    let r = &outcome.results;
    let s = &r.stats;
    println!(
        "{} ops in {:.1}s ({:.0} ops/s): ok {} fail {} info {}, {} processes",
        s.ops,
        s.run_ms as f64 / 1000.0,
        s.ops_per_sec,
        s.ok,
        s.fail,
        s.info,
        s.processes
    );
    for (kind, c) in &r.coverage {
        println!(
            "fault {kind}: scheduled {} applied {} observed {} skipped {} failed {}",
            c.scheduled, c.applied, c.observed, c.skipped, c.failed
        );
    }
    for c in &r.checkers {
        println!("checker {}: {:?} - {}", c.name, c.valid, c.summary);
        // A transactional checker's anomalies, explained (the first few; all in results.json).
        let anomalies = c.detail.get("anomalies").and_then(|a| a.as_array());
        for a in anomalies.into_iter().flatten().take(4) {
            let text = |f: &str| a.get(f).and_then(|v| v.as_str()).unwrap_or_default();
            println!("  {}: {}", text("name"), text("explanation"));
        }
    }
    for n in &r.notes {
        println!("note: {n}");
    }
    println!(
        "{}: {:?} (seed {}; replay with `faultline test --replay <results dir>`)",
        plan.name, r.valid, r.seed
    );
}
