//! Size limits between nodes: no client value, however large or however it escapes in JSON,
//! can make the followers refuse replication and so force an election.

#[path = "util/node_cluster.rs"]
mod node_cluster;

use std::time::Duration;

use node_cluster::{assert_no_election, leader_and_term, Cluster};
use serde_json::Value;

async fn applied(c: &Cluster, id: u64) -> u64 {
    c.status(id).await.expect("status")["applied_index"]
        .as_u64()
        .expect("applied_index")
}

/// The outcome of one PUT: its status and its body as JSON (Null when it is not JSON).
async fn put_outcome(c: &Cluster, via: u64, key: String, value: String) -> (u16, Value) {
    let resp = c
        .http
        .put(format!("http://{}/kv/{key}", c.addr(via)))
        .body(value)
        .send()
        .await
        .expect("PUT reached the node");
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// Served, or refused as the client's fault with a JSON reason; never a 5xx (lost leadership,
/// a timeout) and never a bare error page.
fn assert_served_or_refused(what: &str, (status, body): &(u16, Value)) {
    match status {
        200..=299 => {}
        400..=499 => assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{what} was refused with {status} but no JSON error: {body}"
        ),
        _ => panic!("{what} answered {status}, neither served nor refused: {body}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_or_escape_heavy_values_never_cost_the_leader_its_leadership() {
    let c = Cluster::start(3, &[]);
    let leader = c.wait_leader(Duration::from_secs(10)).await;
    let (_, term) = leader_and_term(&c, leader).await;
    let follower = c.running().into_iter().find(|&i| i != leader).unwrap();

    // 400 KB of U+0001: valid UTF-8, but every character is 6 bytes (`\u0001`) in JSON.
    let controls = "\u{1}".repeat(400_000);
    let out = put_outcome(&c, leader, "controls".into(), controls).await;
    assert_served_or_refused("a 400 KB control-character value", &out);

    // Four at once, through a follower too, so they may meet in one batch on the leader.
    let big = "x".repeat(1_200_000);
    let puts = (0..4).map(|i| {
        let via = if i % 2 == 0 { leader } else { follower };
        put_outcome(&c, via, format!("big-{i}"), big.clone())
    });
    for (i, out) in futures::future::join_all(puts).await.iter().enumerate() {
        assert_served_or_refused(&format!("1.2 MB PUT #{i}"), out);
    }

    assert_no_election(&c, leader, term, Duration::from_secs(4)).await;
    assert_eq!(c.put(follower, "small", "ok").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_escaping_to_just_under_the_limit_replicate_without_an_election() {
    let c = Cluster::start(3, &[]);
    let leader = c.wait_leader(Duration::from_secs(10)).await;
    let (_, term) = leader_and_term(&c, leader).await;

    // The refusal names the limit on a command's JSON.
    let (status, body) = put_outcome(&c, leader, "probe".into(), "x".repeat(1_500_000)).await;
    assert_eq!(status, 413, "a 1.5 MB value is over the limit: {body}");
    let limit = body["limit_bytes"]
        .as_u64()
        .unwrap_or_else(|| panic!("the refusal names its limit: {body}")) as usize;

    // The worst case that is still accepted: control characters (6 bytes each in JSON) up to
    // the limit, four at once so that the leader must split them into entries that each fit.
    let chars = (limit - 256) / 6;
    let puts = (0..4).map(|i| put_outcome(&c, leader, format!("edge-{i}"), "\u{1}".repeat(chars)));
    for (i, (status, body)) in futures::future::join_all(puts)
        .await
        .into_iter()
        .enumerate()
    {
        assert_eq!(
            status, 200,
            "edge-{i} of {chars} control characters: {body}"
        );
    }
    let (status, body) = put_outcome(&c, leader, "over".into(), "\u{1}".repeat(chars + 60)).await;
    assert_eq!(
        status, 413,
        "one more 6-byte character per byte of headroom: {body}"
    );

    let target = applied(&c, leader).await;
    for id in c.running() {
        c.wait_applied(id, target, Duration::from_secs(10)).await;
    }
    assert_no_election(&c, leader, term, Duration::from_secs(2)).await;
}
