//! Validation stays quick however many errors a campaign has: each error's line and column are
//! looked up, not searched for again in the whole text (regression: 16,000 bad entries took
//! over two minutes, every error rescanning the file).

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn twenty_thousand_bad_faults_are_refused_within_seconds_each_at_its_line() {
    const ENTRIES: usize = 20_000;
    let mut text = String::from("workload:\n  kind: register\nnemesis:\n  faults:\n");
    for _ in 0..ENTRIES {
        text.push_str("    - kill: nobody\n");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, &text).unwrap();
    let out_dir = dir.path().join("results");

    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["test", path.to_str().unwrap(), "--out"])
        .arg(&out_dir)
        .env("FAULTLINE_LOG", "warn")
        .output()
        .expect("running faultline");
    let took = started.elapsed();

    assert_eq!(out.status.code(), Some(254), "{}", tail(&out.stderr));
    // Generous for a debug build on a busy machine: the quadratic search took minutes.
    assert!(
        took < Duration::from_secs(10),
        "validating {ENTRIES} bad entries took {took:?}"
    );
    assert!(!out_dir.exists(), "a results directory was created");
    let stderr = String::from_utf8(out.stderr).unwrap();
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("unknown target \"nobody\""))
        .collect();
    assert_eq!(errors.len(), ENTRIES, "{}", tail(stderr.as_bytes()));
    // Entry i sits on line 5 + i, its `kill` key at column 7.
    let want_first = "c.yaml:5:7: nemesis.faults[0].kill: unknown target";
    let last = ENTRIES - 1;
    let want_last = format!(
        "c.yaml:{}:7: nemesis.faults[{last}].kill: unknown target",
        5 + last
    );
    assert!(errors[0].contains(want_first), "{}", errors[0]);
    assert!(errors[last].contains(&want_last), "{}", errors[last]);
}

/// The end of a long output, for assertion messages.
fn tail(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let start = s.len().saturating_sub(2000);
    let start = (start..s.len())
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(s.len());
    s[start..].to_string()
}
