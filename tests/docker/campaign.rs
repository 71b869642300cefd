//! `faultline test` end to end on the real Docker Engine: the smoke campaign passes with its
//! faults applied and observed and leaves a complete result directory; Ctrl-C mid-run heals,
//! tears the cluster down and leaves a checkable history. Fails (never skips) without Docker.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::docker_objects::assert_nothing_left;

/// One campaign at a time: two 3-node clusters at once would starve each other of the 2 cores.
static DOCKER: Mutex<()> = Mutex::new(());

fn faultline() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_faultline"));
    c.env("FAULTLINE_LOG", "warn");
    c
}

fn campaigns() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/campaigns")
}

fn require_docker() {
    let ok = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "these tests need a reachable Docker Engine (CI={}): start the daemon, or run the other tests with `cargo test -- --skip docker`",
        std::env::var("CI").unwrap_or_default()
    );
}

fn run_dir(out: &Path, name: &str) -> PathBuf {
    let runs: Vec<PathBuf> = std::fs::read_dir(out.join(name))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.is_symlink())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs[0].clone()
}

fn results(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap()
}

#[test]
fn docker_smoke_campaign_passes_with_faults_applied_and_observed() {
    require_docker();
    let _one = DOCKER.lock().unwrap_or_else(|e| e.into_inner());
    let out = tempfile::tempdir().unwrap();
    let status = faultline()
        .args(["test", "--no-progress", "--out"])
        .arg(out.path())
        .arg(campaigns().join("smoke.yaml"))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    let dir = run_dir(out.path(), "smoke");
    assert_eq!(
        status.code(),
        Some(0),
        "smoke failed; results: {}",
        std::fs::read_to_string(dir.join("results.json")).unwrap_or_default()
    );
    let r = results(&dir);
    assert_eq!(r["valid"], true);
    for kind in ["kill", "partition"] {
        let c = &r["coverage"][kind];
        assert!(
            c["applied"].as_u64().unwrap_or(0) >= 1,
            "{kind} not applied: {c}"
        );
        assert_eq!(
            c["applied"], c["observed"],
            "{kind} applied but not observed: {c}"
        );
    }
    assert!(
        r["stats"]["ok"].as_u64().unwrap_or(0) > 100,
        "{}",
        r["stats"]
    );
    let lin = r["checkers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "linearizability")
        .expect("the linearizability checker ran");
    assert_eq!(lin["valid"], true, "{lin}");
    for file in [
        "history.jsonl",
        "history.edn",
        "campaign.yaml",
        "report.html",
        "junit.xml",
    ] {
        assert!(
            dir.join(file).is_file(),
            "{file} missing in {}",
            dir.display()
        );
    }
    let logs: Vec<_> = std::fs::read_dir(dir.join("logs")).unwrap().collect();
    assert_eq!(logs.len(), 3, "one log per node");
    // The recorded history re-checks to the same verdict, from either format. Our registers
    // start absent, so the EDN export is checked as Knossos would with `(cas-register nil)`.
    let check = faultline().arg("check").arg(&dir).output().unwrap();
    assert_eq!(check.status.code(), Some(0), "{check:?}");
    let check = faultline()
        .args(["check", "--initial", "nil"])
        .arg(dir.join("history.edn"))
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(0), "{check:?}");
    assert_nothing_left("smoke");
}

#[test]
fn docker_ctrl_c_heals_tears_down_and_leaves_a_checkable_history() {
    require_docker();
    let _one = DOCKER.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("ctrlc.yaml");
    std::fs::write(
        &path,
        "name: ctrlc\nworkload: {kind: register, keys: 2}\nduration: 120s\nnemesis:\n  schedule:\n    - {at: 2s, duration: 100s, partition: isolate-leader}\n",
    )
    .unwrap();
    let out = tmp.path().join("results");
    let mut child = faultline()
        .args(["test", "--no-progress", "--out"])
        .arg(&out)
        .arg(&path)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let run = loop {
        let started = std::fs::read_dir(out.join("ctrlc"))
            .ok()
            .and_then(|mut d| d.next())
            .map(|e| e.unwrap().path());
        if let Some(run) = started {
            let text = std::fs::read_to_string(run.join("history.jsonl")).unwrap_or_default();
            let started = text
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .any(|e| e["f"] == "partition" && e["value"]["phase"] == "start");
            if started {
                break run;
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended before the partition: {status}");
        }
        assert!(Instant::now() < deadline, "the partition never started");
        std::thread::sleep(Duration::from_millis(100)); // poll again, before the deadline
    };
    // SAFETY: signalling a child we spawned.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) },
        0
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the runner did not stop within 90 s of Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(100)); // poll again, before the deadline
    };
    assert_eq!(status.code(), Some(2), "an interrupted run has no verdict");
    let r = results(&run);
    assert_eq!(r["interrupted"], true);
    let history = std::fs::read_to_string(run.join("history.jsonl")).unwrap();
    assert!(
        history.contains(r#""f":"heal-all""#),
        "no final heal recorded"
    );
    let check = faultline().arg("check").arg(&run).output().unwrap();
    assert!(
        matches!(check.status.code(), Some(0..=2)),
        "the interrupted history could not be checked: {check:?}"
    );
    assert_nothing_left("ctrlc");
}

/// A matrix, as the issue writes it: `faultline test smoke.yaml bug-racy-cas.yaml --seeds 2`
/// runs four campaigns one after another, prints the table, writes summary.json and one
/// junit.xml of four suites, and exits with the worst code (1: the planted bug).
#[test]
fn a_matrix_of_campaigns_and_seeds_prints_the_table_and_exits_with_the_worst() {
    require_docker();
    let _one = DOCKER.lock().unwrap_or_else(|e| e.into_inner());
    let out = tempfile::tempdir().unwrap();
    let status = faultline()
        .arg("test")
        .arg(campaigns().join("smoke.yaml"))
        .arg(campaigns().join("bug-racy-cas.yaml"))
        .args(["--seeds", "2", "--no-progress", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert_eq!(
        status.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&status.stderr)
    );
    for row in [
        "smoke        ┆ 1    ┆ valid",
        "smoke        ┆ 2    ┆ valid",
        "bug-racy-cas ┆ 1    ┆ invalid",
        "bug-racy-cas ┆ 2    ┆ invalid",
    ] {
        assert!(stdout.contains(row), "no row {row:?} in\n{stdout}");
    }
    let matrix = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("matrix-")
        })
        .expect("a matrix directory");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(matrix.join("summary.json")).unwrap())
            .unwrap();
    let exits: Vec<u64> = summary
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["exit"].as_u64().unwrap())
        .collect();
    assert_eq!(exits, [0, 0, 1, 1], "{summary:#}");
    let junit = std::fs::read_to_string(matrix.join("junit.xml")).unwrap();
    let doc = roxmltree::Document::parse(&junit).unwrap();
    let suites: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testsuite"))
        .map(|n| n.attribute("name").unwrap())
        .collect();
    assert_eq!(
        suites,
        [
            "smoke[seed=1]",
            "smoke[seed=2]",
            "bug-racy-cas[seed=1]",
            "bug-racy-cas[seed=2]"
        ]
    );
    assert!(junit.contains("<failure type=\"invalid\""), "{junit}");
    assert_nothing_left("smoke");
    assert_nothing_left("bug-racy-cas");
}
