//! Clock faults against the real Docker Engine: one node's clock moved through libfaketime's
//! control file, seen in the time the node reports while its peers keep real time, and put back
//! by heal, or made to run fast or slow. Cluster names start `lk-` (`ck-` for the rate); each test
//! removes its cluster, pass or fail.

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
        std::thread::sleep(Duration::from_millis(100)); // poll again, before the deadline
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
    assert_eq!(control_file(&name, "n1"), "# faultline clock +20s\n+20s x1");
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
        "# faultline clock +0s\n+0s x1",
        "heal leaves real time (and real rate) in the control file"
    );
    let after = wait_skews(&cluster, |_| 0.0);
    eprintln!("after heal: {after:?}");
    // The cluster still works after its clocks came back.
    cluster.wait_converged(Duration::from_secs(30));
}

/// Each node's reported time and this host's, in ms (the host's halfway through the status
/// request).
fn times(cluster: &TestCluster) -> Vec<(String, f64, f64)> {
    let t0 = now_ms();
    let status = cluster.status();
    let t1 = now_ms();
    status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["name"].as_str().unwrap().to_string(),
                n["time_ms"].as_f64().expect("every node reports its time"),
                (t0 + t1) / 2.0,
            )
        })
        .collect()
}

/// Polls every node's time until `node`'s rate over the last 1.5 s is `want` (± 0.1), and
/// returns the latest sample: libfaketime rereads its control file within two seconds and
/// gives no other sign that it did.
fn wait_rate(cluster: &TestCluster, node: &str, want: f64) -> Vec<(String, f64, f64)> {
    let deadline = Instant::now() + Duration::from_secs(15);
    let of = |sample: &[(String, f64, f64)]| {
        let t = sample
            .iter()
            .find(|t| t.0 == node)
            .expect("the node reports");
        (t.1, t.2)
    };
    let mut samples: std::collections::VecDeque<Vec<(String, f64, f64)>> = Default::default();
    loop {
        let now = times(cluster);
        let (node1, host1) = of(&now);
        while samples.len() > 1 && host1 - of(&samples[1]).1 >= 1500.0 {
            samples.pop_front();
        }
        if let Some((node0, host0)) = samples.front().map(|s| of(s)) {
            let rate = (node1 - node0) / (host1 - host0);
            if host1 - host0 >= 1500.0 && (rate - want).abs() < 0.1 {
                return now;
            }
            assert!(
                Instant::now() < deadline,
                "{node} never ran at x{want}: x{rate:.3} over the last {:.1} s",
                (host1 - host0) / 1000.0
            );
        }
        samples.push_back(now);
        std::thread::sleep(Duration::from_millis(250)); // poll again, before the deadline
    }
}

/// Samples every node's time once `span` of host time has passed since `first` was taken:
/// the rate is measured over that span, so time passing is the condition.
fn sample_after(
    cluster: &TestCluster,
    first: &[(String, f64, f64)],
    span: Duration,
) -> Vec<(String, f64, f64)> {
    let since = first[0].2;
    loop {
        let now = times(cluster);
        if now[0].2 - since >= span.as_secs_f64() * 1000.0 {
            return now;
        }
        std::thread::sleep(Duration::from_millis(200)); // poll again until the span has passed
    }
}

#[test]
fn a_clock_rate_skews_one_nodes_time_and_heal_puts_it_back() {
    let cluster = TestCluster::up("ck-rate", &["--clock-faults"]);
    let name = cluster.name.clone();
    wait_skews(&cluster, |_| 0.0);
    let fault_at = now_ms();
    let out = cluster.ok(&["fault", "clock", "n2", "--rate", "2"]);
    assert!(
        out.contains("moved the clock of n2 by +0s, running at x2"),
        "{out}"
    );
    assert!(out.contains("faults: clock: n2 +0s x2"), "{out}");
    let file = control_file(&name, "n2");
    assert!(
        file.starts_with("# faultline clock +0s x2 since "),
        "{file}"
    );
    // Once libfaketime rereads its file, n2 runs twice as fast, with no jump of the node's
    // uptime (the file's offset cancels it): its skew is at most the time since the fault,
    // plus the reading's second of slack.
    let first = wait_rate(&cluster, "n2", 2.0);
    let (skew0, host0) = first
        .iter()
        .find(|t| t.0 == "n2")
        .map(|t| (t.1 - t.2, t.2))
        .unwrap();
    assert!(
        skew0.abs() < host0 - fault_at + 1_000.0,
        "n2 jumped by {skew0} ms {} ms after the fault: {first:?}",
        host0 - fault_at
    );
    let last = sample_after(&cluster, &first, Duration::from_secs(6));
    for ((n, node0, host0), (_, node1, host1)) in first.iter().zip(&last) {
        let rate = (node1 - node0) / (host1 - host0);
        eprintln!("{n}: x{rate:.3} over {:.1} s", (host1 - host0) / 1000.0);
        let want = if n == "n2" { 2.0 } else { 1.0 };
        assert!(
            (rate - want).abs() < 0.1,
            "{n} ran at x{rate:.3}, not x{want}"
        );
    }
    // Slow, with an offset, replacing the skew.
    let slow_at = now_ms();
    cluster.ok(&["fault", "clock", "n2", "--rate", "0.5", "--offset=-10s"]);
    let first = wait_rate(&cluster, "n2", 0.5);
    let last = sample_after(&cluster, &first, Duration::from_secs(6));
    let (n2a, n2b) = (
        first.iter().find(|t| t.0 == "n2").unwrap(),
        last.iter().find(|t| t.0 == "n2").unwrap(),
    );
    let rate = (n2b.1 - n2a.1) / (n2b.2 - n2a.2);
    assert!((rate - 0.5).abs() < 0.1, "n2 ran at x{rate:.3}, not x0.5");
    let skew = (n2b.1 - n2b.2) / 1000.0;
    assert!(
        (-20.0..-10.0).contains(&skew),
        "n2 reads {skew:+.1}s: -10s and slower since"
    );
    // A node started again during the skew goes on where the rate says (its new process gets
    // the file rewritten), not from a jump of its uptime.
    cluster.ok(&["fault", "restart", "n2"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let restarted = loop {
        let t0 = now_ms();
        let status = cluster.status();
        let t1 = now_ms();
        let n2 = status["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == "n2")
            .and_then(|n| n["time_ms"].as_f64());
        if let Some(t) = n2 {
            break (t, (t0 + t1) / 2.0);
        }
        assert!(Instant::now() < deadline, "n2 never came back: {status}");
        std::thread::sleep(Duration::from_millis(200)); // poll again, before the deadline
    };
    // What the skew should be at a host time: -10 s at the fault, then half a second lost
    // every second.
    let want = |host: f64| -10.0 - 0.5 * (host - slow_at) / 1000.0;
    let answered = [("n2".to_string(), restarted.0, restarted.1)];
    let again = sample_after(&cluster, &answered, Duration::from_millis(2500));
    let n2 = again.iter().find(|t| t.0 == "n2").unwrap();
    for (when, node, host) in [
        ("as it answered again", restarted.0, restarted.1),
        ("2.5 s later", n2.1, n2.2),
    ] {
        let skew = (node - host) / 1000.0;
        eprintln!(
            "after restart, {when}: n2 reads {skew:+.1}s (expected about {:+.1}s)",
            want(host)
        );
        assert!(
            (skew - want(host)).abs() < 3.0,
            "n2 reads {skew:+.1}s {when} after its restart, expected about {:+.1}s",
            want(host)
        );
    }
    // Bad rates are refused with 254, naming the flag.
    for bad in ["0", "-2", "1", "100"] {
        let out = cluster.run(&["fault", "clock", "n1", &format!("--rate={bad}")]);
        assert_eq!(out.status.code(), Some(254), "--rate {bad}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--rate"));
    }
    // The cluster still works with a skewed clock, and heal puts it back entirely.
    cluster.wait_converged(Duration::from_secs(30));
    let healed = cluster.ok(&["fault", "heal"]);
    assert!(healed.contains("faults: none"), "{healed}");
    assert_eq!(control_file(&name, "n2"), "# faultline clock +0s\n+0s x1");
    wait_skews(&cluster, |_| 0.0);
    let first = times(&cluster);
    let last = sample_after(&cluster, &first, Duration::from_secs(3));
    for ((n, node0, host0), (_, node1, host1)) in first.iter().zip(&last) {
        let rate = (node1 - node0) / (host1 - host0);
        assert!(
            (rate - 1.0).abs() < 0.1,
            "after heal {n} runs at x{rate:.3}"
        );
    }
    let status = cluster.status();
    assert!(status["faults"]["clocks"].is_null(), "{status}");
    assert!(status["faults"]["clock_rates"].is_null(), "{status}");
    cluster.wait_converged(Duration::from_secs(30));
}
