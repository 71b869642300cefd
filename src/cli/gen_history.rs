//! `faultline gen-history`: write a random register history (`history.jsonl` format), valid by
//! construction or with planted stale reads, for tests and benchmarks.

use std::io::Write;

use anyhow::Context;
use checkers::gen::{generate, write_jsonl, GenConfig};
use clap::Args;

use crate::exit::{bad_input, Validity};

#[derive(Debug, Args)]
pub struct GenHistoryArgs {
    /// Output file (`-` for stdout).
    pub out: std::path::PathBuf,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Concurrent client processes.
    #[arg(long, default_value_t = 10)]
    pub procs: usize,
    /// Operations in total.
    #[arg(long, default_value_t = 1000)]
    pub ops: usize,
    /// Independent keys (registers).
    #[arg(long, default_value_t = 1)]
    pub keys: usize,
    /// Fraction of operations that crash (recorded as `info`).
    #[arg(long, default_value_t = 0.02)]
    pub crash: f64,
    /// Fraction of writes and cas that fail definitely (recorded as `fail`).
    #[arg(long, default_value_t = 0.02)]
    pub fail: f64,
    /// Values are drawn from 0..N (repeated values); 0 means every write is a fresh value.
    #[arg(long, default_value_t = 5)]
    pub values: u32,
    /// Fraction of reads that return a stale value (with `--values 0` this makes the
    /// history not linearizable).
    #[arg(long, default_value_t = 0.0)]
    pub stale: f64,
    /// Only reads and writes (a plain register), no compare-and-set.
    #[arg(long)]
    pub no_cas: bool,
}

pub fn run(args: GenHistoryArgs) -> anyhow::Result<Validity> {
    for (name, v) in [
        ("--crash", args.crash),
        ("--fail", args.fail),
        ("--stale", args.stale),
    ] {
        if !(0.0..=1.0).contains(&v) {
            return Err(bad_input(format!(
                "{name} {v} must be a fraction between 0 and 1"
            )));
        }
    }
    // Past these a history is larger than any checker's budget; they also keep sizes from
    // overflowing.
    for (name, v, max) in [
        ("--procs", args.procs, 1_000_000),
        ("--keys", args.keys, 10_000_000),
        ("--ops", args.ops, 1_000_000_000),
    ] {
        if v == 0 && name != "--ops" || v > max {
            return Err(bad_input(format!(
                "{name} {v} is out of range (1 to {max})"
            )));
        }
    }
    let cfg = GenConfig {
        seed: args.seed,
        procs: args.procs,
        ops: args.ops,
        keys: args.keys,
        crash_rate: args.crash,
        fail_rate: args.fail,
        values: (args.values > 0).then_some(args.values),
        stale_rate: args.stale,
        cas: !args.no_cas,
    };
    let events = generate(&cfg);
    if args.out.as_os_str() == "-" {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        write_jsonl(&events, &mut out).context("writing the history to stdout")?;
        out.flush().context("writing the history to stdout")?;
    } else {
        let file = std::fs::File::create(&args.out)
            .with_context(|| format!("cannot create {}", args.out.display()))?;
        let mut out = std::io::BufWriter::new(file);
        write_jsonl(&events, &mut out)
            .and_then(|_| out.flush())
            .with_context(|| format!("writing {}", args.out.display()))?;
        tracing::info!(target: "faultline::gen", "wrote {} events to {}", events.len(), args.out.display());
    }
    Ok(Validity::Valid)
}
