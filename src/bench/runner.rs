//! `faultline bench runner`: the runner's throughput with and without recording the history
//! (`--compare recording`), or, recording, with and without checking online (`--compare
//! online`), to measure what each costs (target: under 2%). Rounds alternate the two modes
//! (and which goes first) so drift on a shared machine hits both alike; the table reports
//! medians.
//!
//! `--against memory` drives an in-process store: no network, so the recorder's (and the
//! online checker's feed) share of the work is as large as it can be (the worst case).
//! `--against local` runs whole campaigns (no faults) against 3 local `faultline node`
//! processes. `--against docker` runs a campaign file as it is (default the smoke campaign,
//! its faults and duration; the cluster named by `--cluster`) on fresh Docker clusters.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use tokio::sync::watch;

use crate::cluster::client::HttpClient;
use crate::cluster::local::LocalTarget;
use crate::exit::{bad_input, Validity};
use crate::runner::campaign::parse;
use crate::runner::clients::Workers;
use crate::runner::launch::{self, Launch};
use crate::runner::live::Live;
use crate::runner::memory::MemoryClient;
use crate::runner::online::Online;
use crate::runner::phases::{self, Options};
use crate::runner::recorder::Recorder;
use crate::runner::validate::{validate, Overrides};

#[derive(Debug, Args)]
pub struct RunnerBenchArgs {
    /// What the clients talk to.
    #[arg(long, value_enum, default_value_t = Against::Memory)]
    pub against: Against,
    /// Concurrent client processes.
    #[arg(long, default_value_t = 8)]
    pub concurrency: u32,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Measurements per mode.
    #[arg(long, default_value_t = 5)]
    pub rounds: u32,
    /// What is turned on and off between the two modes.
    #[arg(long, value_enum, default_value_t = Compare::Recording)]
    pub compare: Compare,
    /// The campaign `--against docker` runs (its own duration; `--seconds` does not apply).
    #[arg(long, default_value = "tests/campaigns/smoke.yaml")]
    pub campaign: PathBuf,
    /// The Docker cluster's name for `--against docker`.
    #[arg(long, default_value = "bench-runner")]
    pub cluster: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Against {
    Memory,
    Local,
    Docker,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Compare {
    /// Recording the history, or keeping nothing.
    Recording,
    /// Recording, with the online checker on, or off.
    Online,
}

/// What one measurement runs with.
#[derive(Debug, Clone, Copy)]
struct Mode {
    record: bool,
    online: bool,
}

impl Compare {
    fn mode(self, on: bool) -> Mode {
        match self {
            Compare::Recording => Mode {
                record: on,
                online: false,
            },
            Compare::Online => Mode {
                record: true,
                online: on,
            },
        }
    }

    fn names(self) -> [&'static str; 2] {
        match self {
            Compare::Recording => ["not recording", "recording"],
            Compare::Online => ["online off", "online on"],
        }
    }
}

struct Round {
    ops: u64,
    secs: f64,
    events: u64,
    bytes: u64,
    /// The online checker's checking time, when it ran.
    online_ms: u64,
    /// Its thread's CPU time.
    online_cpu_ms: Option<u64>,
}

pub fn run(args: RunnerBenchArgs) -> anyhow::Result<Validity> {
    if args.concurrency == 0 || args.seconds == 0 || args.rounds == 0 {
        return Err(bad_input(
            "--concurrency, --seconds and --rounds must be at least 1",
        ));
    }
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let scratch =
        std::env::temp_dir().join(format!("faultline-bench-runner-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let mut with = Vec::new();
    let mut without = Vec::new();
    for round in 0..args.rounds {
        // Alternate which mode goes first.
        let order = if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for on in order {
            let dir = scratch.join(format!("r{round}-{on}"));
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let r = rt.block_on(measure(&args, args.compare.mode(on), &dir))?;
            tracing::info!(
                target: "faultline::bench",
                round = round + 1,
                mode = args.compare.names()[usize::from(on)],
                ops_per_sec = format!("{:.0}", r.ops as f64 / r.secs),
                "measured"
            );
            if on {
                with.push(r)
            } else {
                without.push(r)
            }
        }
    }
    std::fs::remove_dir_all(&scratch).with_context(|| format!("removing {}", scratch.display()))?;
    let median = |rs: &[Round]| {
        let mut v: Vec<f64> = rs.iter().map(|r| r.ops as f64 / r.secs).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (on, off) = (median(&with), median(&without));
    let mut table = comfy_table::Table::new();
    table.set_header([
        "mode",
        "median ops/s",
        "min",
        "max",
        "events/round",
        "bytes/round",
        "online checking ms/round",
    ]);
    let [off_name, on_name] = args.compare.names();
    for (name, rs, m) in [(off_name, &without, off), (on_name, &with, on)] {
        let rates: Vec<f64> = rs.iter().map(|r| r.ops as f64 / r.secs).collect();
        table.add_row([
            name.to_string(),
            format!("{m:.0}"),
            format!("{:.0}", rates.iter().cloned().fold(f64::INFINITY, f64::min)),
            format!("{:.0}", rates.iter().cloned().fold(0.0, f64::max)),
            format!(
                "{}",
                rs.iter().map(|r| r.events).sum::<u64>() / rs.len() as u64
            ),
            format!(
                "{}",
                rs.iter().map(|r| r.bytes).sum::<u64>() / rs.len() as u64
            ),
            format!(
                "{}",
                rs.iter().map(|r| r.online_ms).sum::<u64>() / rs.len() as u64
            ),
        ]);
    }
    match args.against {
        Against::Docker => println!(
            "runner against Docker, {} as it is, x {} rounds per mode",
            args.campaign.display(),
            args.rounds
        ),
        _ => println!(
            "runner against {:?}, {} clients, {} s x {} rounds per mode",
            args.against, args.concurrency, args.seconds, args.rounds
        ),
    }
    println!("{table}");
    let what = match args.compare {
        Compare::Recording => "recording",
        Compare::Online => "online checking",
    };
    println!(
        "{what} cost: {:.2}% of throughput (median vs median)",
        (off - on) / off * 100.0
    );
    // Each round ran both modes back to back: the ratio within a round is spared the drift
    // between rounds.
    let mut paired: Vec<f64> = with
        .iter()
        .zip(&without)
        .map(|(a, b)| 100.0 * (1.0 - (a.ops as f64 / a.secs) / (b.ops as f64 / b.secs)))
        .collect();
    paired.sort_by(f64::total_cmp);
    println!(
        "{what} cost, round by round: median {:.2}% (each round: {})",
        paired[paired.len() / 2],
        paired
            .iter()
            .map(|p| format!("{p:.1}%"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if args.compare == Compare::Online {
        let cpu: Vec<String> = with
            .iter()
            .map(|r| match r.online_cpu_ms {
                Some(ms) => format!("{:.2}%", ms as f64 / (r.secs * 1000.0) * 100.0),
                None => "?".into(),
            })
            .collect();
        println!(
            "online checker thread's CPU time, as a share of one core over each run phase: {}",
            cpu.join(", ")
        );
    }
    Ok(Validity::Valid)
}

async fn measure(args: &RunnerBenchArgs, mode: Mode, dir: &Path) -> anyhow::Result<Round> {
    match args.against {
        Against::Memory => memory(args, mode, dir).await,
        Against::Local => local(args, mode, dir).await,
        Against::Docker => docker(args, mode, dir).await,
    }
}

/// Workers and recorder (and the online checker) alone, over the in-process store.
async fn memory(args: &RunnerBenchArgs, mode: Mode, dir: &Path) -> anyhow::Result<Round> {
    let start = Instant::now();
    let live = Arc::new(Live::default());
    let online = if mode.online {
        Some(Online::start(
            start,
            Duration::from_secs(60),
            4096,
            live.clone(),
        )?)
    } else {
        None
    };
    let (recorder, writer) = if mode.record {
        let feed = online.as_ref().map(Online::feed);
        let (r, w) = Recorder::to_file_feeding(&dir.join("history.jsonl"), start, feed)?;
        (r, Some(w))
    } else {
        (Recorder::discard(start), None)
    };
    let workers = Workers {
        client: MemoryClient::default(),
        recorder: recorder.clone(),
        live: live.clone(),
        workload: Arc::new(workloads::Workload::new(
            workloads::WorkloadConfig::Register(Default::default()),
            1,
        )),
        nodes: Arc::new(vec![SocketAddr::from(([127, 0, 0, 1], 1))]),
        concurrency: args.concurrency,
        rate: 0,
        ops_limit: None,
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..args.concurrency {
        tasks.spawn(workers.clone().run(w, stop_rx.clone()));
    }
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let _ = stop_tx.send(true);
    while let Some(r) = tasks.join_next().await {
        r.context("a benchmark client failed")?;
    }
    let secs = start.elapsed().as_secs_f64();
    recorder.close();
    drop(workers);
    let written = match writer {
        Some(w) => w.finish()?,
        None => Default::default(),
    };
    let stats = online.map(|o| o.finish(false).1);
    if let Some(stats) = &stats {
        tracing::info!(target: "faultline::bench", ?stats, "online checker");
    }
    Ok(Round {
        ops: Live::get(&live.ok) + Live::get(&live.fail) + Live::get(&live.info),
        secs,
        events: written.events,
        bytes: written.bytes,
        online_ms: stats.as_ref().map_or(0, |s| s.busy_ms),
        online_cpu_ms: stats.and_then(|s| s.cpu_ms),
    })
}

/// A whole fault-free campaign against fresh local nodes; the run phase's figures.
async fn local(args: &RunnerBenchArgs, mode: Mode, dir: &Path) -> anyhow::Result<Round> {
    let text = format!(
        "name: bench\nworkload: {{kind: register, keys: 8}}\nconcurrency: {}\nduration: {}s\nquiet: 0s\nnemesis: {{faults: []}}\n",
        args.concurrency, args.seconds
    );
    let path = PathBuf::from("bench-runner.yaml");
    let campaign = parse(&text, &path)?;
    let mut plan = validate(
        &campaign,
        &text,
        &path,
        &Overrides {
            seed: Some(1),
            out: None,
            local: true,
            netem: None,
        },
    )?;
    plan.online_check &= mode.online;
    let target = LocalTarget::start("bench", 3, &dir.join("cluster")).await?;
    let client = HttpClient::new(plan.client_timeout)?;
    let options = Options {
        progress: false,
        no_history: !mode.record,
        ..Options::default()
    };
    let (_tx, rx) = watch::channel(false);
    let dir = crate::report::RunDir::at(dir);
    let outcome = phases::execute(&plan, target, client, &dir, &options, rx).await?;
    round(&outcome)
}

/// The campaign file as it is (faults, duration, seed) on a fresh Docker cluster named
/// `--cluster`.
async fn docker(args: &RunnerBenchArgs, mode: Mode, dir: &Path) -> anyhow::Result<Round> {
    let path = &args.campaign;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let campaign = parse(&text, path)?;
    let mut plan = validate(
        &campaign,
        &text,
        path,
        &Overrides {
            seed: None,
            out: None,
            local: false,
            netem: None,
        },
    )?;
    plan.cluster_name = args.cluster.clone();
    plan.online_check &= mode.online;
    let launch = Launch {
        options: Options {
            progress: false,
            no_history: !mode.record,
            ..Options::default()
        },
        ..Launch::default()
    };
    let (_tx, rx) = watch::channel(false);
    let dir = crate::report::RunDir::at(dir);
    let outcome = launch::run(&plan, &dir, &launch, rx).await?;
    if !outcome.harness_errors.is_empty() {
        anyhow::bail!(
            "the harness failed in a benchmark run: {}",
            outcome.harness_errors.join("; ")
        );
    }
    if mode.record && outcome.results.valid != Validity::Valid {
        tracing::warn!(target: "faultline::bench", "a benchmark run was {}: {:?}", outcome.results.valid.label(), outcome.results.notes);
    }
    round(&outcome)
}

/// A whole run's figures: its run phase's operations and time.
fn round(outcome: &phases::Outcome) -> anyhow::Result<Round> {
    let s = &outcome.results.stats;
    Ok(Round {
        ops: s.ops,
        secs: s.run_ms as f64 / 1000.0,
        events: s.history_events,
        bytes: s.history_bytes,
        online_ms: outcome.results.online.as_ref().map_or(0, |o| o.busy_ms),
        online_cpu_ms: outcome.results.online.as_ref().and_then(|o| o.cpu_ms),
    })
}
