//! `faultline bench elle`: times `faultline check` on generated list-append histories, valid and
//! with planted anomalies (G0, G1c, G-single, G2 at known places), against the targets of
//! issue 16: 100,000 transactions in under 2 s; 1,000,000 over 1,000 keys (4 micro-ops each,
//! 5% info) in under 20 s and 4 GiB, strict serializability.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Context;
use clap::Args;

use super::checker::{case, path_str, run_cases};
use crate::exit::Validity;

#[derive(Debug, Args)]
pub struct ElleBenchArgs {
    /// Where generated histories go (default: a directory under the system's temp dir).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Skip the 1,000,000-transaction cases.
    #[arg(long)]
    pub quick: bool,
    /// Runs per case; the table shows the median wall time and the largest peak RSS.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
}

/// Every anomaly the generator plants, spread over the history.
const PLANTS: &[&str] = &["g0@0.2", "g1c@0.4", "g-single@0.6", "g2@0.8"];

pub fn run(args: ElleBenchArgs) -> anyhow::Result<Validity> {
    let work = args
        .work_dir
        .unwrap_or_else(|| std::env::temp_dir().join("faultline-bench"));
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let mut sizes = vec![(100_000usize, 2_000.0, None, "< 2 s")];
    if !args.quick {
        sizes.push((1_000_000, 20_000.0, Some(4096.0), "< 20 s, < 4 GiB"));
    }
    let mut cases = Vec::new();
    for (txns, ms, mb, target) in sizes {
        for planted in [false, true] {
            let p = generated(&work, txns, planted)?;
            let name = format!(
                "list-append {}k txns, 1k keys{}",
                txns / 1000,
                if planted { ", 4 planted" } else { "" }
            );
            let exit = i32::from(planted);
            let target = if planted {
                format!("{target}, G0 G1c G-single G2 found")
            } else {
                target.to_string()
            };
            let mut c = case(&name, vec![p], Some(ms), mb, exit, &target);
            if planted {
                c.expect_anomalies = ["G0", "G1c", "G-single", "G2-item"]
                    .map(String::from)
                    .to_vec();
            }
            cases.push(c);
        }
    }
    let all_met = run_cases(&cases, args.runs)?;
    println!(
        "(histories: 4 micro-ops per transaction, half reads, 30 processes, 5% info, 1,000 keys \
         live at a time, each retired after 32 appends as Jepsen's generator does; checked for \
         strict serializability, real-time edges included)"
    );
    Ok(if all_met {
        Validity::Valid
    } else {
        Validity::Invalid
    })
}

/// Writes a generated list-append history (once per size) in a child `faultline gen-history`
/// (the bench process stays small, so that the checks' peak RSS is their own).
fn generated(work: &Path, txns: usize, planted: bool) -> anyhow::Result<String> {
    let p = work.join(format!(
        "list-append-t{txns}-k1000-i5{}.jsonl",
        if planted { "-planted" } else { "" }
    ));
    if !p.is_file() {
        let t = Instant::now();
        let tmp = p.with_extension("tmp");
        let exe = std::env::current_exe().context("cannot find the faultline executable")?;
        let mut cmd = Command::new(exe);
        cmd.arg("gen-history")
            .arg(&tmp)
            .args(["--list-append", "--seed", "1", "--procs", "30"])
            .args(["--ops", &txns.to_string(), "--keys", "1000"])
            .args(["--crash", "0.05", "--fail", "0"]);
        if planted {
            for plant in PLANTS {
                cmd.args(["--plant", plant]);
            }
        }
        let status = cmd.status().context("cannot run faultline gen-history")?;
        if !status.success() {
            anyhow::bail!("faultline gen-history for {} failed: {status}", p.display());
        }
        std::fs::rename(&tmp, &p)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), p.display()))?;
        tracing::info!(target: "faultline::bench", "generated {} in {:.1} s", p.display(), t.elapsed().as_secs_f64());
    }
    Ok(path_str(&p))
}
