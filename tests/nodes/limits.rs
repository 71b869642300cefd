//! Size limits between nodes: a follower far behind catches up from a snapshot of tens of MB,
//! and no client value, however large or however it escapes in JSON, can make the followers
//! refuse replication and so force an election.

use std::time::{Duration, Instant};

use crate::util::node_cluster::{
    assert_no_election, leader_and_term, try_leader_and_term, write_values, Cluster,
};
use serde_json::Value;

/// State built while the follower is down: far above the ~0.55 MB at which a 1 MiB snapshot
/// chunk, sent as a JSON array of numbers, outgrew the follower's 2 MB body limit.
const STATE_BYTES: usize = 48 << 20;
const VALUE_BYTES: usize = 192 << 10;

async fn applied(c: &Cluster, id: u64) -> u64 {
    c.status(id).await.expect("status")["applied_index"]
        .as_u64()
        .expect("applied_index")
}

/// Polls until node `lagger` has applied `index`, failing at once if any node reports another
/// leader or a later term than `(leader, term)` on the way.
async fn wait_caught_up_without_election(
    c: &Cluster,
    lagger: u64,
    index: u64,
    (leader, term): (u64, u64),
    within: Duration,
) {
    let deadline = Instant::now() + within;
    loop {
        // A node too busy to answer this poll is checked at the next; terms only grow.
        for id in c.running().into_iter().filter(|&i| i != lagger) {
            if let Some(seen) = try_leader_and_term(c, id).await {
                assert_eq!(
                    seen,
                    (Some(leader), term),
                    "node {id} saw an election while node {lagger} caught up\n{}",
                    c.logs()
                );
            }
        }
        let lag = c.status(lagger).await;
        let lag_term = lag.as_ref().and_then(|s| s["term"].as_u64());
        assert!(
            lag_term.is_none_or(|t| t <= term),
            "the catching-up node {lagger} moved to term {lag_term:?} (was {term}): it stood for election\n{}",
            c.logs()
        );
        let done = lag.as_ref().and_then(|s| s["applied_index"].as_u64());
        if done.is_some_and(|a| a >= index) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "node {lagger} applied {done:?}, not {index}, within {within:?}\n{}",
            c.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await; // poll again, before the deadline
    }
}

fn log_of(c: &Cluster, id: u64) -> String {
    std::fs::read_to_string(c.dir.path().join(format!("n{id}.log"))).unwrap_or_default()
}

/// Kills a follower, builds [`STATE_BYTES`] of state without it, restarts it with `lagger_flags`
/// (the cluster's own flags when empty) and waits until it has caught up, failing on any
/// election on the way. Returns the caught-up node and the node it did not need.
async fn catch_up_from_a_big_snapshot(c: &mut Cluster, lagger_flags: &[&str]) -> (u64, u64) {
    let leader = c.wait_leader(Duration::from_secs(10)).await;
    let (_, term) = leader_and_term(c, leader).await;
    let lagger = c.running().into_iter().find(|&i| i != leader).unwrap();
    let other = c
        .running()
        .into_iter()
        .find(|&i| i != leader && i != lagger)
        .unwrap();
    c.kill(lagger);

    let built = Instant::now();
    let count = STATE_BYTES / VALUE_BYTES;
    write_values(c, leader, "big", count, VALUE_BYTES, 4).await;
    eprintln!(
        "built {count} values of {VALUE_BYTES} B in {:?}",
        built.elapsed()
    );

    let caught_up = Instant::now();
    if lagger_flags.is_empty() {
        c.spawn(lagger);
    } else {
        c.spawn_with(lagger, lagger_flags);
    }
    let target = applied(c, leader).await;
    wait_caught_up_without_election(c, lagger, target, (leader, term), Duration::from_secs(30))
        .await;
    eprintln!("caught up to index {target} in {:?}", caught_up.elapsed());
    let log = log_of(c, lagger);
    assert!(
        log.contains("installed snapshot from the leader"),
        "node {lagger} caught up by snapshot, not by entries:\n{log}"
    );
    assert_no_election(c, leader, term, Duration::from_secs(1)).await;
    (lagger, other)
}

/// Snapshots every few entries and no log kept behind them: the leader has purged what a
/// follower misses, so the follower can only catch up by installing a snapshot.
const SNAPSHOT_OFTEN: [&str; 4] = ["--snapshot-every", "40", "--snapshot-keep", "0"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follower_behind_a_48mb_state_catches_up_from_a_snapshot_without_an_election() {
    let mut c = Cluster::start(3, &SNAPSHOT_OFTEN);
    let (lagger, other) = catch_up_from_a_big_snapshot(&mut c, &[]).await;

    // Without `other`, a quorum needs the caught-up node, so what it serves is what it holds.
    c.kill(other);
    assert_eq!(c.put(lagger, "after", "yes").await.status(), 200);
    for i in [0, STATE_BYTES / VALUE_BYTES - 1] {
        let v = c.get(lagger, &format!("big-{i}")).await;
        assert_eq!(v.as_str().map(str::len), Some(VALUE_BYTES), "big-{i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_taking_longer_than_an_election_timeout_to_arrive_does_not_cause_an_election() {
    // The restarted follower stands for election after 300-400 ms without a word from the
    // leader (a lease of --election-max-ms, plus the timeout). Streaming the snapshot to it takes
    // longer here, and so does installing it, and openraft 0.9's leader sends it no heartbeat
    // meanwhile.
    let mut impatient = SNAPSHOT_OFTEN.to_vec();
    impatient.extend([
        "--heartbeat-ms",
        "50",
        "--election-min-ms",
        "100",
        "--election-max-ms",
        "200",
    ]);
    let mut c = Cluster::start(3, &SNAPSHOT_OFTEN);
    catch_up_from_a_big_snapshot(&mut c, &impatient).await;
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
    // the limit, four at once so that the batcher meets several and must keep each entry within
    // the limit.
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
    // 360 bytes more JSON than those, which left 256 bytes for the key and punctuation.
    let (status, body) = put_outcome(&c, leader, "over".into(), "\u{1}".repeat(chars + 60)).await;
    assert_eq!(status, 413, "just over the limit: {body}");

    let target = applied(&c, leader).await;
    for id in c.running() {
        c.wait_applied(id, target, Duration::from_secs(10)).await;
    }
    assert_no_election(&c, leader, term, Duration::from_secs(2)).await;
}
