//! Lagging and wiped nodes catch up: by log entries, or by snapshot when the leader has purged
//! what they miss; nodes join and leave at run time.

use std::time::Duration;

use crate::util::node_cluster::{write_many, Cluster};
use serde_json::json;

async fn applied(c: &Cluster, id: u64) -> u64 {
    c.status(id).await.expect("status")["applied_index"]
        .as_u64()
        .expect("applied_index")
}

/// Polls until node `id` has applied the membership `voters`.
async fn wait_voters(c: &Cluster, id: u64, voters: serde_json::Value) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let s = c.status(id).await;
        if s.as_ref()
            .is_some_and(|s| s["membership"]["voters"] == voters)
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "node {id} never saw voters {voters}: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await; // poll again, before the deadline
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wiped_node_readded_catches_up_by_snapshot() {
    // Client writes are batched into entries, so keep no log behind snapshots: whatever the
    // batch sizes, the leader has purged the start of the log when the wiped node returns.
    let mut c = Cluster::start(3, &["--snapshot-every", "50", "--snapshot-keep", "0"]);
    let leader = c.wait_leader(Duration::from_secs(10)).await;
    let wiped = c.running().into_iter().find(|&i| i != leader).unwrap();
    let other = c
        .running()
        .into_iter()
        .find(|&i| i != leader && i != wiped)
        .unwrap();
    write_many(&c, leader, "w", 2500, 16).await;

    let r = c.post(other, "/cluster/remove", json!({"id": wiped})).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    c.kill(wiped);
    std::fs::remove_dir_all(c.data_dir(wiped)).unwrap();
    c.set_join(wiped, true);
    c.spawn(wiped);
    c.wait_serving(wiped, Duration::from_secs(10)).await;
    let addr = c.addr(wiped).to_owned();
    let r = c
        .post(other, "/cluster/add", json!({"id": wiped, "addr": addr}))
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["membership"]["voters"], json!([1, 2, 3]));

    let target = applied(&c, leader).await;
    c.wait_applied(wiped, target, Duration::from_secs(30)).await;
    // It got a snapshot, not the purged prefix of the log.
    let snap = std::fs::read_to_string(c.data_dir(wiped).join("snapshot.json"))
        .expect("the wiped node holds a snapshot received from the leader");
    let snap: serde_json::Value = serde_json::from_str(&snap).unwrap();
    let registers = snap["data"]["registers"].as_object().unwrap().len();
    assert!(
        registers >= 50,
        "the snapshot carries the data ({registers} keys)"
    );
    let log = std::fs::read_to_string(c.dir.path().join(format!("n{wiped}.log"))).unwrap();
    assert!(
        log.contains("installed snapshot from the leader"),
        "the wiped node caught up by snapshot:\n{log}"
    );

    // The re-added node is now needed for a quorum, and has the data.
    c.kill(other);
    assert_eq!(c.put(wiped, "after", "yes").await.status(), 200);
    assert_eq!(c.get(wiped, "w-0").await, json!("v0"));
    assert_eq!(c.get(wiped, "w-2499").await, json!("v2499"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_node_catches_up_after_missing_10000_writes() {
    let mut c = Cluster::start(3, &[]);
    let leader = c.wait_leader(Duration::from_secs(10)).await;
    let lagger = c.running().into_iter().find(|&i| i != leader).unwrap();
    let other = c
        .running()
        .into_iter()
        .find(|&i| i != leader && i != lagger)
        .unwrap();
    c.kill(lagger);
    write_many(&c, leader, "m", 10_000, 32).await;
    c.spawn(lagger);
    let target = applied(&c, leader).await;
    c.wait_applied(lagger, target, Duration::from_secs(60))
        .await;

    // Without `other`, the leader needs the restarted node to commit anything.
    c.kill(other);
    assert_eq!(c.put(lagger, "post", "1").await.status(), 200);
    assert_eq!(c.get(lagger, "m-9999").await, json!("v9999"));
    assert_eq!(c.get(lagger, "m-0").await, json!("v0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_join_and_leave_at_run_time() {
    let mut c = Cluster::start(3, &[]);
    c.wait_leader(Duration::from_secs(10)).await;
    assert_eq!(c.put(1, "k", "v").await.status(), 200);
    let addr = c.add_joining_node(4);
    c.wait_serving(4, Duration::from_secs(10)).await;
    let r = c
        .post(2, "/cluster/add", json!({"id": 4, "addr": addr}))
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["membership"]["voters"], json!([1, 2, 3, 4]));
    wait_voters(&c, 4, json!([1, 2, 3, 4])).await;
    assert_eq!(c.get(4, "k").await, json!("v"));

    let r = c.post(4, "/cluster/remove", json!({"id": 4})).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["membership"]["voters"], json!([1, 2, 3]));
    wait_voters(&c, 1, json!([1, 2, 3])).await;
    assert_eq!(
        c.post(1, "/cluster/add", json!({"id": "x"})).await.status(),
        400
    );
}
