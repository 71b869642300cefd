//! `faultline bench bugs`: does faultline catch every planted bug, every time, and how fast?
//!
//! Runs each `bug-*.yaml` campaign through `faultline test` (this very binary, as CI and a user
//! would) over N seeds, once as written (with its `cluster.unsafe_bugs`) and once without the bug
//! switch, and prints a table: seeds caught (exit 1 with a counterexample, a set anomaly, a
//! transactional anomaly or a crash in results.json), clean runs valid (exit 0), the median time from the run's start to the first
//! violating operation, and the median check time.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use clap::Args;
use serde_json::Value;

use checkers::analysis::CheckerResult;
use checkers::history::{Event, EventType};

use crate::exit::{bad_input, Validity};
use crate::report::store;
use crate::runner::campaign::parse;

#[derive(Debug, Args)]
pub struct BugsBenchArgs {
    /// Seeds per campaign: the first seed and the N-1 after it.
    #[arg(long, default_value_t = 5)]
    pub seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 1)]
    pub first_seed: u64,
    /// Directory holding the `bug-*.yaml` campaigns.
    #[arg(long, default_value = "tests/campaigns")]
    pub campaigns: PathBuf,
    /// Only this bug (repeatable), e.g. `--bug racy-cas`.
    #[arg(long = "bug")]
    pub only: Vec<String>,
    /// Results root; every run's results stay there for inspection.
    #[arg(long, default_value = "results/bench-bugs")]
    pub out: PathBuf,
    /// Skip the runs without the bug switch.
    #[arg(long)]
    pub no_clean: bool,
    /// Also run each campaign, bug and all, with the old fault kinds only (kills, pauses and
    /// partitions in place of its own faults): a bug only new kinds of faults expose stays
    /// unseen there.
    #[arg(long)]
    pub old_faults: bool,
}

/// One `faultline test` run, as the bench saw it.
struct Run {
    exit: Option<i32>,
    dir: Option<PathBuf>,
    /// A counterexample, set anomaly or transactional anomaly was found in results.json.
    evidence: bool,
    /// From the run's start to the first violating operation (see [`first_violation_ns`]).
    first_violation_s: Option<f64>,
    check_ms: Option<f64>,
}

struct Row {
    bug: String,
    caught: usize,
    clean_valid: usize,
    clean_runs: usize,
    seeds: u64,
    first_violation_s: Vec<f64>,
    check_ms: Vec<f64>,
    /// Seeds caught with the old fault kinds only (`--old-faults`).
    old_caught: Option<usize>,
}

pub fn run(args: BugsBenchArgs) -> anyhow::Result<Validity> {
    if args.seeds == 0 {
        return Err(bad_input("--seeds must be at least 1"));
    }
    let campaigns = find_campaigns(&args.campaigns, &args.only)?;
    let exe = std::env::current_exe().context("finding the faultline binary")?;
    let clean_dir = args.out.join("clean-campaigns");
    std::fs::create_dir_all(&clean_dir)
        .with_context(|| format!("creating {}", clean_dir.display()))?;
    let mut rows = Vec::new();
    for (bug, path) in &campaigns {
        let clean = write_variant(path, &clean_dir, "clean", |c| c.cluster.unsafe_bugs.clear())?;
        let old = write_variant(path, &clean_dir, "old-faults", old_faults_only)?;
        let mut row = Row {
            bug: bug.clone(),
            caught: 0,
            clean_valid: 0,
            clean_runs: 0,
            seeds: args.seeds,
            first_violation_s: Vec::new(),
            check_ms: Vec::new(),
            old_caught: args.old_faults.then_some(0),
        };
        for seed in args.first_seed..args.first_seed + args.seeds {
            let r = run_test(&exe, path, seed, &args.out)?;
            println!(
                "{bug} seed {seed}: with the bug exit {} ({}){}",
                exit_name(r.exit),
                if r.evidence {
                    "evidence in results.json"
                } else {
                    "no evidence"
                },
                r.dir
                    .as_ref()
                    .map(|d| format!(" {}", d.display()))
                    .unwrap_or_default()
            );
            if r.exit == Some(1) && r.evidence {
                row.caught += 1;
                row.first_violation_s.extend(r.first_violation_s);
            }
            row.check_ms.extend(r.check_ms);
            if !args.no_clean {
                let c = run_test(&exe, &clean, seed, &args.out)?;
                println!("{bug} seed {seed}: without it exit {}", exit_name(c.exit));
                row.clean_runs += 1;
                if c.exit == Some(0) {
                    row.clean_valid += 1;
                }
            }
            if let Some(caught) = row.old_caught.as_mut() {
                let o = run_test(&exe, &old, seed, &args.out)?;
                println!(
                    "{bug} seed {seed}: with the bug and old faults only exit {}",
                    exit_name(o.exit)
                );
                if o.exit == Some(1) && o.evidence {
                    *caught += 1;
                }
            }
        }
        rows.push(row);
    }
    print_table(&rows, args.no_clean);
    let all_caught = rows.iter().all(|r| r.caught as u64 == r.seeds);
    let all_clean = rows.iter().all(|r| r.clean_valid == r.clean_runs);
    Ok(if all_caught && all_clean {
        Validity::Valid
    } else {
        Validity::Invalid
    })
}

/// `bug-NAME.yaml` files, by bug name.
fn find_campaigns(dir: &Path, only: &[String]) -> anyhow::Result<BTreeMap<String, PathBuf>> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("reading directory {}", dir.display()))?;
    let mut found = BTreeMap::new();
    for e in entries {
        let path = e
            .with_context(|| format!("reading directory {}", dir.display()))?
            .path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if let Some(bug) = name
            .strip_prefix("bug-")
            .and_then(|n| n.strip_suffix(".yaml"))
        {
            found.insert(bug.to_string(), path.clone());
        }
    }
    if let Some(missing) = only.iter().find(|b| !found.contains_key(*b)) {
        return Err(bad_input(format!(
            "no campaign {}/bug-{missing}.yaml (found: {})",
            dir.display(),
            found.keys().cloned().collect::<Vec<_>>().join(", ")
        )));
    }
    found.retain(|bug, _| only.is_empty() || only.contains(bug));
    if found.is_empty() {
        return Err(bad_input(format!(
            "no bug-*.yaml campaigns in {}; pass --campaigns DIR",
            dir.display()
        )));
    }
    Ok(found)
}

/// The fault kinds faultline had before link, clock and membership faults: what `--old-faults`
/// runs each bug campaign with instead of its own.
fn old_faults_only(c: &mut crate::runner::campaign::Campaign) {
    use crate::runner::campaign::FaultEntry;
    let kill = |t: &str| FaultEntry {
        kill: Some(t.into()),
        ..FaultEntry::default()
    };
    let pause = |t: &str| FaultEntry {
        pause: Some(t.into()),
        ..FaultEntry::default()
    };
    let partition = |p: &str| FaultEntry {
        partition: Some(p.into()),
        ..FaultEntry::default()
    };
    c.nemesis.faults = vec![
        kill("random-node"),
        kill("leader"),
        pause("random-node"),
        pause("leader"),
        partition("isolate-leader"),
        partition("halves"),
    ];
    c.nemesis.schedule.clear();
    c.nemesis.require.clear();
}

/// The same campaign changed by `edit`, named `<name>-<suffix>`, written to `dir`.
fn write_variant(
    path: &Path,
    dir: &Path,
    suffix: &str,
    edit: impl FnOnce(&mut crate::runner::campaign::Campaign),
) -> anyhow::Result<PathBuf> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading campaign {}", path.display()))?;
    let mut c = parse(&text, path)?;
    if c.cluster.unsafe_bugs.is_empty() {
        return Err(bad_input(format!(
            "{}: cluster.unsafe_bugs is empty; a bug campaign must plant its bug",
            path.display()
        )));
    }
    edit(&mut c);
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    c.name = Some(format!("{}-{suffix}", c.name.as_deref().unwrap_or(&stem)));
    let to = dir.join(format!("{stem}-{suffix}.yaml"));
    let yaml =
        serde_yaml::to_string(&c).with_context(|| format!("encoding the {suffix} campaign"))?;
    std::fs::write(&to, yaml).with_context(|| format!("writing {}", to.display()))?;
    Ok(to)
}

fn run_test(exe: &Path, campaign: &Path, seed: u64, out: &Path) -> anyhow::Result<Run> {
    let output = Command::new(exe)
        .arg("test")
        .arg(campaign)
        .args(["--seed", &seed.to_string(), "--no-progress", "--out"])
        .arg(out)
        .env("FAULTLINE_LOG", "warn")
        .output()
        .with_context(|| format!("running {} test {}", exe.display(), campaign.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    // The first line names the results directory: "campaign NAME seed S (...) -> DIR".
    let dir = stdout
        .lines()
        .next()
        .and_then(|l| l.rsplit_once(" -> "))
        .map(|(_, d)| PathBuf::from(d.trim()));
    let mut run = Run {
        exit: output.status.code(),
        dir: dir.clone(),
        evidence: false,
        first_violation_s: None,
        check_ms: None,
    };
    let Some(dir) = dir else {
        tracing::warn!(target: "faultline::bench", campaign = %campaign.display(), stderr = %String::from_utf8_lossy(&output.stderr), "the run printed no results directory");
        return Ok(run);
    };
    // A run that wrote no results (the harness failed) has no evidence to read.
    let Ok(stored) = store::load(&dir) else {
        return Ok(run);
    };
    let Some(results) = stored.results.ours() else {
        return Ok(run);
    };
    run.check_ms = results
        .phases
        .iter()
        .find(|p| p.phase == "check")
        .map(|p| p.ms as f64);
    let events = stored.history.to_events();
    let acks = acknowledged_adds(&events);
    let times: Vec<u64> = events.iter().map(|e| e.time).collect();
    let first = first_violation_ns(&results.checkers, &acks, &times);
    run.evidence = first.is_some();
    run.first_violation_s = first.map(|ns| ns as f64 / 1e9);
    Ok(run)
}

/// When each add was acknowledged, by (key, element).
fn acknowledged_adds(events: &[Event]) -> HashMap<(String, String), u64> {
    events
        .iter()
        .filter(|e| e.kind == EventType::Ok && e.f == "add")
        .filter_map(|e| Some(((e.key.clone()?, e.value.to_string()), e.time)))
        .collect()
}

/// The earliest moment a violation is in the history, in ns from the run's start: for a
/// linearizability counterexample, the completion of its last operation (the history is not
/// linearizable from then on); for a set anomaly, the acknowledgement of the earliest lost add;
/// for a transactional anomaly, the completion of its last transaction; for a crash, when the
/// node was seen down. `times` are the events' times by position.
fn first_violation_ns(
    checkers: &[CheckerResult],
    acks: &HashMap<(String, String), u64>,
    times: &[u64],
) -> Option<u64> {
    let invalid = checkers.iter().filter(|c| c.valid == Validity::Invalid);
    let mut first: Option<u64> = None;
    for checker in invalid {
        let mut found = Vec::new();
        counterexample_ends(&checker.detail, &mut found);
        anomaly_ends(&checker.detail, times, &mut found);
        if let Some(keys) = checker.detail["keys"].as_object() {
            for (key, k) in keys {
                for lost in k["lost"].as_array().into_iter().flatten() {
                    if let Some(t) = acks.get(&(key.clone(), lost.to_string())) {
                        found.push(*t);
                    }
                }
            }
        }
        // The crash checker: when each crash was seen (a panic line alone carries no time).
        for crash in checker.detail["crashes"].as_array().into_iter().flatten() {
            found.extend(crash["seen_ns"].as_u64());
        }
        first = found.into_iter().chain(first).min();
    }
    first
}

/// Finds counterexamples (objects with an `ops` list of timed operations) anywhere in a
/// checker's detail and records when each one's last operation completed.
fn counterexample_ends(v: &Value, out: &mut Vec<u64>) {
    match v {
        Value::Object(map) => {
            if let Some(ops) = map.get("ops").and_then(Value::as_array) {
                let end = ops
                    .iter()
                    .filter_map(|op| {
                        op.get("complete_time")
                            .or_else(|| op.get("invoke_time"))
                            .and_then(Value::as_u64)
                    })
                    .max();
                out.extend(end);
            }
            map.values().for_each(|v| counterexample_ends(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| counterexample_ends(v, out)),
        _ => {}
    }
}

/// When each transactional anomaly that is a violation was complete: its last transaction's
/// completion (`complete` is an event position).
fn anomaly_ends(detail: &Value, times: &[u64], out: &mut Vec<u64>) {
    let violations: Vec<&str> = detail["violations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for a in detail["anomalies"].as_array().into_iter().flatten() {
        if !violations.contains(&a["name"].as_str().unwrap_or_default()) {
            continue;
        }
        let end = a["txns"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["complete"].as_u64())
            .filter_map(|i| times.get(usize::try_from(i).ok()?).copied())
            .max();
        out.extend(end);
    }
}

fn exit_name(code: Option<i32>) -> String {
    match code {
        Some(c) => c.to_string(),
        None => "by signal".into(),
    }
}

fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[n / 2]),
        n => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

fn print_table(rows: &[Row], no_clean: bool) {
    let old = rows.iter().any(|r| r.old_caught.is_some());
    println!();
    println!(
        "| bug | caught / seeds | clean valid / runs | median time to first violation | median check time |{}",
        if old { " caught with kill, pause, partition only |" } else { "" }
    );
    println!(
        "|-----|----------------|--------------------|--------------------------------|-------------------|{}",
        if old { "---|" } else { "" }
    );
    for r in rows {
        let clean = if no_clean {
            "not run".to_string()
        } else {
            format!("{} / {}", r.clean_valid, r.clean_runs)
        };
        let first = median(&r.first_violation_s)
            .map(|s| format!("{s:.2} s"))
            .unwrap_or_else(|| "-".into());
        let check = median(&r.check_ms)
            .map(|ms| format!("{ms:.0} ms"))
            .unwrap_or_else(|| "-".into());
        let old = r
            .old_caught
            .map(|c| format!(" {c} / {} |", r.seeds))
            .unwrap_or_default();
        println!(
            "| {} | {} / {} | {clean} | {first} | {check} |{old}",
            r.bug, r.caught, r.seeds
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn the_first_violation_is_the_earliest_evidence() {
        let results: Vec<CheckerResult> = serde_json::from_value(json!([
            {"name": "linearizability", "valid": false, "summary": "", "detail": {"counterexample": {"ops": [
                {"invoke_time": 5, "complete_time": 90},
                {"invoke_time": 20, "complete_time": 70}
            ]}}},
            {"name": "set", "valid": false, "summary": "", "detail": {"keys": {"k0": {"lost": [7, 8]}}}},
            {"name": "ignored", "valid": true, "summary": "", "detail": {"ops": [{"complete_time": 1}]}}
        ]))
        .unwrap();
        let mut acks = HashMap::new();
        acks.insert(("k0".to_string(), "8".to_string()), 60);
        assert_eq!(first_violation_ns(&results, &acks, &[]), Some(60));
        acks.clear();
        assert_eq!(first_violation_ns(&results, &acks, &[]), Some(90));
        // A transactional anomaly ends when its last transaction completed (event 3 here);
        // anomalies the model allows are no evidence.
        let elle: Vec<CheckerResult> = serde_json::from_value(json!([
            {"name": "elle-list-append", "valid": false, "summary": "", "detail": {
                "violations": ["G-single"],
                "anomalies": [
                    {"name": "G2-item", "txns": [{"complete": 1, "ops": ["r x []"]}]},
                    {"name": "G-single", "txns": [{"complete": 3, "ops": []}, {"complete": 2, "ops": []}]}
                ]}}
        ]))
        .unwrap();
        assert_eq!(
            first_violation_ns(&elle, &acks, &[10, 20, 30, 40]),
            Some(40)
        );
        let valid: Vec<CheckerResult> = serde_json::from_value(
            json!([{"name": "set", "valid": true, "summary": "", "detail": {}}]),
        )
        .unwrap();
        assert_eq!(first_violation_ns(&valid, &acks, &[]), None);
        let crashed: Vec<CheckerResult> = serde_json::from_value(json!([
            {"name": "crash", "valid": false, "summary": "", "detail": {"crashes": [
                {"node": "n2", "seen_ns": 1700}, {"node": "n1", "seen_ns": 1500}], "log_hits": []}}
        ]))
        .unwrap();
        assert_eq!(first_violation_ns(&crashed, &acks, &[]), Some(1500));
    }
}
