//! `faultline test` on etcd, end to end: the shipped etcd campaigns, each under a cluster name
//! of its own. etcd with linearizable reads passes with every fault kind applied and observed;
//! with serializable reads, partitions that isolate members expose stale reads, which
//! `results.json` and `report.html` show as a counterexample.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::util::docker_objects::assert_nothing_left;

/// Runs `tests/campaigns/<name>.yaml` (seed 1) as cluster `t-<name>`; the results directory and
/// the process's output.
fn run(name: &str) -> (tempfile::TempDir, PathBuf, Output) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join(format!("tests/campaigns/{name}.yaml"))).unwrap();
    let mut campaign: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    campaign["cluster"]["name"] = format!("t-{name}").into();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(format!("{name}.yaml"));
    std::fs::write(&path, serde_yaml::to_string(&campaign).unwrap()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("test")
        .arg(&path)
        .args(["--seed", "1", "--no-progress", "--out"])
        .arg(tmp.path().join("results"))
        .env("FAULTLINE_LOG", "warn")
        .output()
        .expect("running faultline test");
    let dir = tmp.path().join("results").join(name).join("latest");
    assert_nothing_left(&format!("t-{name}"));
    (tmp, dir, out)
}

fn results(dir: &Path) -> Value {
    let path = dir.join("results.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn etcd_stays_linearizable_under_kills_pauses_and_partitions() {
    let (_tmp, dir, out) = run("etcd");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = results(&dir);
    assert_eq!(r["valid"], true);
    assert!(
        r["target"].as_str().unwrap().contains("etcd"),
        "{}",
        r["target"]
    );
    for kind in ["kill", "pause", "partition"] {
        let c = &r["coverage"][kind];
        assert!(
            c["applied"].as_u64() > Some(0) && c["observed"] == c["applied"],
            "{kind}: {c}"
        );
    }
    let lin = r["checkers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "linearizability")
        .unwrap();
    assert!(lin["detail"]["ops"].as_u64() > Some(1000), "{lin}");
}

#[test]
fn etcd_serializable_reads_are_caught_stale() {
    let (_tmp, dir, out) = run("etcd-serializable");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let r = results(&dir);
    assert_eq!(r["valid"], false);
    let lin = r["checkers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "linearizability")
        .unwrap();
    assert_eq!(lin["valid"], false, "{lin}");
    let cx = &lin["detail"]["counterexample"];
    let ops = cx["ops"].as_array().unwrap();
    assert!(
        ops.iter()
            .any(|o| o["op"].as_str().is_some_and(|op| op.starts_with("read"))),
        "no read in the counterexample: {cx}"
    );
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("INVALID") && html.contains("id=\"counterexample\""));
}

/// etcd's v2 keys API described as `kind: http` (form bodies, nested values, 404 and 412, the
/// leader from each member's own stats): the generic adapter drives a real system that was not
/// written for faultline, through kills, pauses and partitions, and etcd stays linearizable.
#[test]
fn etcd_v2_described_over_http_passes() {
    // The campaign names faultline/etcd:latest, which building the etcd image tags.
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async {
            let docker = faultline::cluster::docker::connect().await?;
            faultline::system::etcd::image::ensure(&docker, None).await
        })
        .expect("building the etcd image");
    let (_tmp, dir, out) = run("etcd-v2-http");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = results(&dir);
    assert!(
        r["target"].as_str().unwrap().contains("over http"),
        "{}",
        r["target"]
    );
    for kind in ["kill", "pause", "partition"] {
        let c = &r["coverage"][kind];
        assert!(c["observed"].as_u64() > Some(0), "{kind}: {c}");
    }
}

/// `bench node` measures etcd and faultline's node the same way: Docker clusters of their own
/// images, driven through each system's workload client; every request of both phases succeeds
/// and nothing is left behind.
#[test]
fn bench_node_drives_etcd_and_faultline_through_their_clients() {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["bench", "node", "--docker", "--system", "faultline"])
        .args([
            "--system",
            "etcd-serializable",
            "--seconds",
            "1",
            "--clients",
            "4",
        ])
        .env("FAULTLINE_LOG", "warn")
        .output()
        .expect("running faultline bench node");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for system in ["faultline", "etcd-serializable"] {
        for phase in ["write", "read"] {
            let line = stdout
                .lines()
                .find(|l| l.starts_with(&format!("{system} ")) && l.contains(&format!(" {phase} ")))
                .unwrap_or_else(|| panic!("no {system} {phase} line in\n{stdout}"));
            let cols: Vec<&str> = line.split_whitespace().collect();
            let ops: u64 = cols[2].parse().unwrap();
            assert!(ops > 0, "{line}");
            assert_eq!(cols[7], "0", "failed requests: {line}\n{}", text(&out));
        }
    }
    let ls = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["cluster", "ls", "--json"])
        .output()
        .unwrap();
    let ls: Value = serde_json::from_slice(&ls.stdout).unwrap();
    assert!(
        !ls.as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"].as_str().unwrap().starts_with("bench-node-")),
        "a bench cluster was left: {ls}"
    );
}
