//! Clock faults against the real Docker Engine: one node's clock moved through libfaketime's
//! control file, seen in the time the node reports while its peers keep real time, and put back
//! by heal. Cluster names start `lk-`; each test removes its cluster, pass or fail.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::cluster::TestCluster;

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as f64
}

/// How far each node's reported clock is from this host's, in seconds, and how uncertain that
/// is (half the time the status took: the nodes answered somewhere in between).
fn skews(cluster: &TestCluster) -> (Vec<(String, Option<f64>)>, f64) {
    let t0 = now_ms();
    let status = cluster.status();
    let t1 = now_ms();
    let now = (t0 + t1) / 2.0;
    let nodes = status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["name"].as_str().unwrap().to_string(),
                n["time_ms"].as_f64().map(|t| (t - now) / 1000.0),
            )
        })
        .collect();
    (nodes, (t1 - t0) / 2000.0)
}

/// Polls until every node's skew is within a second (libfaketime rereads its control file once
/// a second) plus the reading's uncertainty of what `want` says for it.
fn wait_skews(cluster: &TestCluster, want: impl Fn(&str) -> f64) -> Vec<(String, Option<f64>)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (seen, uncertainty) = skews(cluster);
        if seen
            .iter()
            .all(|(n, s)| s.is_some_and(|s| (s - want(n)).abs() <= 1.0 + uncertainty))
        {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "clocks never reached what was asked: {seen:?} (± {uncertainty:.2} s)"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_cluster_started_without_clock_faults_refuses_to_move_a_clock() {
    let cluster = TestCluster::up("lk-noclock", &[]);
    let out = cluster.run(&["fault", "clock", "n1", "--offset", "+20s"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(254), "{stderr}");
    assert!(
        stderr.contains("started without libfaketime preloaded"),
        "{stderr}"
    );
    assert!(stderr.contains("--clock-faults"), "{stderr}");
    // Nothing was moved: every node keeps real time.
    wait_skews(&cluster, |_| 0.0);
    // etcd cannot take the preload: refused before anything starts.
    let etcd = crate::cluster::faultline(&[
        "cluster",
        "up",
        "--name",
        "lk-noclock-etcd",
        "--system",
        "etcd",
        "--clock-faults",
    ]);
    assert_eq!(etcd.status.code(), Some(254));
    assert!(
        String::from_utf8_lossy(&etcd.stderr).contains("etcd is a Go binary"),
        "{}",
        String::from_utf8_lossy(&etcd.stderr)
    );
    crate::util::docker_objects::assert_nothing_left("lk-noclock-etcd");
}

fn control_file(cluster: &str, node: &str) -> String {
    let out = std::process::Command::new("docker")
        .args([
            "exec",
            &format!("faultline-{cluster}-{node}"),
            "cat",
            "/etc/faultline-clock",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_clock_bump_moves_one_nodes_time_and_heal_puts_it_back() {
    let cluster = TestCluster::up("lk-clock", &["--clock-faults"]);
    let name = cluster.name.clone();
    // A fresh node keeps real time.
    let before = wait_skews(&cluster, |_| 0.0);
    eprintln!("before: {before:?}");
    let out = cluster.ok(&["fault", "clock", "n1", "--offset", "+20s"]);
    assert!(out.contains("moved the clock of n1 by +20s"), "{out}");
    assert!(out.contains("faults: clock: n1 +20s"), "{out}");
    assert_eq!(control_file(&name, "n1"), "+20s");
    // n1 reports a time 20 s ahead; its peers (and the host) keep theirs.
    let bumped = wait_skews(&cluster, |n| if n == "n1" { 20.0 } else { 0.0 });
    eprintln!("under +20s on n1: {bumped:?}");
    // Backwards too, replacing the shift.
    cluster.ok(&["fault", "clock", "n1", "--offset=-5s"]);
    let back = wait_skews(&cluster, |n| if n == "n1" { -5.0 } else { 0.0 });
    eprintln!("under -5s on n1: {back:?}");
    let bad = cluster.run(&["fault", "clock", "n1", "--offset", "0s"]);
    assert_eq!(bad.status.code(), Some(254));

    let healed = cluster.ok(&["fault", "heal"]);
    assert!(healed.contains("faults: none"), "{healed}");
    assert_eq!(
        control_file(&name, "n1"),
        "+0s",
        "heal leaves real time in the control file"
    );
    let after = wait_skews(&cluster, |_| 0.0);
    eprintln!("after heal: {after:?}");
    // The cluster still works after its clocks came back.
    cluster.wait_converged(Duration::from_secs(30));
}
