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
    /// A list-append history instead (strictly serializable by construction): `--ops`
    /// transactions of 4 micro-ops over `--keys` live keys (each retired after 32 appends),
    /// `--crash` of them `info`, `--fail` of them `fail`.
    #[arg(long)]
    pub list_append: bool,
    /// With `--list-append`: plant an anomaly at a fraction of the history, `g0@0.5`,
    /// `g1c@0.2`, `g-single@0.9`, `g2@0.5` (repeatable).
    #[arg(long, requires = "list_append")]
    pub plant: Vec<String>,
}

/// `NAME@FRACTION`.
fn plant(s: &str) -> Result<(checkers::elle::gen::Plant, f64), String> {
    let (name, at) = s.split_once('@').unwrap_or((s, "0.5"));
    let p = checkers::elle::gen::Plant::from_name(name)
        .ok_or_else(|| format!("--plant {s:?}: use g0, g1c, g-single or g2"))?;
    let at: f64 = at
        .parse()
        .ok()
        .filter(|a| (0.0..=1.0).contains(a))
        .ok_or_else(|| format!("--plant {s:?}: the position is a fraction between 0 and 1"))?;
    Ok((p, at))
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
    if args.list_append {
        return list_append(&args, cfg);
    }
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

/// Writes a list-append history, streamed.
fn list_append(args: &GenHistoryArgs, cfg: GenConfig) -> anyhow::Result<Validity> {
    let plants = args
        .plant
        .iter()
        .map(|p| plant(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad_input)?;
    let g = checkers::elle::gen::ListAppendGen {
        seed: cfg.seed,
        txns: cfg.ops,
        keys: cfg.keys,
        procs: cfg.procs,
        info_rate: cfg.crash_rate,
        fail_rate: cfg.fail_rate,
        plant: plants,
        ..Default::default()
    };
    let write = |w: &mut dyn Write| -> std::io::Result<()> {
        let mut out = std::io::BufWriter::with_capacity(1 << 20, w);
        g.write_jsonl(&mut out)?;
        out.flush()
    };
    if args.out.as_os_str() == "-" {
        write(&mut std::io::stdout().lock()).context("writing the history to stdout")?;
    } else {
        let mut file = std::fs::File::create(&args.out)
            .with_context(|| format!("cannot create {}", args.out.display()))?;
        write(&mut file).with_context(|| format!("writing {}", args.out.display()))?;
    }
    Ok(Validity::Valid)
}
