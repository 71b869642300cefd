//! `faultline test --local` end to end against local `faultline node` processes (no Docker): a
//! clean run exits 0 with its faults applied and observed; `--replay` reuses the recorded
//! schedule; Ctrl-C leaves a checkable history and no node running.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use checkers::history::Event;
use serde_json::Value;

fn faultline() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_faultline"));
    c.env("FAULTLINE_LOG", "warn");
    c
}

fn campaigns() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/campaigns")
}

/// The single run directory under `<out>/<name>/`, which both `latest` links name.
fn run_dir(out: &Path, name: &str) -> PathBuf {
    let runs: Vec<PathBuf> = std::fs::read_dir(out.join(name))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.ends_with("latest"))
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = std::fs::canonicalize(&runs[0]).unwrap();
    for latest in [out.join(name).join("latest"), out.join("latest")] {
        assert_eq!(
            std::fs::canonicalize(&latest).unwrap(),
            run,
            "{}",
            latest.display()
        );
    }
    runs[0].clone()
}

/// Every line whole and an event.
fn history(dir: &Path) -> Vec<Event> {
    let text = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    assert!(text.ends_with('\n'), "the history ends with a partial line");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("a whole event per line"))
        .collect()
}

fn results(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap()
}

/// Processes whose command line mentions `dir` (the nodes' data directories live under it).
fn processes_under(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            let path = e.ok()?.path();
            let cmd = std::fs::read(path.join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            cmd.contains(&needle).then_some(cmd)
        })
        .collect()
}

fn wait_with_deadline(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("faultline test did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(50)); // poll again, before the deadline
    }
}

#[test]
fn a_set_campaign_passes_with_observed_faults_and_replays() {
    let out = tempfile::tempdir().unwrap();
    let status = faultline()
        .args(["test", "--local", "--no-progress", "--out"])
        .arg(out.path())
        .arg(campaigns().join("local-set.yaml"))
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let dir = run_dir(out.path(), "local-set");
    let r = results(&dir);
    assert_eq!(r["valid"], true);
    for kind in ["kill", "pause"] {
        let c = &r["coverage"][kind];
        assert_eq!(
            (c["applied"].as_u64(), c["observed"].as_u64()),
            (Some(1), Some(1)),
            "{kind}: {c}"
        );
    }
    let events = history(&dir);
    assert_eq!(
        events.len() as u64,
        r["stats"]["history_events"].as_u64().unwrap()
    );
    assert!(
        !dir.join("cluster").exists(),
        "the local cluster was not torn down"
    );
    assert!(dir.join("logs/n1.log").is_file());
    assert!(processes_under(&dir).is_empty());
    let saved = std::fs::read_to_string(dir.join("campaign.yaml")).unwrap();
    assert!(saved.contains("seed: 11"), "{saved}");

    // Replay: the same faults on the same nodes at the same offsets.
    let replay = faultline()
        .arg("test")
        .arg("--replay")
        .arg(&dir)
        .arg("--dry-run")
        .output()
        .unwrap();
    assert_eq!(replay.status.code(), Some(0), "{replay:?}");
    let plan = String::from_utf8(replay.stdout).unwrap();
    for f in r["faults"].as_array().unwrap() {
        let nodes: Vec<&str> = f["action"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        let line = format!(
            "at {:>7.1}s for {:>5.1}s: {} [{}]",
            f["at_ms"].as_u64().unwrap() as f64 / 1000.0,
            f["duration_ms"].as_u64().unwrap() as f64 / 1000.0,
            f["kind"].as_str().unwrap(),
            nodes.join(",")
        );
        assert!(plan.contains(&line), "{line} not in\n{plan}");
    }
}

#[test]
fn ctrl_c_heals_tears_down_and_leaves_a_checkable_history() {
    interrupted_run_heals_tears_down_and_leaves_a_checkable_history(libc::SIGINT);
}

/// A CI job cancelled (SIGTERM) or a terminal closed (SIGHUP) ends a run as Ctrl-C does:
/// healed, torn down (no node process left), results written, exit 2.
#[test]
fn sigterm_and_sighup_clean_up_as_ctrl_c_does() {
    interrupted_run_heals_tears_down_and_leaves_a_checkable_history(libc::SIGTERM);
    interrupted_run_heals_tears_down_and_leaves_a_checkable_history(libc::SIGHUP);
}

fn interrupted_run_heals_tears_down_and_leaves_a_checkable_history(signal: libc::c_int) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.yaml");
    std::fs::write(
        &path,
        "name: long\nworkload: {kind: register}\nduration: 120s\nnemesis:\n  schedule:\n    - {at: 1s, duration: 100s, kill: random-node}\n",
    )
    .unwrap();
    let out = dir.path().join("results");
    let mut child = faultline()
        .args(["test", "--local", "--no-progress", "--out"])
        .arg(&out)
        .arg(&path)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Interrupt once the kill is recorded as in effect.
    let deadline = Instant::now() + Duration::from_secs(60);
    let run = loop {
        let started = std::fs::read_dir(out.join("long"))
            .ok()
            .and_then(|mut d| d.next())
            .map(|e| e.unwrap().path());
        if let Some(run) = started {
            let text = std::fs::read_to_string(run.join("history.jsonl")).unwrap_or_default();
            if text.contains(r#""f":"kill","value":{"phase":"start""#) {
                break run;
            }
        }
        assert!(Instant::now() < deadline, "the kill never started");
        std::thread::sleep(Duration::from_millis(100)); // poll again, before the deadline
    };
    // SAFETY: signalling a child we spawned.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
    let status = wait_with_deadline(&mut child, Duration::from_secs(60));
    assert_eq!(status.code(), Some(2), "an interrupted run has no verdict");

    let r = results(&run);
    assert_eq!(r["interrupted"], true);
    let events = history(&run);
    assert!(
        events.iter().any(|e| e.f == "heal-all"),
        "no final heal recorded"
    );
    assert!(
        !run.join("cluster").exists(),
        "the local cluster was not torn down"
    );
    assert!(
        processes_under(&run).is_empty(),
        "{:?}",
        processes_under(&run)
    );
}

/// Ctrl-C while the cluster is still starting: no verdict (exit 2, as any interrupted run),
/// results that say so, and no node left running (regression: it exited 255).
#[test]
fn ctrl_c_during_setup_exits_2_with_results() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("early.yaml");
    std::fs::write(
        &path,
        "name: early\nworkload: {kind: register}\nduration: 60s\nnemesis: {faults: [{kill: leader}]}\n",
    )
    .unwrap();
    let out = dir.path().join("results");
    let mut child = faultline()
        .args(["test", "--local", "--no-progress", "--out"])
        .arg(&out)
        .arg(&path)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // The local cluster's directory appears once the signal handlers are in place and the
    // nodes are being started: interrupt then.
    let deadline = Instant::now() + Duration::from_secs(30);
    let run = loop {
        let started = std::fs::read_dir(out.join("early"))
            .ok()
            .into_iter()
            .flatten()
            .map(|e| e.unwrap().path())
            .find(|p| p.join("cluster").exists());
        if let Some(run) = started {
            break run;
        }
        assert!(Instant::now() < deadline, "the cluster never started");
        std::thread::sleep(Duration::from_millis(20)); // poll
    };
    // SAFETY: signalling a child we spawned.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) },
        0
    );
    let status = wait_with_deadline(&mut child, Duration::from_secs(60));
    assert_eq!(status.code(), Some(2), "an interrupted run has no verdict");
    assert_eq!(results(&run)["interrupted"], true);
    assert!(
        processes_under(&run).is_empty(),
        "{:?}",
        processes_under(&run)
    );
}

/// Transactions end to end: an rw-register campaign on the correct node is valid under strict
/// serializability, and the list-append campaign with the planted `split-txn` bug is not, its
/// anomalies explained in results.json.
#[test]
fn transactional_campaigns_pass_clean_and_catch_split_transactions() {
    let out = tempfile::tempdir().unwrap();
    for (campaign, exit) in [("local-rw-register", 0), ("bug-split-txn", 1)] {
        let status = faultline()
            .args(["test", "--local", "--no-progress", "--out"])
            .arg(out.path())
            .arg(campaigns().join(format!("{campaign}.yaml")))
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(exit), "{campaign}");
        let r = results(&run_dir(out.path(), campaign));
        let checker = r["checkers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"].as_str().is_some_and(|n| n.starts_with("elle-")))
            .unwrap_or_else(|| panic!("{campaign}: no transactional checker in {r}"));
        let txns = checker["detail"]["txns"].as_u64().unwrap();
        assert!(txns > 100, "{campaign}: only {txns} transactions");
        let violations = checker["detail"]["violations"].as_array().unwrap();
        if exit == 0 {
            assert!(violations.is_empty(), "{campaign}: {checker}");
        } else {
            assert!(!violations.is_empty(), "{campaign}: {checker}");
            let first = &checker["detail"]["anomalies"][0];
            assert!(
                first["explanation"]
                    .as_str()
                    .is_some_and(|e| e.contains(" < ")),
                "{first}"
            );
        }
    }
}

/// A required mode the campaign's duration cannot give exits 2 naming it (and writes it into
/// results.json and junit.xml); the same campaign run long enough covers it and exits 0.
#[test]
fn a_required_mode_the_run_never_covers_is_unknown_and_a_longer_run_passes() {
    let campaign = |duration: &str| {
        format!(
            "name: require\nseed: 3\ncluster: {{nodes: 3}}\nworkload: {{kind: register, keys: 2}}\n\
             concurrency: 3\nduration: {duration}\nquiet: 1s\n\
             nemesis: {{faults: [{{kill: leader}}], interval: 2s, duration: 800ms, require: [kill-leader]}}\n"
        )
    };
    let run = |duration: &str| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("require.yaml");
        std::fs::write(&path, campaign(duration)).unwrap();
        let out = faultline()
            .arg("test")
            .arg(&path)
            .args(["--local", "--no-progress", "--out"])
            .arg(dir.path().join("results"))
            .output()
            .unwrap();
        (dir, out)
    };
    // 1 s: the first window (after a gap of 1 to 3 s) never starts.
    let (dir, out) = run("1s");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("required fault coverage missing")
            && stdout.contains("kill-leader (applied 0, observed 0)"),
        "{stdout}"
    );
    let short = run_dir(&dir.path().join("results"), "require");
    let r = results(&short);
    assert_eq!(
        r["missing_coverage"][1], "kill-leader (applied 0, observed 0)",
        "{r}"
    );
    let junit = std::fs::read_to_string(short.join("junit.xml")).unwrap();
    assert!(
        junit.contains("name=\"coverage[kill-leader]\"")
            && junit.contains(
                "required fault coverage missing: kill-leader (applied 0, observed 0)</failure>"
            ),
        "{junit}"
    );

    let (dir, out) = run("8s");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let r = results(&run_dir(&dir.path().join("results"), "require"));
    assert!(
        r["modes"]["kill-leader"]["observed"].as_u64() >= Some(1),
        "{r}"
    );
}

/// A node whose data directory is destroyed while it is killed cannot rejoin: the recovery
/// check after the final heal says which node never answered (unknown, with the reason), the
/// crash checker reports it exiting by itself, and the run does not pass.
#[test]
fn a_node_whose_data_is_destroyed_fails_the_recovery_check() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec.yaml");
    std::fs::write(
        &path,
        "name: rec\nseed: 1\ncluster: {nodes: 3}\nworkload: {kind: register, keys: 2}\n\
         concurrency: 3\nduration: 6s\nquiet: 1s\n\
         nemesis: {schedule: [{at: 1s, duration: 3s, kill: random-node}]}\n",
    )
    .unwrap();
    let out = dir.path().join("results");
    let mut child = faultline()
        .arg("test")
        .arg(&path)
        .args(["--local", "--no-progress", "--out"])
        .arg(&out)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Once the kill is in the history, the killed node's data directory becomes a file.
    let deadline = Instant::now() + Duration::from_secs(20);
    let killed = loop {
        assert!(Instant::now() < deadline, "no kill in the history");
        let runs = std::fs::read_dir(out.join("rec"))
            .into_iter()
            .flatten()
            .flatten();
        let kill = runs
            .map(|e| e.path())
            .filter(|p| !p.ends_with("latest"))
            .find_map(|run| {
                let text = std::fs::read_to_string(run.join("history.jsonl")).ok()?;
                let line = text.lines().find(|l| l.contains("\"f\":\"kill\""))?;
                let e: Value = serde_json::from_str(line).ok()?;
                Some((run, e["value"]["targets"][0].as_str()?.to_string()))
            });
        if let Some(k) = kill {
            break k;
        }
        std::thread::sleep(Duration::from_millis(50)); // poll again, before the deadline
    };
    let (run, node) = killed;
    let data = run.join("cluster").join(&node);
    std::fs::remove_dir_all(&data).unwrap();
    std::fs::write(&data, "not a directory").unwrap();
    let status = wait_with_deadline(&mut child, Duration::from_secs(120));
    assert_eq!(status.code(), Some(1));
    let r = results(&run);
    let checker = |name: &str| {
        r["checkers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no {name} checker in {r}"))
            .clone()
    };
    let recovery = checker("recovery");
    assert_eq!(recovery["valid"], "unknown", "{recovery}");
    let summary = recovery["summary"].as_str().unwrap();
    assert!(
        summary.contains("nodes that never answered after the final heal")
            && summary.contains(&format!("{node}:")),
        "{summary}"
    );
    let crash = checker("crash");
    assert_eq!(crash["valid"], false, "{crash}");
    assert!(
        crash["summary"]
            .as_str()
            .unwrap()
            .contains(&format!("{node} exited by itself")),
        "{crash}"
    );
}
