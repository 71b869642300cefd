//! etcd in Docker, through the library: the etcd image, a 3-member cluster started with the
//! one container command, every register operation and a list-append transaction through
//! `EtcdClient` with the certainty of each answer, a killed leader replaced with the data kept,
//! the killed member rejoining as itself, and nothing left behind. Fails, never skips, when
//! Docker is missing.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use faultline::cluster::client::{Client, NodeStatus, UNREACHABLE};
use faultline::cluster::{lifecycle, Cluster, ClusterSpec};
use faultline::system::etcd::{self, EtcdClient, Reads};
use faultline::system::SystemSpec;
use nemesis::fault::FaultExecutor;
use serde_json::json;
use workloads::{MicroOp, Request, Response};

use crate::util::docker_objects::assert_nothing_left;

/// Removes the cluster when the test ends, however it ends (outside any runtime, so it can
/// run one of its own).
struct Guard {
    name: &'static str,
}

impl Guard {
    fn new(name: &'static str) -> Guard {
        // A cluster left by an interrupted earlier run of this same test.
        down(name).unwrap_or_else(|e| panic!("removing a leftover cluster {name}: {e:#}"));
        Guard { name }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Err(e) = down(self.name) {
            if !std::thread::panicking() {
                panic!("cluster down {} failed: {e:#}", self.name);
            }
        }
    }
}

fn down(name: &str) -> anyhow::Result<lifecycle::Removed> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let docker = docker().await;
        lifecycle::down(&docker, name, false).await
    })
}

async fn docker() -> bollard::Docker {
    faultline::cluster::docker::connect()
        .await
        .unwrap_or_else(|e| panic!("these tests need a reachable Docker Engine: {e:#}"))
}

/// Polls `probe` until it gives `Some`, failing after `timeout` with the last thing it saw.
async fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl AsyncFnMut() -> Result<Option<T>, String>,
) -> T {
    let deadline = Instant::now() + timeout;
    let mut last = String::from("nothing yet");
    loop {
        match probe().await {
            Ok(Some(v)) => return v,
            Ok(None) => {}
            Err(e) => last = e,
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}; last: {last}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await; // poll again, before the deadline
    }
}

async fn leader(client: &EtcdClient, addrs: &[SocketAddr], not: Option<&str>) -> String {
    wait_for(
        "an etcd leader",
        Duration::from_secs(60),
        async || match client.leader_name(addrs).await {
            Ok(Some(name)) if Some(name.as_str()) != not => Ok(Some(name)),
            Ok(other) => Err(format!("leader {other:?}")),
            Err(e) => Err(format!("{e:#}")),
        },
    )
    .await
}

fn read(key: &str) -> Request {
    Request::Read { key: key.into() }
}

fn write(key: &str, value: &str) -> Request {
    Request::Write {
        key: key.into(),
        value: value.into(),
    }
}

fn cas(key: &str, from: Option<&str>, to: &str) -> Request {
    Request::Cas {
        key: key.into(),
        from: from.map(str::to_string),
        to: to.into(),
    }
}

fn value(v: &str) -> Response {
    Response::Ok(json!({ "value": v }))
}

fn ok() -> Response {
    Response::Ok(json!({ "ok": true }))
}

fn fail_containing(response: Response, text: &str) {
    match response {
        Response::Fail { error, .. } => assert!(error.contains(text), "{error}"),
        other => panic!("expected a failure saying {text:?}, got {other:?}"),
    }
}

#[test]
fn etcd_answers_ops_with_certainty_and_survives_killed_members() {
    let name = "t-etcd-basic";
    let started = Instant::now();
    {
        let guard = Guard::new(name);
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(scenario(guard.name));
    }
    assert_nothing_left(name);
    eprintln!("{name}: {:.1} s", started.elapsed().as_secs_f64());
}

async fn scenario(name: &str) {
    let docker = docker().await;
    let image = etcd::image::ensure(&docker, None)
        .await
        .unwrap_or_else(|e| panic!("building the etcd image: {e:#}"));
    // The system gives each container etcd's member command and the client port 2379.
    let system = SystemSpec::Etcd {
        reads: Reads::Linearizable,
    };
    let spec = ClusterSpec {
        leader_timeout: None,
        ..ClusterSpec::new(name, 3, image, system.shared())
    };
    let cluster = Cluster::up(&spec).await.expect("cluster up");
    let addrs: Vec<SocketAddr> = cluster.nodes().iter().map(|n| n.dial).collect();
    let client = EtcdClient::new(Duration::from_secs(10), Reads::Linearizable).unwrap();
    let first = leader(&client, &addrs, None).await;

    // Every member derived its name and addresses from its container: the member list shows
    // n1..n3 at the cluster's static addresses.
    let listed = client.members(addrs[0]).await.unwrap();
    let mut seen: Vec<(String, Vec<String>, Vec<String>)> = listed
        .iter()
        .map(|m| (m.name.clone(), m.peer_urls.clone(), m.client_urls.clone()))
        .collect();
    seen.sort();
    let expected: Vec<(String, Vec<String>, Vec<String>)> = cluster
        .nodes()
        .iter()
        .map(|n| {
            let ip = n.addr.ip();
            (
                n.name.clone(),
                vec![format!("http://{ip}:2380")],
                vec![format!("http://{ip}:2379")],
            )
        })
        .collect();
    assert_eq!(seen, expected);

    // Register operations, sent to a member that need not lead (followers forward).
    let at = addrs[0];
    let call = |r: Request| {
        let client = client.clone();
        async move { client.call(at, &r).await }
    };
    assert_eq!(
        call(read("k")).await,
        Response::Ok(json!({ "value": null }))
    );
    assert_eq!(call(cas("k", None, "1")).await, ok(), "cas from absent");
    fail_containing(
        call(cas("k", None, "9")).await,
        "cas mismatch: expected the key absent, the current value is \"1\"",
    );
    assert_eq!(call(read("k")).await, value("1"));
    assert_eq!(call(write("k", "2")).await, ok());
    assert_eq!(call(read("k")).await, value("2"));
    assert_eq!(call(cas("k", Some("2"), "3")).await, ok());
    fail_containing(
        call(cas("k", Some("2"), "4")).await,
        "cas mismatch: expected \"2\", the current value is \"3\"",
    );
    assert_eq!(call(read("k")).await, value("3"));
    fail_containing(
        call(cas("absent", Some("1"), "2")).await,
        "the key is absent",
    );
    // The gateway omits an empty value; it still reads back as "".
    assert_eq!(call(write("empty", "")).await, ok());
    assert_eq!(call(read("empty")).await, value(""));

    // List-append transactions: reads see earlier appends of the same transaction.
    let txn = |ops: Vec<MicroOp>| Request::Txn { ops };
    let append = |k: &str, v: &str| MicroOp::Append {
        key: k.into(),
        value: v.into(),
    };
    let r = |k: &str| MicroOp::Read { key: k.into() };
    assert_eq!(
        call(txn(vec![r("l1"), append("l1", "1"), r("l1")])).await,
        Response::Ok(
            json!({ "ops": [["r", "l1", null], ["append", "l1", "1"], ["r", "l1", ["1"]]] })
        )
    );
    assert_eq!(
        call(txn(vec![
            append("l1", "2"),
            append("l2", "5"),
            r("l1"),
            r("l2")
        ]))
        .await,
        Response::Ok(json!({ "ops": [
            ["append", "l1", "2"], ["append", "l2", "5"], ["r", "l1", ["1", "2"]], ["r", "l2", ["5"]]
        ] }))
    );
    // A register is no list: refused before anything is written.
    fail_containing(
        call(txn(vec![append("k", "1")])).await,
        "nothing was written",
    );

    // Nothing listens: nothing was sent, a certain failure marked unreachable.
    let nobody = SocketAddr::new(at.ip(), 2390);
    match client.call(nobody, &read("k")).await {
        Response::Fail {
            status: None,
            error,
        } => assert!(error.starts_with(UNREACHABLE), "{error}"),
        other => panic!("{other:?}"),
    }

    // Kill the leader: another is elected and the data is kept.
    let statuses = statuses(&client, &addrs).await;
    let old_term = statuses[&first].term;
    let faults = cluster.faults();
    let killed_at = Instant::now();
    faults.kill(std::slice::from_ref(&first)).await.unwrap();
    let survivors: Vec<SocketAddr> = cluster
        .nodes()
        .iter()
        .filter(|n| n.name != first)
        .map(|n| n.dial)
        .collect();
    let second = leader(&client, &survivors, Some(&first)).await;
    eprintln!(
        "{name}: {first} killed, {second} leads after {:.1} s",
        killed_at.elapsed().as_secs_f64()
    );
    let new_status = client
        .status(cluster.node(&second).unwrap().dial)
        .await
        .unwrap();
    assert!(
        new_status.term > old_term,
        "{new_status:?} after term {old_term}"
    );
    for &addr in &survivors {
        assert_eq!(client.call(addr, &read("k")).await, value("3"), "{addr}");
    }
    // Serializable reads answer from each member's own state; it catches up to "3".
    let serializable = EtcdClient::new(Duration::from_secs(10), Reads::Serializable).unwrap();
    for &addr in &survivors {
        wait_for(
            "a serializable read of 3",
            Duration::from_secs(10),
            async || match serializable.call(addr, &read("k")).await {
                r if r == value("3") => Ok(Some(())),
                other => Err(format!("{addr}: {other:?}")),
            },
        )
        .await;
    }
    assert_eq!(client.call(survivors[0], &write("k", "4")).await, ok());

    // Kill the new leader too: the last member has no quorum. What it cannot commit may still
    // have been proposed, so it is unknown, never a failure; serializable reads still answer.
    faults.kill(std::slice::from_ref(&second)).await.unwrap();
    let lone = cluster
        .nodes()
        .iter()
        .find(|n| n.name != first && n.name != second)
        .map(|n| n.dial)
        .unwrap();
    let (put, get) = (write("k", "5"), read("k"));
    let (w, linearizable, stale) = tokio::join!(
        client.call(lone, &put),
        client.call(lone, &get),
        serializable.call(lone, &get),
    );
    eprintln!("{name}: without quorum: write {w:?}; linearizable read {linearizable:?}");
    assert!(matches!(w, Response::Info { .. }), "{w:?}");
    assert!(
        matches!(linearizable, Response::Info { .. }),
        "{linearizable:?}"
    );
    assert_eq!(stale, value("4"));

    // The killed members start again with the same command and volume: they rejoin as
    // themselves and catch up.
    faults
        .start(&[first.clone(), second.clone()])
        .await
        .unwrap();
    for killed in [&first, &second] {
        let addr = cluster.node(killed).unwrap().dial;
        let rejoined = wait_for(
            "a killed member to rejoin",
            Duration::from_secs(60),
            async || match client.status(addr).await {
                Ok(s) if s.leader.is_some() => Ok(Some(s)),
                Ok(s) => Err(format!("{s:?}")),
                Err(e) => Err(e),
            },
        )
        .await;
        assert_eq!(
            rejoined.id, statuses[killed].id,
            "{killed} came back as another member"
        );
    }
    // The unknown write may or may not have taken effect; every member agrees which.
    let mut finals = Vec::new();
    for &addr in &addrs {
        let r = wait_for(
            "a linearizable read",
            Duration::from_secs(30),
            async || match client.call(addr, &read("k")).await {
                r @ Response::Ok(_) => Ok(Some(r)),
                other => Err(format!("{addr}: {other:?}")),
            },
        )
        .await;
        finals.push(r);
    }
    assert!(
        finals.iter().all(|r| *r == finals[0]) && [value("4"), value("5")].contains(&finals[0]),
        "{finals:?}"
    );
    assert_eq!(client.members(lone).await.unwrap().len(), 3);

    let removed = cluster.down(false).await.unwrap();
    assert_eq!(
        (removed.containers, removed.networks, removed.volumes),
        (3, 1, 3)
    );
}

/// Each member's status by name, all of them answering.
async fn statuses(
    client: &EtcdClient,
    addrs: &[SocketAddr],
) -> std::collections::HashMap<String, NodeStatus> {
    let members = client.members(addrs[0]).await.unwrap();
    let mut out = std::collections::HashMap::new();
    for &addr in addrs {
        let s = client.status(addr).await.unwrap();
        let name = members
            .iter()
            .find(|m| m.id == s.id)
            .map(|m| m.name.clone())
            .unwrap_or_else(|| panic!("{addr} is member {:x}, not in {members:?}", s.id));
        out.insert(name, s);
    }
    out
}
