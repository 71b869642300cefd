//! `faultline test` checks the campaign before anything starts: bad files exit 254 naming file,
//! line, column and field; the shipped campaigns are valid.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .env("FAULTLINE_LOG", "warn")
        .output()
        .expect("running faultline")
}

fn campaign(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("c.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs a bad campaign; returns stderr after checking the exit code and that nothing started.
fn rejected(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = campaign(dir.path(), text);
    let out_dir = dir.path().join("results");
    let out = faultline(&[
        "test",
        path.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(254), "{out:?}");
    assert!(
        !out_dir.exists(),
        "a results directory was created for a bad campaign"
    );
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn unknown_keys_name_line_column_and_field() {
    let e = rejected("workload:\n  kind: register\n  keyz: 3\n");
    assert!(
        e.contains("c.yaml:3:3: workload: unknown field `keyz`"),
        "{e}"
    );
}

#[test]
fn unknown_workloads_and_targets_name_line_and_field() {
    let e = rejected("workload:\n  kind: bank\nnemesis:\n  faults:\n    - pause: the-leader\n");
    assert!(
        e.contains("c.yaml:2:3: workload.kind: unknown workload \"bank\""),
        "{e}"
    );
    assert!(
        e.contains("c.yaml:5:7: nemesis.faults[0].pause: unknown target \"the-leader\""),
        "{e}"
    );
}

#[test]
fn out_of_range_and_type_errors_name_line_and_field() {
    let e = rejected("workload: {kind: register}\ncluster:\n  nodes: 0\n");
    assert!(
        e.contains("c.yaml:3:3: cluster.nodes: 0 is out of range (1 to 9)"),
        "{e}"
    );
    let e = rejected("workload: {kind: register}\nrate: fast\n");
    assert!(e.contains("c.yaml:2:"), "{e}");
    assert!(e.contains("rate"), "{e}");
}

#[test]
fn bad_link_faults_name_line_and_field() {
    let e = rejected(
        "workload: {kind: register}\nnemesis:\n  faults:\n    - loss: {pattern: halves, percent: 150}\n    - slow: {pattern: all, rate: fast}\n",
    );
    assert!(
        e.contains("c.yaml:4:7: nemesis.faults[0].loss.percent: 150 is out of range: a loss is more than 0% and at most 100%"),
        "{e}"
    );
    assert!(
        e.contains("c.yaml:5:7: nemesis.faults[1].slow.rate: \"fast\" is not a rate"),
        "{e}"
    );
    let e = rejected(
        "workload: {kind: register}\ncluster: {nodes: 1}\nnemesis:\n  schedule:\n    - {at: 1s, duration: 1s, loss: {percent: 10}}\n",
    );
    assert!(
        e.contains("c.yaml:5:5: nemesis.schedule[0].loss: loss over all needs at least 2 nodes (a link has two ends); cluster.nodes is 1"),
        "{e}"
    );
}

#[test]
fn a_delay_campaign_without_docker_to_probe_netem_is_a_harness_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = campaign(
        dir.path(),
        "workload: {kind: register}\nnemesis:\n  faults:\n    - delay: {ms: 100, jitter_ms: 20}\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["test", "--dry-run", path.to_str().unwrap()])
        .env("FAULTLINE_LOG", "warn")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(255), "{stderr}");
    assert!(stderr.contains("netem"), "{stderr}");
    assert!(stderr.contains("Docker"), "{stderr}");
}

#[test]
fn syntax_errors_and_missing_files_are_bad_input() {
    let e = rejected("workload: [\n");
    assert!(e.contains("c.yaml:"), "{e}");
    let out = faultline(&["test", "/nonexistent/campaign.yaml"]);
    assert_eq!(out.status.code(), Some(254));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/campaign.yaml"));
}

#[test]
fn shipped_campaigns_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/campaigns");
    for name in [
        "smoke",
        "demo",
        "local-set",
        "local-rw-register",
        "bug-split-txn",
        "bug-clock-lease",
        "without-clocks/bug-clock-lease",
        "etcd",
        "etcd-serializable",
        "http-faultline",
    ] {
        let path = root.join(format!("{name}.yaml"));
        let out = faultline(&["test", path.to_str().unwrap(), "--dry-run"]);
        assert_eq!(out.status.code(), Some(0), "{name}: {out:?}");
    }
    // The smoke campaign's seed gives it both kills and partitions.
    let out = faultline(&[
        "test",
        root.join("smoke.yaml").to_str().unwrap(),
        "--dry-run",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(": kill ") && text.contains(": partition "),
        "{text}"
    );
}

#[test]
fn the_same_seed_gives_the_same_schedule() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/campaigns");
    let demo = root.join("demo.yaml");
    let run = |seed: &str| {
        let out = faultline(&["test", demo.to_str().unwrap(), "--dry-run", "--seed", seed]);
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(run("5"), run("5"));
    assert_ne!(run("5"), run("6"));
}

#[test]
fn bad_system_sections_name_line_and_field() {
    let e = rejected("system:\n  kind: mongodb\nworkload: {kind: register}\n");
    assert!(
        e.contains(
            "c.yaml:2:3: system.kind: unknown system \"mongodb\"; expected one of faultline, etcd"
        ),
        "{e}"
    );
    let e = rejected("system:\n  kind: etcd\n  raeds: serializable\nworkload: {kind: register}\n");
    assert!(
        e.contains("c.yaml:3:3: system: unknown field `raeds`"),
        "{e}"
    );
    let e = rejected("system:\n  kind: etcd\n  reads: stale\nworkload: {kind: register}\n");
    assert!(e.contains("c.yaml:3:") && e.contains("stale"), "{e}");
    let e = rejected(
        "system:\n  kind: etcd\ncluster:\n  unsafe_bugs: [stale-read]\nworkload: {kind: register}\n",
    );
    assert!(
        e.contains("c.yaml:4:3: cluster.unsafe_bugs: planted bugs exist only in faultline's own node, not in etcd"),
        "{e}"
    );
    // etcd runs in Docker only.
    let dir = tempfile::tempdir().unwrap();
    let path = campaign(
        dir.path(),
        "system:\n  kind: etcd\nworkload: {kind: register}\nnemesis: {faults: [{kill: leader}]}\n",
    );
    let out = faultline(&["test", path.to_str().unwrap(), "--local", "--dry-run"]);
    assert_eq!(out.status.code(), Some(254), "{out:?}");
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("c.yaml:2:3: system.kind: --local runs faultline's own node"),
        "{e}"
    );
}

/// A `kind: http` description is checked before anything starts: its templates name only
/// known placeholders, no status code means two things, and what it needs is there.
#[test]
fn bad_http_systems_name_line_and_field() {
    let http = |ops: &str| {
        format!(
            "system:\n  kind: http\n  image: x\n  command: [run, \"{{id}}\"]\n  port: 80\n  leader: {{path: /s, field: leader}}\n  operations:\n{ops}workload: {{kind: register}}\n"
        )
    };
    let e = rejected(&http(
        "    read: {path: \"/k/{kye}\", ok: [200]}\n    write: {method: PUT, path: \"/k/{key}\", body: \"{value}\", ok: [200]}\n    cas: {method: POST, path: /c, ok: [200], fail: [409]}\n",
    ));
    assert!(
        e.contains("system.operations.read.path: unknown placeholder {kye}"),
        "{e}"
    );
    let e = rejected(&http(
        "    read: {path: \"/k/{key}\", ok: [200]}\n    write: {method: PUT, path: \"/k/{key}\", ok: [200]}\n    cas: {method: POST, path: /c, ok: [200], fail: [200]}\n",
    ));
    assert!(
        e.contains("system.operations.cas.fail: status 200 is mapped twice: in ok and in fail"),
        "{e}"
    );
    let e = rejected("system:\n  kind: http\nworkload: {kind: register}\n");
    for field in ["image", "command", "port", "leader", "operations"] {
        assert!(
            e.contains(&format!("system.{field}: kind: http needs")),
            "{field}: {e}"
        );
    }
    let e = rejected(&http(
        "    read: {path: \"/k/{key}\", ok: [200]}\n    write: {method: PUT, path: \"/k/{key}\", ok: [200]}\n",
    ));
    assert!(
        e.contains("system.operations: the register workload sends cas"),
        "{e}"
    );
}

/// `system.build` names a directory with a Dockerfile, relative to the campaign file; anything
/// else is refused before anything starts, naming the field and the path.
#[test]
fn an_http_build_directory_must_hold_a_dockerfile() {
    let http = |build: &str| {
        format!(
            "system:\n  kind: http\n  build: {build}\n  command: [run]\n  port: 80\n  leader: {{path: /s, field: leader}}\n  operations:\n    read: {{path: \"/k/{{key}}\", ok: [200]}}\n    write: {{method: PUT, path: \"/k/{{key}}\", ok: [200]}}\n    cas: {{method: POST, path: /c, ok: [200], fail: [409]}}\nworkload: {{kind: register}}\n"
        )
    };
    let e = rejected(&http("no-such-dir"));
    assert!(e.contains("c.yaml:3:3: system.build: "), "{e}");
    assert!(e.contains("no-such-dir"), "{e}");

    // A directory beside the campaign, but without a Dockerfile; then with one, it validates.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("ctx")).unwrap();
    let path = campaign(dir.path(), &http("ctx"));
    let out = faultline(&["test", path.to_str().unwrap(), "--dry-run"]);
    assert_eq!(out.status.code(), Some(254), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("system.build: ")
            && String::from_utf8_lossy(&out.stderr).contains("has no Dockerfile"),
        "{out:?}"
    );
    std::fs::write(dir.path().join("ctx/Dockerfile"), "FROM scratch\n").unwrap();
    let out = faultline(&["test", path.to_str().unwrap(), "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

/// Over `kind: http`, each workload needs its own operations described (the set workload `add`
/// and `read_set`), and list-append, whose transactions span keys, is refused.
#[test]
fn http_workloads_need_their_operations_described() {
    let http = |workload: &str| {
        format!(
            "system:\n  kind: http\n  image: x\n  command: [run]\n  port: 80\n  leader: {{path: /s, field: leader}}\n  operations:\n    read: {{path: \"/k/{{key}}\", ok: [200]}}\n    write: {{method: PUT, path: \"/k/{{key}}\", ok: [200]}}\n    cas: {{method: POST, path: /c, ok: [200], fail: [409]}}\nworkload: {{kind: {workload}}}\n"
        )
    };
    let e = rejected(&http("set"));
    for field in ["add", "read_set"] {
        assert!(
            e.contains(&format!("system.operations.{field}: the set workload")),
            "{field}: {e}"
        );
    }
    let e = rejected(&http("list-append"));
    assert!(
        e.contains("workload.kind: kind: http runs the register workload")
            && e.contains("list-append needs multi-key transactions"),
        "{e}"
    );
}

/// Two explicit windows of the same kind that overlap are refused, both named (undoing one would
/// undo both); windows of different kinds may overlap.
#[test]
fn overlapping_windows_of_one_kind_are_refused_naming_both() {
    let e = rejected(
        "workload: {kind: register}\nduration: 20s\nnemesis:\n  schedule:\n    - {at: 2s, duration: 6s, partition: halves}\n    - {at: 3s, duration: 2s, kill: leader}\n    - {at: 5s, duration: 4s, partition: isolate-one}\n",
    );
    assert!(
        e.contains("c.yaml:7:5: nemesis.schedule[2]: overlaps nemesis.schedule[0], another partition window"),
        "{e}"
    );
    assert!(
        !e.contains("schedule[1]"),
        "a kill may overlap a partition: {e}"
    );
}
