//! Link faults against the real Docker Engine: loss measured by a datagram loop from one node's
//! namespace to another's address, bandwidth measured by a timed transfer, delay refused on a
//! host without netem, and each healed completely (no rule, chain entry or qdisc left). Cluster
//! names start `lk-`; each test removes its cluster on the way out, pass or fail.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::cluster::{faultline, TestCluster};

/// Runs `script` with `sh -c` inside a node's container (its network namespace).
fn in_node(cluster: &str, node: &str, script: &str) -> Output {
    Command::new("docker")
        .args([
            "exec",
            &format!("faultline-{cluster}-{node}"),
            "sh",
            "-c",
            script,
        ])
        .output()
        .expect("running docker exec")
}

fn in_node_ok(cluster: &str, node: &str, script: &str) -> String {
    let out = in_node(cluster, node, script);
    assert!(
        out.status.success(),
        "in {node}: {script}\nexit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn spawn_in_node(cluster: &str, node: &str, script: &str) -> Child {
    Command::new("docker")
        .args([
            "exec",
            &format!("faultline-{cluster}-{node}"),
            "sh",
            "-c",
            script,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running docker exec")
}

/// A node's address on the cluster network.
fn ip(cluster: &TestCluster, node: &str) -> String {
    let status = cluster.status();
    let n = status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == node)
        .unwrap_or_else(|| panic!("no {node} in {status}"));
    let addr = n["network_addr"].as_str().or(n["addr"].as_str()).unwrap();
    addr.rsplit_once(':').unwrap().0.to_string()
}

/// Polls until `port` is bound (UDP) or listening (TCP, per `table`) in the node, failing
/// after 10 s.
fn wait_bound(cluster: &str, node: &str, table: &str, port: u16) {
    let hex = format!(":{port:04X}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = in_node_ok(cluster, node, &format!("cat /proc/net/{table}"));
        let ready = out.lines().any(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.len() > 3 && w[1].ends_with(&hex) && (table == "udp" || w[3] == "0A")
        });
        if ready {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{node} never bound {table} port {port}"
        );
        std::thread::sleep(Duration::from_millis(50)); // poll again, before the deadline
    }
}

const UDP_PORT: u16 = 9999;
const SENT: u32 = 1000;

/// Sends `SENT` numbered datagrams from `from`'s namespace to `to`'s address and returns the share
/// lost on the way, as the receiver counted (it stops after 2 s of silence).
fn measured_loss(cluster: &TestCluster, from: &str, to: &str) -> f64 {
    let name = &cluster.name;
    let server = spawn_in_node(
        name,
        to,
        &format!(
            "perl -MIO::Socket::INET -MIO::Select -e '$s=IO::Socket::INET->new(LocalPort=>{UDP_PORT},Proto=>\"udp\") or die \"bind: $!\"; \
             $sel=IO::Select->new($s); $n=0; while($sel->can_read(2)){{ $s->recv($m,64); $n++ if $m=~/^lk/ }} print \"$n\\n\"'"
        ),
    );
    wait_bound(name, to, "udp", UDP_PORT);
    let to_ip = ip(cluster, to);
    in_node_ok(
        name,
        from,
        &format!(
            "perl -MIO::Socket::INET -e '$s=IO::Socket::INET->new(PeerAddr=>\"{to_ip}:{UDP_PORT}\",Proto=>\"udp\") or die \"$!\"; \
             for(1..{SENT}){{ $s->send(\"lk$_\"); select(undef,undef,undef,0.002) }}'"
        ),
    );
    let out = server.wait_with_output().unwrap();
    let got: u32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| {
            panic!(
                "the receiver in {to} printed no count: {} {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert!(got <= SENT, "{got} received of {SENT} sent");
    1.0 - f64::from(got) / f64::from(SENT)
}

/// What a node's namespace holds of faultline's link faults: the loss chain and eth0's qdiscs.
fn leftovers(cluster: &str, node: &str) -> String {
    in_node_ok(
        cluster,
        node,
        "iptables -w -S FAULTLINE-LOSS 2>/dev/null; iptables -w -S FAULTLINE 2>/dev/null; tc qdisc show dev eth0; tc filter show dev eth0",
    )
}

fn assert_clean(cluster: &str) {
    for node in ["n1", "n2", "n3"] {
        let left = leftovers(cluster, node);
        let rules: Vec<&str> = left.lines().filter(|l| l.starts_with("-A ")).collect();
        assert!(rules.is_empty(), "{node} keeps rules after heal: {left}");
        assert!(
            !left.contains("htb")
                && !left.contains("tbf")
                && !left.contains("netem")
                && !left.contains("filter"),
            "{node} keeps qdiscs or filters after heal: {left}"
        );
    }
}

#[test]
fn loss_drops_the_share_asked_on_each_direction_and_heals_completely() {
    let cluster = TestCluster::up("lk-loss", &[]);
    let name = cluster.name.clone();
    let out = cluster.ok(&["fault", "loss", "--percent", "30", "--isolate", "n1"]);
    assert!(
        out.contains("loss 30% on n1<-n2,n3; n2<-n1; n3<-n1"),
        "{out}"
    );
    // Read back by the CLI from the nodes, not from what it meant to do.
    assert!(
        out.contains("faults: loss: n1<-n2 30%, n1<-n3 30%, n2<-n1 30%, n3<-n1 30%"),
        "{out}"
    );
    let rules = leftovers(&name, "n1");
    assert!(
        rules.contains("-m statistic --mode random --probability 0.2999"),
        "{rules}"
    );

    // Each direction of a lossy link loses about 30% (1000 datagrams: 30% ± 1.5% one sigma).
    let towards = measured_loss(&cluster, "n2", "n1");
    let from = measured_loss(&cluster, "n1", "n3");
    eprintln!(
        "measured loss n2->n1 {:.1}%, n1->n3 {:.1}%",
        towards * 100.0,
        from * 100.0
    );
    for (what, loss) in [("n2->n1", towards), ("n1->n3", from)] {
        assert!(
            (0.22..=0.38).contains(&loss),
            "{what}: measured {loss:.3}, asked 0.30"
        );
    }
    // A link the pattern leaves alone loses nothing.
    let spared = measured_loss(&cluster, "n2", "n3");
    assert!(
        spared < 0.02,
        "n2->n3 is not in the pattern but lost {spared:.3}"
    );

    let healed = cluster.ok(&["fault", "heal"]);
    assert!(healed.contains("faults: none"), "{healed}");
    assert_clean(&name);
    let after = measured_loss(&cluster, "n2", "n1");
    assert!(after < 0.02, "after heal n2->n1 still lost {after:.3}");
}

#[test]
fn loss_and_partition_compose_and_a_bad_percent_is_refused() {
    let cluster = TestCluster::up("lk-compose", &[]);
    let name = cluster.name.clone();
    let bad = cluster.run(&["fault", "loss", "--percent", "150"]);
    assert_eq!(bad.status.code(), Some(254));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("150 is out of range"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let bad = cluster.run(&["fault", "slow", "--rate", "0kbit"]);
    assert_eq!(bad.status.code(), Some(254));

    cluster.ok(&["fault", "partition", "--isolate", "n3"]);
    cluster.ok(&["fault", "loss", "--percent", "50", "--pattern", "all"]);
    // Both are in place, each in its own chain.
    let n1 = leftovers(&name, "n1");
    assert!(n1.contains("-A FAULTLINE -s"), "{n1}");
    assert!(n1.contains("-A FAULTLINE-LOSS -s"), "{n1}");

    // The runner's per-kind undo: healing the partition keeps the loss, and restoring the loss
    // keeps a partition, through the library the runner uses.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use nemesis::fault::FaultExecutor;
        let c = faultline::system::connect(&name).await.unwrap();
        let faults = c.faults();
        faults.heal().await.unwrap();
        let active = faults.active().await.unwrap();
        assert!(active.partition.0.is_empty(), "{}", active.describe());
        assert_eq!(
            active.links.loss.values().map(|m| m.len()).sum::<usize>(),
            6,
            "{}",
            active.describe()
        );
        faults
            .partition(&nemesis::partition::complete_grudge(
                &nemesis::partition::isolate("n3", &["n1".into(), "n2".into(), "n3".into()]),
            ))
            .await
            .unwrap();
        faults.restore(nemesis::LinkKind::Loss).await.unwrap();
        let active = faults.active().await.unwrap();
        assert!(active.links.loss.is_empty(), "{}", active.describe());
        assert!(!active.partition.0.is_empty(), "{}", active.describe());
    });
    cluster.ok(&["fault", "heal"]);
    assert_clean(&name);
}

const BYTES: usize = 512 * 1024;

/// Sends `BYTES` over TCP from `from` to `to` (listening on `port`, a new one per transfer) and
/// returns how long until the receiver acknowledged all of them (the sender waits for its answer).
fn timed_transfer(cluster: &TestCluster, from: &str, to: &str, port: u16) -> Duration {
    let name = &cluster.name;
    let server = spawn_in_node(
        name,
        to,
        &format!(
            "perl -MIO::Socket::INET -e '$l=IO::Socket::INET->new(LocalPort=>{port},Listen=>1,ReuseAddr=>1) or die \"$!\"; \
             $c=$l->accept; $n=0; while(($k=sysread($c,$b,65536))>0){{$n+=$k}} print $c \"$n\\n\"; print \"$n\\n\"'"
        ),
    );
    wait_bound(name, to, "tcp", port);
    let to_ip = ip(cluster, to);
    let chunks = BYTES / 65536;
    let start = Instant::now();
    let answer = in_node_ok(
        name,
        from,
        &format!(
            "perl -MIO::Socket::INET -e '$s=IO::Socket::INET->new(PeerAddr=>\"{to_ip}:{port}\",Proto=>\"tcp\") or die \"$!\"; \
             $b=\"x\" x 65536; print $s $b for 1..{chunks}; shutdown($s,1); $r=<$s>; print $r'"
        ),
    );
    let took = start.elapsed();
    assert_eq!(
        answer.trim(),
        BYTES.to_string(),
        "the receiver got {answer}"
    );
    let out = server.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

#[test]
fn slow_links_carry_at_their_rate_and_heal_completely() {
    let cluster = TestCluster::up("lk-slow", &[]);
    let name = cluster.name.clone();
    let out = cluster.ok(&["fault", "slow", "--rate", "1mbit", "--isolate", "n1"]);
    assert!(
        out.contains("slow: n1->n2,n3 1mbit, n2->n1 1mbit, n3->n1 1mbit"),
        "{out}"
    );
    let qdiscs = leftovers(&name, "n2");
    assert!(
        qdiscs.contains("qdisc tbf 10: parent 1:10 rate 1Mbit"),
        "{qdiscs}"
    );

    // 512 KiB at 1 Mbit/s takes about 4.2 s; unshaped, well under a second plus docker exec.
    let slow = timed_transfer(&cluster, "n2", "n1", 9901);
    let rate = (BYTES * 8) as f64 / slow.as_secs_f64() / 1e6;
    eprintln!(
        "512 KiB n2->n1 under slow 1mbit: {:.2} s ({rate:.2} Mbit/s)",
        slow.as_secs_f64()
    );
    assert!(rate < 1.3, "slowed to 1mbit but carried {rate:.2} Mbit/s");
    assert!(
        rate > 0.3,
        "slowed to 1mbit but carried only {rate:.2} Mbit/s"
    );
    // n2->n3 is not slowed.
    let spared = timed_transfer(&cluster, "n2", "n3", 9902);
    assert!(
        spared < slow / 2,
        "n2->n3 is not in the pattern but took {spared:?} (slowed: {slow:?})"
    );

    let healed = cluster.ok(&["fault", "heal"]);
    assert!(healed.contains("faults: none"), "{healed}");
    assert_clean(&name);
    let after = timed_transfer(&cluster, "n2", "n1", 9903);
    assert!(
        after < slow / 2,
        "after heal n2->n1 took {after:?} (slowed: {slow:?})"
    );
}

/// Whether this host's kernel has netem, asked the way faultline asks it.
fn host_has_netem() -> bool {
    let out = Command::new("docker")
        .args([
            "run",
            "--rm",
            "--label",
            "io.faultline.cluster=lk-netem-probe",
            "--network",
            "none",
            "--cap-add",
            "NET_ADMIN",
            "--entrypoint",
            "sh",
            "faultline/node:latest",
            "-c",
            "tc qdisc add dev lo root netem delay 1ms",
        ])
        .output()
        .expect("docker run");
    out.status.success()
}

#[test]
fn delay_is_refused_without_netem_and_applied_and_healed_with_it() {
    let cluster = TestCluster::up("lk-delay", &[]);
    let name = cluster.name.clone();
    let out = cluster.run(&["fault", "delay", "--ms", "100", "--jitter-ms", "20"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if host_has_netem() {
        assert!(out.status.success(), "{stderr}");
        let qdiscs = leftovers(&name, "n1");
        assert!(qdiscs.contains("qdisc netem 20:"), "{qdiscs}");
    } else {
        // This machine: refused before anything is touched, saying why.
        assert_eq!(out.status.code(), Some(254), "{stderr}");
        assert!(
            stderr.contains("this host cannot delay packets"),
            "{stderr}"
        );
        assert!(stderr.contains("netem"), "{stderr}");
        // The same through a campaign: refused before a cluster starts, naming the field.
        let dir = tempfile::tempdir().unwrap();
        let campaign = dir.path().join("lk-delay-campaign.yaml");
        std::fs::write(
            &campaign,
            "workload: {kind: register}\nnemesis:\n  faults:\n    - kill: leader\n    - delay: {ms: 100, jitter_ms: 20}\n",
        )
        .unwrap();
        let run = faultline(&["test", "--dry-run", campaign.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(254), "{stderr}");
        assert!(
            stderr.contains("lk-delay-campaign.yaml:5:7: nemesis.faults[1].delay: this host cannot delay packets"),
            "{stderr}"
        );
        // The probe left nothing behind.
        crate::util::docker_objects::assert_nothing_left("lk-delay-campaign");
    }
    cluster.ok(&["fault", "heal"]);
    assert_clean(&name);
}

/// Removes a cluster that `faultline test --keep-cluster` left, however the test ends.
struct Down(&'static str);

impl Drop for Down {
    fn drop(&mut self) {
        let out = faultline(&["cluster", "down", "--name", self.0]);
        if !out.status.success() && !std::thread::panicking() {
            panic!(
                "cluster down --name {}: {}",
                self.0,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// The one run directory under `<out>/<name>/`.
fn run_dir(out: &std::path::Path, name: &str) -> std::path::PathBuf {
    let runs: Vec<_> = std::fs::read_dir(out.join(name))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.is_symlink())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs[0].clone()
}

#[test]
fn a_campaign_applies_and_observes_loss_slow_and_clock_and_ends_healed() {
    let name = "lk-campaign";
    let _ = faultline(&["cluster", "down", "--name", name]);
    let _down = Down(name);
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("lk-campaign.yaml");
    std::fs::write(
        &path,
        "name: lk-campaign\nseed: 3\nworkload: {kind: register, keys: 2}\nconcurrency: 3\nduration: 18s\nquiet: 3s\nnemesis:\n  schedule:\n    - {at: 1s, duration: 4s, loss: {pattern: all, percent: 30}}\n    - {at: 6s, duration: 4s, slow: {pattern: isolate-leader, rate: 1mbit}}\n    - {at: 11s, duration: 5s, clock: {target: random-node, offset: +3s, strobe: 2s}}\n",
    )
    .unwrap();
    let out = tmp.path().join("results");
    let run = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .env("FAULTLINE_LOG", "warn")
        .args(["test", "--no-progress", "--keep-cluster", "--out"])
        .arg(&out)
        .arg(&path)
        .output()
        .unwrap();
    let dir = run_dir(&out, name);
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}\n{}\nresults: {results:#}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    for kind in ["loss", "slow", "clock"] {
        let c = &results["coverage"][kind];
        assert_eq!(
            (c["applied"].as_u64(), c["observed"].as_u64()),
            (Some(1), Some(1)),
            "{kind}: {c}"
        );
    }
    let effect = |kind: &str| {
        results["faults"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["kind"] == kind)
            .and_then(|f| f["effect"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    // The loss measured on the cluster's own traffic by the rules' counters.
    let loss = effect("loss");
    eprintln!(
        "loss window: {loss}\nslow window: {}\nclock window: {}",
        effect("slow"),
        effect("clock")
    );
    let share: f64 = loss
        .rsplit_once('(')
        .and_then(|(_, p)| p.strip_suffix("%)"))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no measured share in {loss:?}"));
    assert!((20.0..=40.0).contains(&share), "{loss}");
    assert!(
        effect("slow").contains("bytes went through tbf"),
        "{}",
        effect("slow")
    );
    // The clock was seen moved, then strobed back and forth at 2 s and 4 s into its 5 s window
    // (on a loaded machine the second toggle may miss the window's end, never more than two).
    let clock = effect("clock");
    assert!(clock.contains("reads +"), "{clock}");
    let toggles: u32 = clock
        .rsplit_once("strobed ")
        .and_then(|(_, n)| n.strip_suffix(" times"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no strobe count in {clock:?}"));
    assert!((1..=2).contains(&toggles), "{clock}");
    // The history names the links and the share.
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    assert!(
        history.contains(r#""f":"loss""#) && history.contains(r#""percent":30.0"#),
        "{history:.2000}"
    );
    // The report's fault strip draws both kinds.
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    for kind in ["loss", "slow"] {
        assert!(
            html.contains(&format!("data-fault=\"{kind}\"")),
            "no {kind} window in the report"
        );
    }
    assert_clean(name);
    for node in ["n1", "n2", "n3"] {
        let clock = in_node_ok(name, node, "cat /etc/faultline-clock 2>/dev/null || true");
        assert!(
            clock.trim().is_empty() || clock.trim().ends_with("\n+0s x1"),
            "{node}: {clock}"
        );
    }
}

#[test]
fn an_interrupted_campaign_restores_open_link_and_clock_windows_in_the_final_heal() {
    let name = "lk-interrupt";
    let _ = faultline(&["cluster", "down", "--name", name]);
    let _down = Down(name);
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("lk-interrupt.yaml");
    std::fs::write(
        &path,
        "name: lk-interrupt\nworkload: {kind: register, keys: 2}\nconcurrency: 2\nduration: 60s\nquiet: 1s\nnemesis:\n  schedule:\n    - {at: 1s, duration: 50s, loss: {pattern: halves, percent: 20}}\n    - {at: 1s, duration: 50s, slow: {pattern: all, rate: 2mbit}}\n    - {at: 1s, duration: 50s, clock: {target: all, offset: +2s, strobe: 2s}}\n",
    )
    .unwrap();
    let out = tmp.path().join("results");
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .env("FAULTLINE_LOG", "warn")
        .args(["test", "--no-progress", "--keep-cluster", "--out"])
        .arg(&out)
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until all three faults are in the nodes, read back from them.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let applied = Command::new("docker")
            .args([
                "exec",
                &format!("faultline-{name}-n1"),
                "sh",
                "-c",
                "iptables -S FAULTLINE-LOSS; tc qdisc show dev eth0; cat /etc/faultline-clock",
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let clock = applied.lines().any(|l| l == "+2s x1" || l == "+0s x1");
        if applied.contains("statistic") && applied.contains("tbf") && clock {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended before its faults were applied: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "the faults never showed in n1: {applied}"
        );
        std::thread::sleep(Duration::from_millis(100)); // poll again, before the deadline
    }
    // SAFETY: signalling a child we spawned.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) },
        0
    );
    let deadline = Instant::now() + Duration::from_secs(40);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the runner did not stop within 40 s of Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(100)); // poll again, before the deadline
    };
    assert_eq!(status.code(), Some(2), "an interrupted run has no verdict");
    let history = std::fs::read_to_string(run_dir(&out, name).join("history.jsonl")).unwrap();
    assert!(
        history.contains(r#""f":"heal-all""#),
        "no final heal recorded"
    );
    // The final heal restored both open link windows and, its strobe stopped first, put every
    // clock back: nothing is left in any node.
    assert_clean(name);
    for node in ["n1", "n2", "n3"] {
        let clock = in_node_ok(name, node, "cat /etc/faultline-clock");
        assert_eq!(clock.trim(), "# faultline clock +0s\n+0s x1", "{node}");
    }
}
