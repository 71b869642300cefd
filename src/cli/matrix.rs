//! `faultline test A.yaml B.yaml ... --seeds N`: every campaign on every seed, one run after
//! another (as Jepsen's `test-all`), then a summary table, `summary.json` and one `junit.xml`
//! for them all. The exit code is the worst: 255 (the harness failed in a run), then 2 (a run
//! gave no verdict), then 1 (a violation), then 0.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use serde::Serialize;

use super::test::{plan_for, print_plan, run_plan, watch_ctrl_c, TestArgs};
use crate::exit::{self, Validity};
use crate::runner::plan::Plan;

/// One run of the matrix, as `summary.json` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub campaign: String,
    pub seed: u64,
    /// `valid`, `invalid`, `unknown`, `harness error` or `not run` (interrupted before it).
    pub verdict: String,
    /// The run's own exit code (`faultline test` of it alone).
    pub exit: u8,
    pub ops: u64,
    /// Fault windows applied, and of those observed in effect.
    pub faults_applied: u64,
    pub faults_observed: u64,
    pub seconds: f64,
    pub dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The matrix's exit code from its runs': 255 over 2 over 1 over 0.
pub fn worst(codes: impl IntoIterator<Item = u8>) -> u8 {
    let rank = |c: u8| match c {
        0 => 0,
        1 => 1,
        2 => 2,
        _ => 3,
    };
    codes.into_iter().max_by_key(|&c| rank(c)).unwrap_or(0)
}

/// The seeds each campaign runs on: 1..=N, or from `--seed` on.
fn seeds(args: &TestArgs) -> Vec<u64> {
    let n = u64::from(args.seeds.unwrap_or(1));
    let first = args.seed.unwrap_or(1);
    (0..n).map(|i| first.saturating_add(i)).collect()
}

pub fn run(args: &TestArgs) -> anyhow::Result<Validity> {
    if args.seeds == Some(0) {
        return Err(exit::bad_input("--seeds must be at least 1"));
    }
    if args.keep_cluster {
        return Err(exit::bad_input(
            "--keep-cluster keeps one run's cluster; it does not combine with a matrix of runs",
        ));
    }
    // Every campaign on every seed is validated before anything starts (exit 254).
    let mut plans: Vec<Plan> = Vec::new();
    for path in &args.campaign {
        for seed in seeds(args) {
            plans.push(plan_for(path, Some(seed), args)?);
        }
    }
    if args.dry_run {
        for plan in &plans {
            print_plan(plan);
        }
        return Ok(Validity::Valid);
    }
    let out = plans[0].out.join(format!(
        "matrix-{}",
        crate::report::store::utc_stamp(std::time::SystemTime::now())
    ));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let interrupted = runtime.block_on(async { watch_ctrl_c() });
    let mut rows = Vec::new();
    for (i, plan) in plans.iter().enumerate() {
        if *interrupted.borrow() {
            rows.push(not_run(plan));
            continue;
        }
        println!("\n=== run {} of {}", i + 1, plans.len());
        let started = Instant::now();
        let result = run_plan(plan, args, &runtime, interrupted.clone());
        rows.push(row(plan, result, started));
    }
    print_table(&rows);
    let summary = out.join("summary.json");
    let text = serde_json::to_string_pretty(&rows).context("encoding summary.json")?;
    std::fs::write(&summary, text + "\n")
        .with_context(|| format!("writing {}", summary.display()))?;
    let dirs: Vec<PathBuf> = rows
        .iter()
        .filter(|r| r.verdict != "not run")
        .filter_map(|r| r.dir.clone())
        .filter(|d| d.join("results.json").is_file())
        .collect();
    let junit = out.join("junit.xml");
    crate::report::store::write_junit_of_runs(&junit, &dirs)?;
    println!(
        "summary: {}\njunit:   {}",
        summary.display(),
        junit.display()
    );
    match worst(rows.iter().map(|r| r.exit)) {
        0 => Ok(Validity::Valid),
        1 => Ok(Validity::Invalid),
        2 => Ok(Validity::Unknown),
        _ => anyhow::bail!(
            "the harness failed in {} of {} runs (see {})",
            rows.iter().filter(|r| r.exit == exit::HARNESS).count(),
            rows.len(),
            summary.display()
        ),
    }
}

fn row(
    plan: &Plan,
    result: anyhow::Result<(crate::report::RunDir, crate::runner::phases::Outcome)>,
    started: Instant,
) -> Row {
    let mut row = not_run(plan);
    row.seconds = started.elapsed().as_secs_f64();
    match result {
        Ok((dir, outcome)) => {
            let r = &outcome.results;
            row.dir = Some(dir.path().to_path_buf());
            row.ops = r.stats.ops;
            row.faults_applied = r.coverage.values().map(|c| c.applied).sum();
            row.faults_observed = r.coverage.values().map(|c| c.observed).sum();
            if outcome.harness_errors.is_empty() {
                row.verdict = r.valid.label().to_string();
                row.exit = exit::code(r.valid);
            } else {
                row.verdict = "harness error".into();
                row.exit = exit::HARNESS;
                row.error = Some(outcome.harness_errors.join("; "));
            }
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            row.verdict = "harness error".into();
            row.exit = exit::code_for(&e);
            row.error = Some(format!("{e:#}"));
        }
    }
    row
}

fn not_run(plan: &Plan) -> Row {
    Row {
        campaign: plan.name.clone(),
        seed: plan.seed,
        verdict: "not run".into(),
        exit: exit::code(Validity::Unknown),
        ops: 0,
        faults_applied: 0,
        faults_observed: 0,
        seconds: 0.0,
        dir: None,
        error: None,
    }
}

fn print_table(rows: &[Row]) {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header([
        "CAMPAIGN", "SEED", "VERDICT", "EXIT", "OPS", "FAULTS", "TIME (s)", "RESULTS",
    ]);
    for r in rows {
        table.add_row([
            r.campaign.clone(),
            r.seed.to_string(),
            r.verdict.clone(),
            r.exit.to_string(),
            r.ops.to_string(),
            format!("{}/{} observed", r.faults_observed, r.faults_applied),
            format!("{:.1}", r.seconds),
            r.dir
                .as_ref()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    println!("\n{table}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_exit_code_wins_as_in_jepsens_test_all() {
        assert_eq!(worst([]), 0);
        assert_eq!(worst([0, 0]), 0);
        assert_eq!(worst([0, 1, 0]), 1);
        assert_eq!(worst([1, 2, 0]), 2);
        assert_eq!(worst([2, 255, 1]), 255);
        assert_eq!(worst([254, 2]), 254);
    }
}
