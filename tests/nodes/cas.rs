//! Ten clients race compare-and-set on one key. The recorded history must show exactly the
//! successful cas operations taking effect, chained from the initial value to the final one,
//! and no failed (409, definite) cas leaving a trace; the linearizability checker must agree.
//! Once with a healthy cluster, once with the leader killed and restarted mid-run.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::util::node_cluster::Cluster;
use checkers::history::{Event, EventType, Process};
use serde_json::{json, Value};

const CLIENTS: u64 = 10;

struct Recorder {
    start: Instant,
    events: Mutex<Vec<Event>>,
}

impl Recorder {
    fn record(&self, process: u64, kind: EventType, f: &str, value: Value, error: Option<String>) {
        let mut ev = self.events.lock().unwrap();
        let index = ev.len() as u64;
        ev.push(Event {
            index,
            time: self.start.elapsed().as_nanos() as u64,
            process: Process::Client(process),
            kind,
            f: f.into(),
            key: Some("k".into()),
            value,
            error,
        });
    }

    fn len(&self) -> usize {
        self.events.lock().unwrap().len()
    }

    fn ok_cas(&self) -> usize {
        let ev = self.events.lock().unwrap();
        ev.iter()
            .filter(|e| e.f == "cas" && e.kind == EventType::Ok)
            .count()
    }
}

/// How a failed request is recorded: `fail` only when the node said nothing was applied (or
/// the connection was never made), otherwise `info`.
fn failure_kind(status: Option<u16>, body: &Value, connect_error: bool) -> EventType {
    match status {
        Some(_) if body["definite"] == json!(true) => EventType::Fail,
        Some(_) => EventType::Info,
        None if connect_error => EventType::Fail,
        None => EventType::Info,
    }
}

async fn client(
    http: reqwest::Client,
    addrs: Arc<Vec<String>>,
    rec: Arc<Recorder>,
    p: u64,
    ops: usize,
    stop: Arc<AtomicBool>,
) {
    // Spread clients over all nodes, so followers forward.
    let base = format!("http://{}/kv/k", addrs[p as usize % addrs.len()]);
    let mut i = 0;
    while i < ops && !stop.load(Ordering::Relaxed) {
        i += 1;
        rec.record(p, EventType::Invoke, "read", Value::Null, None);
        let current = match http.get(&base).send().await {
            Ok(r) if r.status() == 200 => {
                let v = r.json::<Value>().await.unwrap()["value"].clone();
                rec.record(p, EventType::Ok, "read", v.clone(), None);
                v
            }
            // A read changes nothing: any failure is a definite one.
            // Pace retries while the cluster has no leader, like a real client.
            Ok(r) => {
                let msg = format!("{}: {}", r.status(), r.text().await.unwrap_or_default());
                rec.record(p, EventType::Fail, "read", Value::Null, Some(msg));
                tokio::time::sleep(Duration::from_millis(20)).await; // retry pacing, not a wait
                continue;
            }
            Err(e) => {
                rec.record(p, EventType::Fail, "read", Value::Null, Some(e.to_string()));
                tokio::time::sleep(Duration::from_millis(20)).await; // retry pacing, not a wait
                continue;
            }
        };

        let to = format!("c{p}-{i}");
        let arg = json!([current, to]);
        rec.record(p, EventType::Invoke, "cas", arg.clone(), None);
        let r = http
            .post(format!("{base}/cas"))
            .json(&json!({"from": current, "to": to}))
            .send()
            .await;
        match r {
            Ok(r) if r.status() == 200 => rec.record(p, EventType::Ok, "cas", arg, None),
            Ok(r) => {
                let status = r.status().as_u16();
                let body: Value = r.json().await.unwrap_or(Value::Null);
                assert!(
                    body["definite"].is_boolean(),
                    "error without definite: {status} {body}"
                );
                if status == 409 {
                    assert_eq!(body["definite"], json!(true));
                }
                let kind = failure_kind(Some(status), &body, false);
                rec.record(p, kind, "cas", arg, Some(format!("{status} {body}")));
            }
            Err(e) => {
                let kind = failure_kind(None, &Value::Null, e.is_connect());
                rec.record(p, kind, "cas", arg, Some(e.to_string()));
            }
        }
    }
}

type Edges = BTreeMap<String, Vec<(String, EventType)>>;

/// Depth-first search for the sequence of effective cas ops: from `cur`, a successful cas is
/// the only way on (values are unique, so the register leaves each value once); without one,
/// any indeterminate cas from `cur` may have been the one that happened.
fn walk(
    edges: &Edges,
    cur: &Value,
    target: &Value,
    oks: usize,
    path: &mut Vec<(String, EventType)>,
) -> bool {
    if cur == target && path.iter().filter(|(_, k)| *k == EventType::Ok).count() == oks {
        return true;
    }
    let out = edges.get(&cur.to_string()).cloned().unwrap_or_default();
    let ok: Vec<_> = out
        .iter()
        .filter(|(_, k)| *k == EventType::Ok)
        .cloned()
        .collect();
    assert!(
        ok.len() <= 1,
        "two cas ops from {cur} both succeeded: {ok:?}"
    );
    let candidates = if ok.is_empty() { out } else { ok };
    for (to, kind) in candidates {
        if path.iter().any(|(t, _)| *t == to) {
            continue;
        }
        path.push((to.clone(), kind));
        if walk(edges, &json!(to), target, oks, path) {
            return true;
        }
        path.pop();
    }
    false
}

/// Asserts the history is explained by one chain of effective cas ops; returns how many
/// succeeded, failed and were indeterminate.
fn check_chain(events: &[Event], final_value: &Value) -> (usize, usize, usize) {
    let outcomes: Vec<(Value, String, EventType)> = events
        .iter()
        .filter(|e| e.f == "cas" && e.kind != EventType::Invoke)
        .map(|e| {
            (
                e.value[0].clone(),
                e.value[1].as_str().unwrap().to_owned(),
                e.kind,
            )
        })
        .collect();
    let count = |k| outcomes.iter().filter(|o| o.2 == k).count();
    let (oks, fails, infos) = (
        count(EventType::Ok),
        count(EventType::Fail),
        count(EventType::Info),
    );
    let mut edges = Edges::new();
    for (from, to, kind) in outcomes.iter().filter(|o| o.2 != EventType::Fail) {
        edges
            .entry(from.to_string())
            .or_default()
            .push((to.clone(), *kind));
    }
    let mut path = Vec::new();
    assert!(
        walk(&edges, &Value::Null, final_value, oks, &mut path),
        "no chain of cas ops from null through all {oks} successful ones to the final value {final_value}"
    );
    let chain: HashSet<&String> = path.iter().map(|(t, _)| t).collect();
    for (_, to, _) in outcomes.iter().filter(|o| o.2 == EventType::Fail) {
        assert!(!chain.contains(to), "failed cas to {to} took effect");
    }
    for e in events
        .iter()
        .filter(|e| e.f == "read" && e.kind == EventType::Ok)
    {
        if let Some(v) = e.value.as_str() {
            assert!(
                chain.contains(&v.to_owned()),
                "a read saw {v}, which no effective cas wrote"
            );
            let failed = outcomes.iter().any(|o| o.2 == EventType::Fail && o.1 == v);
            assert!(!failed, "a read saw {v}, written by a failed cas");
        }
    }
    (oks, fails, infos)
}

/// The same history through `faultline check`.
fn run_checker(c: &Cluster, events: &[Event]) {
    let path = c.dir.path().join("history.jsonl");
    let text: String = events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect();
    std::fs::write(&path, &text).unwrap();
    // For debugging (and checking with another build of the checker): keep a copy.
    if let Ok(dir) = std::env::var("FAULTLINE_KEEP_HISTORIES") {
        let copy = std::path::Path::new(&dir).join(format!(
            "cas-{}-{}.jsonl",
            std::process::id(),
            events.len()
        ));
        std::fs::write(&copy, &text).unwrap();
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("check")
        .arg(&path)
        .output()
        .expect("running faultline check");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "faultline check on {}: {}{stderr}",
        path.display(),
        String::from_utf8_lossy(&out.stdout)
    );
}

fn start_clients(
    c: &Cluster,
    rec: &Arc<Recorder>,
    ops: usize,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let addrs: Arc<Vec<String>> = Arc::new(c.nodes.values().map(|n| n.addr.clone()).collect());
    (0..CLIENTS)
        .map(|p| {
            let (http, addrs, rec, stop) =
                (c.http.clone(), addrs.clone(), rec.clone(), stop.clone());
            tokio::spawn(client(http, addrs, rec, p, ops, stop))
        })
        .collect()
}

fn recorder() -> Arc<Recorder> {
    Arc::new(Recorder {
        start: Instant::now(),
        events: Mutex::new(Vec::new()),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_cas_takes_effect_exactly_when_acknowledged() {
    let c = Cluster::start(3, &[]);
    c.wait_leader(Duration::from_secs(10)).await;
    let rec = recorder();
    let stop = Arc::new(AtomicBool::new(false));
    for t in start_clients(&c, &rec, 25, &stop) {
        t.await.expect("client task");
    }
    let final_value = c.get(1, "k").await;
    let events = rec.events.lock().unwrap().clone();
    let (oks, fails, infos) = check_chain(&events, &final_value);
    assert!(oks >= CLIENTS as usize, "some cas succeeded: {oks}");
    assert!(fails > 0, "racing clients must see some 409s");
    assert_eq!(infos, 0, "a healthy cluster leaves no cas indeterminate");
    run_checker(&c, &events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_cas_stays_consistent_across_a_leader_kill() {
    let mut c = Cluster::start(3, &[]);
    let leader = c.wait_leader(Duration::from_secs(10)).await;
    let rec = recorder();
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = start_clients(&c, &rec, usize::MAX, &stop);
    // The fault lands once the clients are well under way.
    let deadline = Instant::now() + Duration::from_secs(20);
    while rec.len() < 150 {
        assert!(Instant::now() < deadline, "clients made no progress");
        tokio::time::sleep(Duration::from_millis(10)).await; // poll again, before the deadline
    }
    c.kill(leader);
    c.wait_leader(Duration::from_secs(5)).await;
    c.spawn(leader);
    // Run on until the new leader has committed plenty of cas ops.
    let before = rec.ok_cas();
    let deadline = Instant::now() + Duration::from_secs(30);
    while rec.ok_cas() < before + 30 {
        assert!(
            Instant::now() < deadline,
            "no cas succeeded after the failover\n{}",
            c.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await; // poll again, before the deadline
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("client task");
    }
    c.wait_leader(Duration::from_secs(10)).await;
    let via = c.running()[0];
    let final_value = c.get(via, "k").await;
    let events = rec.events.lock().unwrap().clone();
    let (oks, _, _) = check_chain(&events, &final_value);
    assert!(
        oks >= 30,
        "cas succeeded before and after the failover: {oks}"
    );
    run_checker(&c, &events);
}
