//! `faultline bench runner`: the runner's throughput with and without recording the history,
//! to measure what recording costs (target: under 2%). Rounds alternate the two modes so drift
//! on a shared machine hits both alike; the table reports medians.
//!
//! `--against memory` drives an in-process store: no network, so the recorder's share of the
//! work is as large as it can be (the worst case). `--against local` runs whole campaigns
//! (no faults) against 3 local `faultline node` processes.

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
use crate::runner::live::Live;
use crate::runner::memory::MemoryClient;
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Against {
    Memory,
    Local,
}

struct Round {
    ops: u64,
    secs: f64,
    events: u64,
    bytes: u64,
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
        for record in order {
            let dir = scratch.join(format!("r{round}-{record}"));
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let r = rt.block_on(measure(&args, record, &dir))?;
            tracing::info!(
                target: "faultline::bench",
                round = round + 1,
                recording = record,
                ops_per_sec = format!("{:.0}", r.ops as f64 / r.secs),
                "measured"
            );
            if record {
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
    ]);
    for (name, rs, m) in [("not recording", &without, off), ("recording", &with, on)] {
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
        ]);
    }
    println!(
        "runner against {:?}, {} clients, {} s x {} rounds per mode",
        args.against, args.concurrency, args.seconds, args.rounds
    );
    println!("{table}");
    println!(
        "recording cost: {:.2}% of throughput (median vs median)",
        (off - on) / off * 100.0
    );
    Ok(Validity::Valid)
}

async fn measure(args: &RunnerBenchArgs, record: bool, dir: &Path) -> anyhow::Result<Round> {
    match args.against {
        Against::Memory => memory(args, record, dir).await,
        Against::Local => local(args, record, dir).await,
    }
}

/// Workers and recorder alone, over the in-process store.
async fn memory(args: &RunnerBenchArgs, record: bool, dir: &Path) -> anyhow::Result<Round> {
    let start = Instant::now();
    let (recorder, writer) = if record {
        let (r, w) = Recorder::to_file(&dir.join("history.jsonl"), start)?;
        (r, Some(w))
    } else {
        (Recorder::discard(start), None)
    };
    let live = Arc::new(Live::default());
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
    Ok(Round {
        ops: Live::get(&live.ok) + Live::get(&live.fail) + Live::get(&live.info),
        secs,
        events: written.events,
        bytes: written.bytes,
    })
}

/// A whole fault-free campaign against fresh local nodes; the run phase's figures.
async fn local(args: &RunnerBenchArgs, record: bool, dir: &Path) -> anyhow::Result<Round> {
    let text = format!(
        "name: bench\nworkload: {{kind: register, keys: 8}}\nconcurrency: {}\nduration: {}s\nquiet: 0s\nnemesis: {{faults: []}}\n",
        args.concurrency, args.seconds
    );
    let path = PathBuf::from("bench-runner.yaml");
    let campaign = parse(&text, &path)?;
    let plan = validate(
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
    let target = LocalTarget::start("bench", 3, &dir.join("cluster")).await?;
    let client = HttpClient::new(plan.client_timeout)?;
    let options = Options {
        progress: false,
        no_history: !record,
        ..Options::default()
    };
    let (_tx, rx) = watch::channel(false);
    let dir = crate::report::RunDir::at(dir);
    let outcome = phases::execute(&plan, target, client, &dir, &options, rx).await?;
    let s = &outcome.results.stats;
    Ok(Round {
        ops: s.ops,
        secs: s.run_ms as f64 / 1000.0,
        events: s.history_events,
        bytes: s.history_bytes,
    })
}
