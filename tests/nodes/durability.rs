//! Acknowledged writes are readable through every node and survive `kill -9` of the leader and
//! of the whole cluster; a killed leader is replaced within 3 s.

use std::time::{Duration, Instant};

use crate::util::node_cluster::Cluster;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acked_writes_survive_leader_kill_and_full_restart() {
    let mut c = Cluster::start(3, &[]);
    let leader = c.wait_leader(Duration::from_secs(10)).await;
    let follower = c.running().into_iter().find(|&i| i != leader).unwrap();

    // Written through a follower: forwarded to the leader.
    let resp = c.put(follower, "a", "1").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap(),
        json!({"ok": true})
    );
    for id in c.running() {
        assert_eq!(c.get(id, "a").await, json!("1"), "read via node {id}");
    }
    assert_eq!(c.get(follower, "never-written").await, json!(null));

    c.kill(leader);
    let leader2 = c.wait_leader(Duration::from_secs(5)).await;
    assert_ne!(leader2, leader);
    assert_eq!(c.get(leader2, "a").await, json!("1"));
    assert_eq!(c.put(leader2, "b", "2").await.status(), 200);
    c.spawn(leader);

    // Every node dies at once; only what was fsynced may come back, and all of it must.
    c.wait_leader(Duration::from_secs(10)).await;
    for id in [1, 2, 3] {
        c.kill(id);
    }
    for id in [1, 2, 3] {
        c.spawn(id);
    }
    c.wait_leader(Duration::from_secs(10)).await;
    for id in [1, 2, 3] {
        assert_eq!(
            c.get(id, "a").await,
            json!("1"),
            "after full restart, via {id}"
        );
        assert_eq!(
            c.get(id, "b").await,
            json!("2"),
            "after full restart, via {id}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_leader_is_replaced_within_3s() {
    let mut c = Cluster::start(3, &[]);
    let leader = c.wait_leader(Duration::from_secs(10)).await;
    assert_eq!(c.put(leader, "k", "v").await.status(), 200);
    let t0 = Instant::now();
    c.kill(leader);
    let new = c.wait_leader(Duration::from_secs(3)).await;
    let took = t0.elapsed();
    assert_ne!(new, leader);
    assert!(took < Duration::from_secs(3), "new leader after {took:?}");
    assert_eq!(c.put(new, "k", "w").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_json_with_definite() {
    let mut c = Cluster::start(3, &[]);
    let leader = c.wait_leader(Duration::from_secs(10)).await;
    let follower = c.running().into_iter().find(|&i| i != leader).unwrap();

    let bad = c
        .http
        .post(format!("http://{}/kv/x/cas", c.addr(follower)))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let body: serde_json::Value = bad.json().await.unwrap();
    assert_eq!(body["definite"], json!(true));
    assert!(body["error"].as_str().unwrap().contains("not JSON"));

    let r = c
        .post(follower, "/kv/x/cas", json!({"from": null, "to": "a"}))
        .await;
    assert_eq!(r.status(), 200);
    let r = c
        .post(follower, "/kv/x/cas", json!({"from": "zzz", "to": "b"}))
        .await;
    assert_eq!(r.status(), 409);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": "cas mismatch", "current": "a", "definite": true})
    );

    let r = c
        .post(
            follower,
            "/txn",
            json!({"ops": [["append", "l", "5"], ["r", "l", null]]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({"ops": [["append", "l", "5"], ["r", "l", ["5"]]]})
    );

    // With no quorum, nothing can be proposed: a clear error, never a hang.
    let others: Vec<u64> = c.running().into_iter().filter(|&i| i != follower).collect();
    for id in others {
        c.kill(id);
    }
    let t0 = Instant::now();
    let r = c.put(follower, "x", "c").await;
    assert!(r.status().is_server_error(), "got {}", r.status());
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["definite"].is_boolean() && body["error"].is_string(),
        "{body}"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(8),
        "took {:?}",
        t0.elapsed()
    );

    let s = c.status(follower).await.expect("status answers");
    assert_eq!(s["id"], json!(follower));
    assert_eq!(s["membership"]["voters"], json!([1, 2, 3]));
}

/// openraft 0.9 restores a node that was leader when it stopped as leader of the same term, with
/// no election and so no new no-op entry; its read index is then only the committed index it
/// saved, which may lag writes it acknowledged. Reads must still see every acknowledged write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restored_leader_serves_no_stale_read() {
    let mut c = Cluster::start(3, &[]);
    let leader = c.wait_leader(Duration::from_secs(10)).await;
    // Back-to-back writes, then kill at once: the committed index saved on disk lags the log.
    for i in 0..5 {
        assert_eq!(c.put(leader, "r", &i.to_string()).await.status(), 200);
    }
    for id in [1, 2, 3] {
        c.kill(id);
    }

    // The old leader alone first: it comes back as leader without an election (the subject of
    // this test), and its replication to the absent followers backs off.
    c.spawn(leader);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = c.status(leader).await;
        if s.as_ref().is_some_and(|s| s["role"] == json!("leader")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node {leader} did not come back as leader: {s:?}\n{}",
            c.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await; // poll again, before the deadline
    }
    for id in [1, 2, 3] {
        if id != leader {
            c.spawn(id);
        }
    }

    // Read as early as the leader answers: every successful read must see the last write.
    let url = format!("http://{}/kv/r", c.addr(leader));
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut ok = 0;
    while ok < 20 {
        assert!(
            Instant::now() < deadline,
            "only {ok} reads succeeded via the restored leader\n{}",
            c.logs()
        );
        let resp = c.http.get(&url).send().await.expect("GET reached the node");
        if resp.status() == 200 {
            let v: serde_json::Value = resp.json().await.expect("JSON body");
            assert_eq!(v["value"], json!("4"), "read #{ok} via the restored leader");
            ok += 1;
        } else {
            tokio::time::sleep(Duration::from_millis(5)).await; // poll again, before the deadline
        }
    }
}
