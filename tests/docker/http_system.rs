//! `kind: http`: a system described entirely by its campaign. faultline's own node, driven that
//! way with no built-in knowledge, passes the smoke-like campaign, and the same node with a
//! planted bug in its command line fails: the generic adapter catches what the built-in one does.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::util::docker_objects::assert_nothing_left;

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .env("FAULTLINE_LOG", "warn")
        .output()
        .expect("running faultline")
}

/// Runs `campaign` (seed 1) as cluster `name`; the results directory and the output.
fn run(campaign: &serde_yaml::Value, name: &str) -> (tempfile::TempDir, PathBuf, Output) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("c.yaml");
    let mut campaign = campaign.clone();
    campaign["cluster"]["name"] = name.into();
    std::fs::write(&path, serde_yaml::to_string(&campaign).unwrap()).unwrap();
    let out_dir = tmp.path().join("results");
    let out = faultline(&[
        "test",
        path.to_str().unwrap(),
        "--seed",
        "1",
        "--no-progress",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    let dir = out_dir
        .join(campaign["name"].as_str().unwrap())
        .join("latest");
    assert_nothing_left(name);
    (tmp, dir, out)
}

fn campaign() -> serde_yaml::Value {
    // The campaign names faultline/node:latest: the image of this very binary.
    let built = faultline(&["image", "build"]);
    assert!(built.status.success(), "image build: {built:?}");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/campaigns/http-faultline.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn results(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap()
}

#[test]
fn the_node_described_over_http_passes_and_its_planted_bug_is_caught() {
    let clean = campaign();
    let (_tmp, dir, out) = run(&clean, "t-http");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let r = results(&dir);
    assert!(
        r["target"].as_str().unwrap().contains("over http"),
        "{}",
        r["target"]
    );
    for kind in ["kill", "partition"] {
        assert!(
            r["coverage"][kind]["observed"].as_u64() > Some(0),
            "{kind}: {}",
            r["coverage"]
        );
    }

    // The same description, the node planted with racy-cas (cas as a read and a separate
    // write), and a cas-heavy workload on two keys: the race shows.
    let mut buggy = clean;
    let command = buggy["system"]["command"].as_sequence_mut().unwrap();
    command.push("--unsafe-bug".into());
    command.push("racy-cas".into());
    buggy["workload"] =
        serde_yaml::from_str("{kind: register, keys: 2, read: 1, write: 1, cas: 4}").unwrap();
    buggy["concurrency"] = 8.into();
    buggy["duration"] = "15s".into();
    buggy["nemesis"] =
        serde_yaml::from_str("{faults: [{pause: random-node}], interval: 4s, duration: 2s}")
            .unwrap();
    let (_tmp, dir, out) = run(&buggy, "t-http-bug");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let r = results(&dir);
    let lin = r["checkers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "linearizability")
        .unwrap();
    assert!(lin["detail"]["counterexample"]["ops"].is_array(), "{lin}");
}

/// `system.build`: the campaign gives a directory with a Dockerfile instead of an image; the
/// image is built through the Docker API (tagged `faultline/http-<campaign>`) and the run, its
/// nodes reached through published ports, passes.
#[test]
fn an_http_system_built_from_a_directory_runs() {
    let mut c = campaign();
    let system = c["system"].as_mapping_mut().unwrap();
    system.remove("image");
    system.insert("build".into(), "ctx".into());
    c["name"] = "http-built".into();
    c["cluster"]["name"] = "t-http-built".into();
    c["duration"] = "8s".into();
    c["nemesis"] =
        serde_yaml::from_str("{faults: [{kill: random-node}], interval: 3s, duration: 2s}")
            .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("ctx")).unwrap();
    std::fs::write(
        tmp.path().join("ctx/Dockerfile"),
        "FROM faultline/node:latest\nLABEL io.faultline.test=built-from-a-directory\n",
    )
    .unwrap();
    let path = tmp.path().join("c.yaml");
    std::fs::write(&path, serde_yaml::to_string(&c).unwrap()).unwrap();
    let out_dir = tmp.path().join("results");
    // Through published ports, too: the leader probe must tell which node answered by the
    // port it was dialled at (regression: it read the id off a bridge address only).
    let out = faultline(&[
        "test",
        path.to_str().unwrap(),
        "--no-progress",
        "--reach",
        "published",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_nothing_left("t-http-built");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let r = results(&out_dir.join("http-built/latest"));
    assert!(
        r["target"]
            .as_str()
            .unwrap()
            .contains("faultline/http-http-built"),
        "{}",
        r["target"]
    );
    let inspect = Command::new("docker")
        .args(["image", "inspect", "--format", "{{json .Config.Labels}}"])
        .arg("faultline/http-http-built")
        .output()
        .expect("running docker");
    let labels = String::from_utf8_lossy(&inspect.stdout);
    assert!(labels.contains("built-from-a-directory"), "{labels}");
}

/// A node that cannot start: `test` exits 255 as soon as every node has exited (not after the
/// whole leader wait), naming each node and quoting what its log said last, and leaves nothing
/// behind.
#[test]
fn nodes_that_never_become_ready_exit_255_quoting_their_logs() {
    let mut c = campaign();
    c["system"]["entrypoint"] = serde_yaml::from_str("[sh, -c]").unwrap();
    c["system"]["command"] = serde_yaml::from_str(
        "[\"echo starting node {name} >&2; echo 'node {name}: cannot open {data_dir}/db: disk on fire' >&2; exit 3\"]",
    )
    .unwrap();
    let started = std::time::Instant::now();
    let (_tmp, dir, out) = run(&c, "t-http-dead");
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(255), "{out:?}");
    assert!(stderr.contains("no node is running"), "{stderr}");
    for node in ["n1", "n2", "n3"] {
        assert!(
            stderr.contains(&format!(
                "{node}: node {node}: cannot open /data/db: disk on fire"
            )),
            "{node}: {stderr}"
        );
    }
    // Well inside the 60 s leader wait.
    assert!(took < std::time::Duration::from_secs(45), "took {took:?}");
    // The logs are kept with the results.
    let log = std::fs::read_to_string(dir.join("logs/n2.log")).unwrap();
    assert!(log.contains("starting node n2"), "{log}");
}

/// The set workload over `kind: http`: adds and whole-set reads described as requests to the
/// node's `POST /txn`. The correct node passes with every node killed twice; with lazy-fsync
/// planted in its command line, the killed nodes lose acknowledged adds and the run fails
/// naming them.
#[test]
fn the_set_workload_described_over_http_finds_lost_adds() {
    let mut set = campaign();
    set["name"] = "http-set".into();
    set["system"]["operations"] = serde_yaml::from_str(
        r#"
add: {method: POST, path: /txn, json: {ops: [[append, "{key}", "{value}"]]}, ok: [200]}
read_set: {method: POST, path: /txn, json: {ops: [[r, "{key}", null]]}, ok: [200], value: ops.0.2}
"#,
    )
    .unwrap();
    set["workload"] = serde_yaml::from_str("{kind: set, keys: 2}").unwrap();
    set["duration"] = "12s".into();
    set["quiet"] = "2s".into();
    set["nemesis"] = serde_yaml::from_str(
        "{schedule: [{at: 4s, duration: 2s, kill: all}, {at: 9s, duration: 2s, kill: all}]}",
    )
    .unwrap();
    let (_tmp, dir, out) = run(&set, "t-http-set");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let r = results(&dir);
    assert!(r["stats"]["ok"].as_u64() > Some(50), "{}", r["stats"]);

    let mut buggy = set;
    let command = buggy["system"]["command"].as_sequence_mut().unwrap();
    command.push("--unsafe-bug".into());
    command.push("lazy-fsync".into());
    let (_tmp, dir, out) = run(&buggy, "t-http-set-bug");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let r = results(&dir);
    let set_checker = r["checkers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "set")
        .unwrap_or_else(|| panic!("no set checker in {}", r["checkers"]));
    assert_eq!(set_checker["valid"], false, "{set_checker}");
    assert!(
        set_checker["summary"].as_str().unwrap().contains("lost"),
        "{set_checker}"
    );
}
