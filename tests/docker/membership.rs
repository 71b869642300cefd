//! Membership faults against the real Docker Engine: a node taken out of the Raft
//! configuration and added back, a node replaced by an empty one that catches up from a
//! snapshot, by hand and in a campaign. Cluster names start `mb-`; each test removes its
//! cluster, pass or fail.

use std::process::Command;

use serde_json::Value;

use crate::cluster::{faultline, ok, TestCluster};

fn put(cluster: &str, key: &str, value: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .env("FAULTLINE_CLUSTER", cluster)
        .args(["kv", "put", key, value])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kv put {key}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn get(cluster: &str, key: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .env("FAULTLINE_CLUSTER", cluster)
        .args(["kv", "get", key])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_node_is_removed_added_back_and_replaced_by_an_empty_one_that_catches_up_by_snapshot() {
    let name = "mb-hand";
    // Snapshots every 20 entries and no log kept behind them: a node that joins empty can only
    // catch up from a snapshot.
    let cluster = TestCluster::up(
        name,
        &[
            "--node-arg=--snapshot-every",
            "--node-arg=20",
            "--node-arg=--snapshot-keep",
            "--node-arg=0",
        ],
    );
    let leader = cluster.leader();
    for i in 0..60 {
        put(name, &format!("k{i}"), &format!("v{i}"));
    }
    let follower = if leader == "n2" { "n3" } else { "n2" };

    let out = ok(&["cluster", "remove", follower, "--name", name]);
    assert!(out.contains("removed from the configuration"), "{out}");
    let status = cluster.status();
    assert_eq!(
        status["faults"]["out_of_config"],
        serde_json::json!([follower]),
        "{status:#}"
    );
    // The removed node runs on; the others commit without it.
    assert_eq!(TestCluster::node(&status, follower)["state"], "running");
    put(name, "while-out", "yes");

    let out = ok(&["cluster", "add", follower, "--name", name]);
    assert!(out.contains("voters n1,n2,n3"), "{out}");
    let status = cluster.status();
    assert!(
        status["faults"].get("out_of_config").is_none(),
        "{status:#}"
    );

    // Replace the leader itself: it leaves the configuration, an election follows, and a new
    // empty node in its place joins and catches up.
    let out = ok(&["cluster", "replace", &leader, "--name", name]);
    assert!(out.contains("voters n1,n2,n3"), "{out}");
    let status = cluster.wait_converged(std::time::Duration::from_secs(30));
    let replaced = TestCluster::node(&status, &leader);
    assert!(
        replaced["snapshots_installed"].as_u64() >= Some(1),
        "the new node caught up by snapshot: {status:#}"
    );
    assert_eq!(get(name, "k7"), "v7");
    assert_eq!(get(name, "while-out"), "yes");
    // Every node votes again, and nothing else is in effect.
    assert_eq!(
        status["faults"],
        serde_json::json!({"killed": [], "paused": [], "partition": {}, "unreadable": []}),
        "{status:#}"
    );

    // Refused clearly: an unknown node (254), and removing every voter.
    let out = faultline(&["cluster", "remove", "n9", "--name", name]);
    assert_eq!(
        out.status.code(),
        Some(254),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = faultline(&["cluster", "remove", "n1", "n2", "n3", "--name", name]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("would leave no voter"), "{stderr}");
}

#[test]
fn a_campaign_removes_and_replaces_nodes_observes_both_and_ends_with_every_node_voting() {
    let name = "mb-campaign";
    let _ = faultline(&["cluster", "down", "--name", name]);
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("mb-campaign.yaml");
    std::fs::write(
        &path,
        "name: mb-campaign\nseed: 5\ncluster: {nodes: 3, snapshot_every: 50, snapshot_keep: 0}\n\
         workload: {kind: register, keys: 3}\nconcurrency: 3\nduration: 20s\nquiet: 3s\n\
         nemesis:\n  schedule:\n    - {at: 2s, duration: 6s, remove: leader}\n    \
         - {at: 11s, duration: 5s, replace: random-node}\n",
    )
    .unwrap();
    let out = tmp.path().join("results");
    let run = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .env("FAULTLINE_LOG", "warn")
        .args(["test", "--no-progress", "--out"])
        .arg(&out)
        .arg(&path)
        .output()
        .unwrap();
    let dir = std::fs::read_dir(out.join(name))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| !p.is_symlink())
        .expect("a run directory");
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{stdout}\n{}\nresults: {results:#}",
        String::from_utf8_lossy(&run.stderr)
    );
    for kind in ["remove", "replace"] {
        let c = &results["coverage"][kind];
        assert_eq!(
            (c["applied"].as_u64(), c["observed"].as_u64()),
            (Some(1), Some(1)),
            "{kind}: {results:#}"
        );
    }
    let faults = results["faults"].as_array().unwrap();
    let effect = |kind: &str| {
        faults
            .iter()
            .find(|f| f["kind"] == kind)
            .and_then(|f| f["effect"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        effect("remove").contains("out of the configuration"),
        "{results:#}"
    );
    assert!(
        effect("remove").contains("then"),
        "changed back: {results:#}"
    );
    assert!(
        effect("replace").contains("caught up by snapshot"),
        "the replacement joined from a snapshot: {results:#}"
    );
    assert!(
        results["modes"].get("remove-leader").is_some(),
        "{results:#}"
    );
    // The history records both windows as nemesis events.
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    for f in ["\"remove\"", "\"replace\""] {
        assert!(history.contains(f), "{f} in the history");
    }
    // The run removed its cluster.
    crate::util::docker_objects::assert_nothing_left(name);
}
