//! Clusters against the real Docker Engine, driven through the CLI as an operator would.
//! Each test uses its own cluster name and removes it on the way out, pass or fail. When Docker
//! is unreachable these tests fail with a message saying so; they never skip.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::docker_objects::assert_nothing_left;

const BIN: &str = env!("CARGO_BIN_EXE_faultline");

pub(crate) fn faultline(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("FAULTLINE_LOG", "warn")
        .env_remove("FAULTLINE_CLUSTER")
        .output()
        .expect("running faultline")
}

/// Runs a command that must succeed; returns its stdout.
pub(crate) fn ok(args: &[&str]) -> String {
    let out = faultline(args);
    assert!(
        out.status.success(),
        "faultline {} exited {:?}\nstdout: {}\nstderr: {}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds the node image once per test binary (idempotent: a no-op when up to date), and fails
/// loudly when Docker cannot be reached.
fn image() -> &'static str {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let out = faultline(&["image", "build"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true");
            panic!(
                "these tests need a reachable Docker Engine{}; `faultline image build` failed:\n{stderr}",
                if ci { " (CI=true)" } else { "" }
            );
        }
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    })
}

/// A cluster for one test: removed when the test ends, however it ends.
pub(crate) struct TestCluster {
    pub(crate) name: String,
}

impl TestCluster {
    pub(crate) fn up(name: &str, extra: &[&str]) -> TestCluster {
        let image = image();
        // A cluster left by an interrupted earlier run of this same test.
        ok(&["cluster", "down", "--name", name]);
        let cluster = TestCluster {
            name: name.to_string(),
        };
        let mut args = vec!["cluster", "up", "--name", name, "--image", image];
        args.extend_from_slice(extra);
        ok(&args);
        cluster
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend_from_slice(&["--cluster", &self.name]);
        faultline(&all)
    }

    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let mut all: Vec<&str> = args.to_vec();
        all.extend_from_slice(&["--cluster", &self.name]);
        ok(&all)
    }

    pub(crate) fn status(&self) -> Value {
        let out = ok(&["cluster", "status", "--name", &self.name, "--json"]);
        serde_json::from_str(&out).expect("status --json is JSON")
    }

    pub(crate) fn node<'a>(status: &'a Value, name: &str) -> &'a Value {
        status["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == name)
            .unwrap_or_else(|| panic!("no node {name} in {status}"))
    }

    fn addr(&self, node: &str) -> SocketAddr {
        Self::node(&self.status(), node)["addr"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    /// Polls the status until `pred` holds; panics with the last status after `timeout`.
    fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.status();
            if pred(&status) {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what}; last status: {status:#}"
            );
            std::thread::sleep(Duration::from_millis(100)); // poll again, before the deadline
        }
    }

    pub(crate) fn leader(&self) -> String {
        let status = self.wait_for("a leader", Duration::from_secs(15), |s| {
            s["leader"].is_string()
        });
        status["leader"].as_str().unwrap().to_string()
    }

    /// Every node running, one leader all agree on, and every node applied as far as the leader.
    pub(crate) fn wait_converged(&self, timeout: Duration) -> Value {
        self.wait_for("the cluster to converge", timeout, |s| {
            let Some(leader) = s["leader"].as_str() else {
                return false;
            };
            let nodes = s["nodes"].as_array().unwrap();
            let applied = Self::node(s, leader)["applied_index"].as_u64();
            nodes.iter().all(|n| {
                n["state"] == "running"
                    && n["leader"] == leader
                    && n["applied_index"].as_u64() == applied
            })
        })
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        let out = faultline(&["cluster", "down", "--name", &self.name]);
        if !out.status.success() && !std::thread::panicking() {
            panic!(
                "cluster down --name {} failed: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// One HTTP/1.1 request straight to a node, bypassing the CLI's leader search.
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(6)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

#[test]
fn up_put_get_and_down_leaves_nothing() {
    let name = "test-life";
    {
        let cluster = TestCluster::up(name, &[]);
        // `up` returned with a leader; on a loaded machine leadership may move right after, so
        // wait for one rather than expect it.
        cluster.leader();
        let status = cluster.status();
        assert_eq!(status["nodes"].as_array().unwrap().len(), 3);
        for n in status["nodes"].as_array().unwrap() {
            assert_eq!(n["state"], "running");
            assert!(n["addr"].as_str().unwrap().ends_with(":7000"));
        }

        assert_eq!(
            cluster.ok(&["kv", "put", "greeting", "hello world"]).trim(),
            "ok"
        );
        assert_eq!(cluster.ok(&["kv", "get", "greeting"]), "hello world\n");
        assert_eq!(cluster.ok(&["kv", "get", "absent-key"]), "");
        assert_eq!(
            cluster
                .ok(&[
                    "kv",
                    "cas",
                    "greeting",
                    "--from",
                    "hello world",
                    "--to",
                    "bye"
                ])
                .trim(),
            "ok"
        );
        let mismatch = cluster.run(&["kv", "cas", "greeting", "--from", "nope", "--to", "x"]);
        assert_eq!(mismatch.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&mismatch.stdout).contains("current value is bye"));

        // A second cluster of the same name is refused, and the first one is left alone.
        let clash = faultline(&["cluster", "up", "--name", name, "--image", image()]);
        assert_eq!(clash.status.code(), Some(255));
        assert!(String::from_utf8_lossy(&clash.stderr).contains("already exists"));
        assert_eq!(cluster.ok(&["kv", "get", "greeting"]), "bye\n");

        let ls = ok(&["cluster", "ls", "--json"]);
        let ls: Value = serde_json::from_str(&ls).unwrap();
        let mine = ls
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .expect("ls lists the cluster");
        assert_eq!(
            (mine["nodes"].as_u64(), mine["running"].as_u64()),
            (Some(3), Some(3))
        );

        let dir = tempfile::tempdir().unwrap();
        let out = ok(&[
            "cluster",
            "logs",
            "--name",
            name,
            "--out",
            dir.path().to_str().unwrap(),
        ]);
        assert_eq!(out.lines().count(), 3);
        let n1_log = std::fs::read_to_string(dir.path().join("n1.log")).unwrap();
        assert!(!n1_log.is_empty(), "n1 logged nothing");
        assert_eq!(ok(&["cluster", "logs", "n1", "--name", name]), n1_log);
    }
    // The guard ran `down`: nothing labelled for this cluster remains.
    assert_nothing_left(name);
}

#[test]
fn down_with_kept_volumes_lets_the_next_up_resume_the_data() {
    let name = "test-keep";
    {
        let cluster = TestCluster::up(name, &[]);
        cluster.ok(&["kv", "put", "k", "durable"]);
        ok(&["cluster", "down", "--name", name, "--keep-volumes"]);
        let ls: Value = serde_json::from_str(&ok(&["cluster", "ls", "--json"])).unwrap();
        let kept = ls
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap();
        assert_eq!(
            (kept["nodes"].as_u64(), kept["volumes"].as_u64()),
            (Some(0), Some(3))
        );

        // Another cluster started meanwhile must not take the subnet the kept data's nodes
        // are addressed on (regression: it did, and the resumed nodes never found each other).
        let squatter = TestCluster::up("test-keep-other", &["--idle", "--nodes", "1"]);

        // The same guard still owns the name: it removes the new cluster and the volumes.
        ok(&["cluster", "up", "--name", name, "--image", image()]);
        drop(squatter);
        assert_eq!(cluster.ok(&["kv", "get", "k"]), "durable\n");
    }
    assert_nothing_left(name);
}

#[test]
fn killing_the_leader_elects_another_and_keeps_the_write() {
    let cluster = TestCluster::up("test-kill", &[]);
    cluster.ok(&["kv", "put", "k", "v1"]);
    let old = cluster.leader();

    let killed_at = Instant::now();
    cluster.ok(&["fault", "kill", &old]);
    let status = cluster.wait_for("a new leader", Duration::from_secs(10), |s| {
        s["leader"].is_string() && s["leader"] != old.as_str()
    });
    let took = killed_at.elapsed();
    assert!(took < Duration::from_secs(10), "new leader after {took:?}");
    assert_eq!(TestCluster::node(&status, &old)["state"], "exited");
    assert_eq!(status["faults"]["killed"], serde_json::json!([old]));
    assert_eq!(cluster.ok(&["kv", "get", "k"]), "v1\n");

    // Back from the dead with its volume: it rejoins and catches up.
    cluster.ok(&["kv", "put", "k", "v2"]);
    cluster.ok(&["fault", "start", &old]);
    cluster.wait_converged(Duration::from_secs(20));
    let (code, body) = http(cluster.addr(&old), "GET", "/kv/k", "").unwrap();
    assert_eq!((code, body.contains("\"v2\"")), (200, true), "{body}");
}

/// The path a remote engine (`DOCKER_HOST=tcp://..`) or Docker Desktop takes, forced here: each
/// node's client port is published on the engine's host and dialled there, by hand and by a run,
/// and a killed node comes back on the same port.
#[test]
fn published_ports_reach_the_nodes_across_a_kill_and_a_run() {
    let name = "test-published";
    {
        let cluster = TestCluster::up(name, &["--reach", "published"]);
        let status = cluster.status();
        let mut ports = Vec::new();
        for n in status["nodes"].as_array().unwrap() {
            let addr: SocketAddr = n["addr"].as_str().unwrap().parse().unwrap();
            assert!(addr.ip().is_loopback(), "{n}");
            assert!(
                n["network_addr"].as_str().unwrap().ends_with(":7000"),
                "{n}"
            );
            ports.push(addr.port());
        }
        cluster.ok(&["kv", "put", "k", "v1"]);
        let old = cluster.leader();
        let before = cluster.addr(&old);
        cluster.ok(&["fault", "kill", &old]);
        cluster.wait_for("a new leader", Duration::from_secs(15), |s| {
            s["leader"].is_string() && s["leader"] != old.as_str()
        });
        cluster.ok(&["kv", "put", "k", "v2"]);
        cluster.ok(&["fault", "start", &old]);
        cluster.wait_converged(Duration::from_secs(20));
        assert_eq!(cluster.addr(&old), before, "the restarted node moved");
        let (code, body) = http(before, "GET", "/kv/k", "").unwrap();
        assert_eq!((code, body.contains("\"v2\"")), (200, true), "{body}");
    }
    assert_nothing_left(name);

    // A whole run the same way: clients, the leader probe and the final reads over published
    // ports, with a node killed and started again on its port.
    let dir = tempfile::tempdir().unwrap();
    let campaign = dir.path().join("published.yaml");
    std::fs::write(
        &campaign,
        "name: published\nseed: 3\ncluster: {nodes: 3, name: test-published-run}\n\
         workload: {kind: register, keys: 2}\nconcurrency: 3\nduration: 8s\nquiet: 2s\n\
         nemesis: {faults: [{kill: random-node}], interval: 3s, duration: 2s}\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args([
            "test",
            campaign.to_str().unwrap(),
            "--no-progress",
            "--image",
            image(),
        ])
        .args([
            "--reach",
            "published",
            "--out",
            dir.path().to_str().unwrap(),
        ])
        .env("FAULTLINE_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("published/latest/results.json")).unwrap(),
    )
    .unwrap();
    assert!(
        results["stats"]["ok"].as_u64().unwrap() > 50,
        "{}",
        results["stats"]
    );
    assert_nothing_left("test-published-run");
}

#[test]
fn a_paused_follower_is_frozen_then_resumes() {
    let cluster = TestCluster::up("test-pause", &[]);
    let leader = cluster.leader();
    let follower = if leader == "n1" { "n2" } else { "n1" };

    cluster.ok(&["fault", "pause", follower]);
    let status = cluster.status();
    assert_eq!(TestCluster::node(&status, follower)["state"], "paused");
    assert_eq!(status["faults"]["paused"], serde_json::json!([follower]));
    // A frozen process does not answer, even to a plain TCP connection's request.
    assert!(http(cluster.addr(follower), "GET", "/status", "").is_err());
    // The two others are a majority: writes still commit.
    cluster.ok(&["kv", "put", "during-pause", "yes"]);

    cluster.ok(&["fault", "resume", follower]);
    let status = cluster.wait_converged(Duration::from_secs(20));
    assert_eq!(status["faults"]["paused"], serde_json::json!([]));
    let (code, body) = http(cluster.addr(follower), "GET", "/kv/during-pause", "").unwrap();
    assert_eq!((code, body.contains("\"yes\"")), (200, true), "{body}");
}

#[test]
fn an_isolated_leader_cannot_commit_and_the_majority_moves_on() {
    let cluster = TestCluster::up("test-isolate", &[]);
    cluster.ok(&["kv", "put", "k", "before"]);
    let old = cluster.leader();
    let old_addr = cluster.addr(&old);

    let out = cluster.ok(&["fault", "partition", "--isolate", &old]);
    assert!(out.contains(&format!("partitioned {old} /")), "{out}");
    let status = cluster.wait_for(
        "the majority to elect a leader",
        Duration::from_secs(15),
        |s| s["leader"].is_string() && s["leader"] != old.as_str(),
    );
    let grudge = &status["faults"]["partition"];
    assert_eq!(grudge[&old].as_array().unwrap().len(), 2, "{grudge}");

    // The old leader alone is no quorum: a write sent straight to it never succeeds.
    // (A timed-out request is no commit either.)
    if let Ok((code, body)) = http(old_addr, "PUT", "/kv/k", "from-the-minority") {
        assert_ne!(code, 200, "the isolated node committed: {body}");
    }
    cluster.ok(&["kv", "put", "k", "after"]);

    cluster.ok(&["fault", "heal"]);
    let status = cluster.wait_converged(Duration::from_secs(20));
    assert!(
        status["faults"]["partition"]
            .as_object()
            .unwrap()
            .is_empty(),
        "{status}"
    );
    assert_ne!(status["leader"], serde_json::Value::Null);
    for n in ["n1", "n2", "n3"] {
        let (code, body) = http(cluster.addr(n), "GET", "/kv/k", "").unwrap();
        assert_eq!(
            (code, body.contains("\"after\"")),
            (200, true),
            "{n}: {body}"
        );
    }
}

/// Partition rules, read back from the nodes, without needing a working node: the containers
/// run `sleep` instead. Covers the paused-node path (a helper container joins the namespace).
#[test]
fn partition_rules_are_exact_and_heal_removes_them() {
    let cluster = TestCluster::up("test-rules", &["--idle", "--nodes", "4"]);
    let out = cluster.ok(&["fault", "partition", "--groups", "n1,n2/n3,n4"]);
    assert!(
        out.contains(
            "faults: partition: n1 drops n3,n4; n2 drops n3,n4; n3 drops n1,n2; n4 drops n1,n2"
        ),
        "{out}"
    );

    cluster.ok(&["fault", "pause", "n4"]);
    let out = cluster.ok(&["fault", "partition", "--isolate", "n4"]);
    assert!(out.contains("paused n4"), "{out}");
    assert!(out.contains("n4 drops n1,n2,n3"), "{out}");

    cluster.ok(&["fault", "kill", "n1"]);
    let out = cluster.ok(&["fault", "heal"]);
    assert!(out.contains("faults: killed n1; paused n4"), "{out}");

    // Repeating a fault is a no-op; pausing a killed node fails at once, saying why.
    cluster.ok(&["fault", "kill", "n1"]);
    cluster.ok(&["fault", "pause", "n4"]);
    cluster.ok(&["fault", "resume", "n2"]);
    let started = Instant::now();
    let bad = cluster.run(&["fault", "pause", "n1"]);
    assert_eq!(bad.status.code(), Some(255));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("start it first"));
    assert!(started.elapsed() < Duration::from_secs(5));

    let bad = cluster.run(&["fault", "pause", "n9"]);
    assert_eq!(bad.status.code(), Some(254));
    let bad = cluster.run(&["fault", "partition", "--groups", "n1/n2"]);
    assert_eq!(bad.status.code(), Some(254));
}

#[test]
fn a_missing_image_or_cluster_exits_255_saying_what_to_run() {
    image(); // fails loudly first when Docker is unreachable
    let out = faultline(&[
        "cluster",
        "up",
        "--name",
        "test-noimage",
        "--image",
        "faultline/node:does-not-exist",
    ]);
    assert_eq!(out.status.code(), Some(255));
    assert!(String::from_utf8_lossy(&out.stderr).contains("faultline image build"));
    let out = faultline(&["cluster", "status", "--name", "test-nosuch"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("faultline cluster up --name test-nosuch")
    );
    let out = faultline(&["kv", "get", "k", "--cluster", "test-nosuch"]);
    assert_eq!(out.status.code(), Some(255));
}

/// A container that faultline did not make is never touched, even when it bears the name of a
/// helper faultline would start (regression: `fault` on a paused node force-removed it).
#[test]
fn an_unlabelled_container_named_like_a_helper_is_left_alone() {
    let cluster = TestCluster::up("test-foreign", &["--idle", "--nodes", "2"]);
    let foreign = "faultline-test-foreign-n2-netns";
    let docker = |args: &[&str]| {
        Command::new("docker")
            .args(args)
            .output()
            .expect("running the docker CLI")
    };
    let created = docker(&["create", "--name", foreign, image(), "sleep", "1"]);
    assert!(created.status.success(), "{created:?}");
    struct Remove(&'static str);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = Command::new("docker").args(["rm", "-f", self.0]).output();
        }
    }
    let _remove = Remove(foreign);
    cluster.ok(&["fault", "pause", "n2"]);
    // A partition of a paused node needs the helper: it is refused, saying why.
    let bad = cluster.run(&["fault", "partition", "--isolate", "n2"]);
    assert_eq!(bad.status.code(), Some(255), "{bad:?}");
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("was not made by faultline"), "{stderr}");
    let still = docker(&["inspect", "--format", "{{.Name}}", foreign]);
    assert!(still.status.success(), "the foreign container was removed");
}

/// `cluster down` blocked by a container faultline did not make (attached to the cluster's
/// network, using a node's volume): the rest is removed, the exit is 254 with a message naming
/// the container and what to do, never a raw Docker error, and the container is left running.
/// Once the user removed it, `down` finishes the job.
#[test]
fn cluster_down_blocked_by_a_foreign_container_names_it_and_leaves_it() {
    let name = "rb-down-foreign";
    let intruder = "rb-down-foreign-intruder";
    let docker = |args: &[&str]| {
        Command::new("docker")
            .args(args)
            .output()
            .expect("running the docker CLI")
    };
    struct Remove(&'static str);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = Command::new("docker").args(["rm", "-f", self.0]).output();
        }
    }
    // One left by an interrupted earlier run, before the cluster's own `down` meets it.
    drop(Remove(intruder));
    let cluster = TestCluster::up(name, &["--idle", "--nodes", "1"]);
    // Dropped before the cluster, so that its `down` finds nothing in the way.
    let _remove = Remove(intruder);
    let network = format!("faultline-{name}");
    let volume = format!("faultline-{name}-n1-data");
    let started = docker(&[
        "run",
        "-d",
        "--name",
        intruder,
        "--network",
        &network,
        "-v",
        &format!("{volume}:/mnt"),
        "--entrypoint",
        "sleep",
        image(),
        "600",
    ]);
    assert!(started.status.success(), "{started:?}");

    let out = faultline(&["cluster", "down", "--name", name]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(254), "{out:?}");
    for needle in [
        "only partly removed (1 containers",
        &format!("network {network} has containers attached: {intruder} ("),
        &format!("volume {volume} is used by: {intruder} ("),
        &format!("docker network disconnect {network} {intruder}"),
        "never removes what it did not make",
        &format!("faultline cluster down --name {name}` again"),
    ] {
        assert!(stderr.contains(needle), "{needle:?} in\n{stderr}");
    }
    for noise in ["Docker responded", "status code", "panicked", "backtrace"] {
        assert!(!stderr.contains(noise), "{noise:?} in\n{stderr}");
    }
    let running = docker(&["inspect", "--format", "{{.State.Running}}", intruder]);
    assert_eq!(
        String::from_utf8_lossy(&running.stdout).trim(),
        "true",
        "the foreign container was stopped or removed: {running:?}"
    );
    let node = docker(&["inspect", &format!("faultline-{name}-n1")]);
    assert!(!node.status.success(), "the cluster's own node was left");

    let removed = docker(&["rm", "-f", intruder]);
    assert!(removed.status.success(), "{removed:?}");
    let again = faultline(&["cluster", "down", "--name", name]);
    assert_eq!(again.status.code(), Some(0), "{again:?}");
    assert_nothing_left(name);
    drop(cluster);
}
