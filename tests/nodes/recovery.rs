//! A node whose log tail was cut mid-record (a torn write) detects it by checksum, truncates it,
//! and rejoins; `faultline node inspect` shows the damage before the restart.

use std::fs::OpenOptions;
use std::io::Write;
use std::process::Command;
use std::time::Duration;

use crate::util::node_cluster::{write_many, Cluster};
use serde_json::json;

fn last_segment(dir: &std::path::Path) -> std::path::PathBuf {
    let mut segs: Vec<_> = std::fs::read_dir(dir.join("log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    segs.sort();
    segs.pop().expect("at least one segment")
}

/// Runs `faultline node inspect` and checks its exit status (0 clean, 2 torn tail).
fn inspect(dir: &std::path::Path, expect_code: i32) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["node", "inspect"])
        .arg(dir)
        .output()
        .expect("running faultline node inspect");
    assert_eq!(
        out.status.code(),
        Some(expect_code),
        "inspect exit status; stdout:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_log_tail_is_detected_and_the_node_rejoins() {
    let mut c = Cluster::start(3, &[]);
    let leader = c.wait_leader(Duration::from_secs(10)).await;
    let victim = c.running().into_iter().find(|&i| i != leader).unwrap();
    let other = c
        .running()
        .into_iter()
        .find(|&i| i != leader && i != victim)
        .unwrap();
    write_many(&c, leader, "t", 200, 8).await;
    c.kill(victim);

    // Cut the last record in half, then add a torn header after it for good measure.
    let seg = last_segment(c.data_dir(victim));
    let len = std::fs::metadata(&seg).unwrap().len();
    let f = OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(len - 7).unwrap();
    drop(f);
    let report = inspect(c.data_dir(victim), 2);
    assert!(
        report.contains("BAD TAIL"),
        "inspect shows the torn tail:\n{report}"
    );
    assert!(report.contains("vote:"), "{report}");

    c.spawn(victim);
    c.wait_serving(victim, Duration::from_secs(10)).await;
    let target = c.status(leader).await.unwrap()["applied_index"]
        .as_u64()
        .unwrap();
    c.wait_applied(victim, target, Duration::from_secs(30))
        .await;
    let log = std::fs::read_to_string(c.dir.path().join(format!("n{victim}.log"))).unwrap();
    assert!(
        log.contains("log tail is torn"),
        "the truncation is logged:\n{log}"
    );

    // Garbage appended after a clean end is a torn header: also truncated.
    c.kill(victim);
    assert!(!inspect(c.data_dir(victim), 0).contains("BAD TAIL"));
    let seg = last_segment(c.data_dir(victim));
    OpenOptions::new()
        .append(true)
        .open(&seg)
        .unwrap()
        .write_all(&[0x10, 0, 0])
        .unwrap();
    c.spawn(victim);
    c.wait_serving(victim, Duration::from_secs(10)).await;
    c.wait_leader(Duration::from_secs(10)).await;
    c.wait_applied(victim, target, Duration::from_secs(30))
        .await;

    // The recovered node is needed for a quorum now, and serves everything.
    c.kill(other);
    assert_eq!(c.put(victim, "after", "ok").await.status(), 200);
    assert_eq!(c.get(victim, "t-199").await, json!("v199"));
    assert_eq!(c.get(victim, "after").await, json!("ok"));
}
