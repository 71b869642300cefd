//! Every planted bug is caught: one seed of each `tests/campaigns/bug-*.yaml` through
//! `faultline test` on the Docker target must end with exit 1 and a counterexample (or a set
//! anomaly) in results.json and report.html. Needs Docker; without it `faultline test` exits 255
//! and these tests fail (they never skip). The full table over 5 seeds, with and without each
//! bug, is `faultline bench bugs` (README.md, "Planted bugs").

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::util::docker_objects::assert_nothing_left;

/// Runs the bug's campaign (seed 1) under its own cluster name, so a `faultline bench bugs` on
/// the same machine never clashes with it. Returns the results directory, which lives as long as
/// the returned temporary directory.
fn run_caught(bug: &str) -> (tempfile::TempDir, PathBuf) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = root.join(format!("tests/campaigns/bug-{bug}.yaml"));
    let text = std::fs::read_to_string(&source).unwrap();
    let mut campaign: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    campaign["cluster"]["name"] = format!("t-bug-{bug}").into();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let path = dir.join(format!("bug-{bug}.yaml"));
    std::fs::write(&path, serde_yaml::to_string(&campaign).unwrap()).unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("test")
        .arg(&path)
        .args(["--seed", "1", "--no-progress", "--out"])
        .arg(dir.join("results"))
        .env("FAULTLINE_LOG", "warn")
        .output()
        .expect("running faultline test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "bug {bug} was not caught (exit 1 expected)\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("planted bugs on every node: {bug}")),
        "{stdout}"
    );
    let results = stdout
        .lines()
        .next()
        .and_then(|l| l.rsplit_once(" -> "))
        .map(|(_, d)| PathBuf::from(d.trim()))
        .unwrap_or_else(|| panic!("no results directory in:\n{stdout}"));
    assert_nothing_left(&format!("t-bug-{bug}"));
    (tmp, results)
}

fn results(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap()
}

fn invalid_checker<'a>(r: &'a Value, name: &str) -> &'a Value {
    assert_eq!(r["valid"], false, "run verdict: {}", r["valid"]);
    let c = r["checkers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} checker in {}", r["checkers"]));
    assert_eq!(c["valid"], false, "{c}");
    c
}

/// A linearizability counterexample: operations with their times, and the report shows it.
fn assert_counterexample(dir: &Path) {
    let r = results(dir);
    let c = invalid_checker(&r, "linearizability");
    let ops = c["detail"]["counterexample"]["ops"]
        .as_array()
        .unwrap_or_else(|| panic!("no counterexample ops in {c}"));
    assert!(!ops.is_empty());
    assert!(ops.iter().all(|op| op["invoke_time"].is_u64()), "{ops:?}");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(
        html.contains("Counterexample"),
        "report.html shows no counterexample"
    );
    assert!(
        html.contains("not linearizable"),
        "report.html names no violation"
    );
}

/// Acknowledged adds missing from the final read, and the report says so.
fn assert_lost_adds(dir: &Path) {
    let r = results(dir);
    let c = invalid_checker(&r, "set");
    let lost: usize = c["detail"]["keys"]
        .as_object()
        .unwrap()
        .values()
        .map(|k| k["lost"].as_array().map_or(0, Vec::len))
        .sum();
    assert!(lost > 0, "no lost adds in {c}");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(
        html.contains("acknowledged adds lost"),
        "report.html does not show the lost adds"
    );
}

/// Transactional anomalies the model prohibits, each explained, and the report draws them.
fn assert_anomalies(dir: &Path) {
    let r = results(dir);
    let c = invalid_checker(&r, "elle-list-append");
    let violations = c["detail"]["violations"].as_array().unwrap();
    assert!(!violations.is_empty(), "no violations in {c}");
    let anomalies = c["detail"]["anomalies"].as_array().unwrap();
    assert!(
        anomalies
            .iter()
            .all(|a| a["explanation"].as_str().is_some_and(|e| !e.is_empty())),
        "{anomalies:?}"
    );
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(
        html.contains("id=\"anomalies\""),
        "report.html shows no anomalies"
    );
}

#[test]
fn split_txn_is_caught() {
    let (_tmp, dir) = run_caught("split-txn");
    assert_anomalies(&dir);
}

#[test]
fn stale_read_is_caught() {
    let (_tmp, dir) = run_caught("stale-read");
    assert_counterexample(&dir);
}

#[test]
fn lease_read_is_caught() {
    let (_tmp, dir) = run_caught("lease-read");
    assert_counterexample(&dir);
}

/// Only membership faults leave a node out of the configuration: the removed node's stale
/// reads are the counterexample.
#[test]
fn removed_read_is_caught() {
    let (_tmp, dir) = run_caught("removed-read");
    assert_counterexample(&dir);
}

/// Caught only with clock faults: its campaign steps the leader's clock back while a partition
/// isolates it.
#[test]
fn clock_lease_is_caught() {
    let (_tmp, dir) = run_caught("clock-lease");
    assert_counterexample(&dir);
}

#[test]
fn racy_cas_is_caught() {
    let (_tmp, dir) = run_caught("racy-cas");
    assert_counterexample(&dir);
}

#[test]
fn early_ack_is_caught() {
    let (_tmp, dir) = run_caught("early-ack");
    assert_lost_adds(&dir);
}

#[test]
fn lazy_fsync_is_caught() {
    let (_tmp, dir) = run_caught("lazy-fsync");
    assert_lost_adds(&dir);
}

/// The poison-entry bug: the data stays consistent (linearizability passes), but every node
/// exits by itself outside any kill window, and the crash checker says so with the panic line
/// from the logs, in results.json and in the report.
#[test]
fn crash_is_caught() {
    let (_tmp, dir) = run_caught("crash");
    let r = results(&dir);
    let lin = r["checkers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "linearizability")
        .unwrap();
    assert_eq!(lin["valid"], true, "{lin}");
    let c = invalid_checker(&r, "crash");
    let crashes = c["detail"]["crashes"].as_array().unwrap();
    assert!(!crashes.is_empty(), "{c}");
    let hits = c["detail"]["log_hits"].as_array().unwrap();
    assert!(
        hits.iter().any(|h| h["text"]
            .as_str()
            .unwrap()
            .contains("planted bug crash: the state machine cannot apply entry 200")),
        "{c}"
    );
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(
        html.contains("exited by itself"),
        "report.html does not show the crash"
    );
}

#[test]
fn node_help_lists_every_planted_bug_and_refuses_unknown_ones() {
    let exe = env!("CARGO_BIN_EXE_faultline");
    let help = Command::new(exe).args(["node", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for bug in [
        "stale-read",
        "early-ack",
        "lazy-fsync",
        "racy-cas",
        "lease-read",
        "split-txn",
        "clock-lease",
        "crash",
    ] {
        assert!(
            help.contains(&format!("- {bug}:")) && help.contains("PLANTED BUG"),
            "{bug} missing from node --help:\n{help}"
        );
    }
    let out = Command::new(exe)
        .args(["node", "--id", "1", "--unsafe-bug", "slow-read"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(254), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value 'slow-read'"));
}

#[test]
fn a_campaign_naming_an_unknown_bug_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(
        &path,
        "cluster:\n  unsafe_bugs: [lazy-fsync, fast-fsync]\nworkload:\n  kind: set\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("test")
        .arg(&path)
        .arg("--dry-run")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(254), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("c.yaml:2:")
            && err.contains("cluster.unsafe_bugs[1]")
            && err.contains("fast-fsync"),
        "{err}"
    );
}
