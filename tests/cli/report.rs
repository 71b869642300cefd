//! `faultline report DIR`: report.html is self-contained and shows the fault windows and the
//! counterexample; junit.xml is well-formed JUnit with the violation as a failure.

use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::json;

fn faultline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
}

/// A small run: two writers, a reader that sees a stale value, a kill and a partition.
fn write_run(dir: &Path) {
    let ms = 1_000_000u64;
    let events = [
        json!({"index":0,"time":0,"process":0,"type":"invoke","f":"write","key":"k1","value":1}),
        json!({"index":1,"time":5*ms,"process":0,"type":"ok","f":"write","key":"k1","value":1}),
        json!({"index":2,"time":6*ms,"process":"nemesis","type":"info","f":"kill","value":{"targets":["n1"]}}),
        json!({"index":3,"time":10*ms,"process":1,"type":"invoke","f":"write","key":"k1","value":2}),
        json!({"index":4,"time":15*ms,"process":1,"type":"ok","f":"write","key":"k1","value":2}),
        json!({"index":5,"time":20*ms,"process":2,"type":"invoke","f":"read","key":"k1","value":null}),
        json!({"index":6,"time":25*ms,"process":2,"type":"ok","f":"read","key":"k1","value":1}),
        json!({"index":7,"time":30*ms,"process":"nemesis","type":"info","f":"start","value":{"targets":["n1"]}}),
        json!({"index":8,"time":31*ms,"process":"nemesis","type":"info","f":"partition","value":{"targets":["n1","n2 n3"]}}),
        json!({"index":9,"time":32*ms,"process":0,"type":"invoke","f":"write","key":"k1","value":3}),
        json!({"index":10,"time":40*ms,"process":0,"type":"info","f":"write","key":"k1","value":3,"error":"timeout"}),
        json!({"index":11,"time":45*ms,"process":"nemesis","type":"info","f":"heal","value":null}),
    ];
    let mut text: String = events.iter().map(|e| format!("{e}\n")).collect();
    // A run killed mid-write leaves a partial last line; the report must still render.
    text.push_str("{\"index\":12,\"time\":");
    fs::write(dir.join("history.jsonl"), text).unwrap();
    let results = json!({
        "valid": false, "seed": 42, "campaign": {"name": "stale-read"}, "started_at": "2026-11-23T06:00:00Z",
        "checkers": {"linearizable": {"valid": false, "keys": {"k1": {"valid": false}}, "counterexample": {
            "key": "k1",
            "explanation": "read 1 by p2 must follow write 1 by p0, but write 2 by p1 completes between them and p2 invoked after it",
            "ops": [
                {"index": 0, "process": 0, "f": "write", "call": 1, "result": 1, "type": "ok"},
                {"index": 3, "process": 1, "f": "write", "call": 2, "result": 2, "type": "ok"},
                {"index": 5, "process": 2, "f": "read", "call": null, "result": 1, "type": "ok"}
            ]}}}
    });
    fs::write(dir.join("results.json"), results.to_string()).unwrap();
    fs::create_dir_all(dir.join("logs")).unwrap();
    fs::write(dir.join("logs/n1.log"), "node 1 log\n").unwrap();
}

fn report(dir: &Path) {
    let out = faultline().arg("report").arg(dir).output().unwrap();
    assert!(
        out.status.success(),
        "faultline report failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn report_is_self_contained_and_shows_what_happened() {
    let tmp = tempfile::tempdir().unwrap();
    write_run(tmp.path());
    report(tmp.path());
    let html = fs::read_to_string(tmp.path().join("report.html")).unwrap();
    for external in ["http://", "https://", "src=", "@import", "url("] {
        assert!(
            !html.contains(external),
            "report.html refers outside itself: {external}"
        );
    }
    assert!(html.contains("INVALID"));
    assert!(
        html.contains("data-fault=\"kill\""),
        "kill window not shaded"
    );
    assert!(
        html.contains("data-fault=\"partition\""),
        "partition window not shaded"
    );
    assert!(html.contains("id=\"counterexample\""));
    assert!(html.contains("write 2 by p1 completes between them"));
    assert!(
        html.contains("class=\"cex-timeline\""),
        "counterexample not drawn on its own timeline"
    );
    assert!(html.contains("href=\"logs/n1.log\""));
    assert!(
        html.contains("could not be read"),
        "the skipped partial line is not mentioned"
    );
}

#[test]
fn junit_is_valid_and_carries_the_counterexample() {
    let tmp = tempfile::tempdir().unwrap();
    write_run(tmp.path());
    report(tmp.path());
    let xml = fs::read_to_string(tmp.path().join("junit.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("junit.xml is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 1);
    let suite = suites[0];
    assert_eq!(suite.attribute("name"), Some("stale-read"));
    for attr in ["tests", "failures", "errors", "time"] {
        let v = suite
            .attribute(attr)
            .unwrap_or_else(|| panic!("testsuite lacks {attr}"));
        v.parse::<f64>()
            .unwrap_or_else(|_| panic!("{attr}={v} is not a number"));
    }
    let cases: Vec<_> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len().to_string(), suite.attribute("tests").unwrap());
    for c in &cases {
        assert!(c.attribute("classname").is_some() && c.attribute("name").is_some());
    }
    let failures: Vec<_> = cases
        .iter()
        .filter_map(|c| c.children().find(|n| n.has_tag_name("failure")))
        .collect();
    assert_eq!(
        failures.len().to_string(),
        suite.attribute("failures").unwrap()
    );
    assert!(failures
        .iter()
        .any(|f| f.text().unwrap_or("").contains("completes between them")));
    assert!(cases
        .iter()
        .any(|c| c.attribute("name") == Some("linearizable[key=k1]")));
}

#[test]
fn report_of_a_directory_without_history_is_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let out = faultline().arg("report").arg(tmp.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(254));
    assert!(String::from_utf8_lossy(&out.stderr).contains("history.jsonl"));
}

/// A list-append run with write skew: the report names the anomaly, explains it step by step
/// and draws its cycle, still referring to nothing outside itself.
#[test]
fn report_draws_a_transactional_anomaly_as_a_cycle() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ev = |i: u64, p: u64, ty: &str, v: serde_json::Value| json!({"index": i, "time": i * 1_000_000, "process": p, "type": ty, "f": "txn", "value": v});
    let events = [
        ev(
            0,
            0,
            "invoke",
            json!([["r", "x", null], ["append", "y", 1]]),
        ),
        ev(
            1,
            1,
            "invoke",
            json!([["r", "y", null], ["append", "x", 1]]),
        ),
        ev(2, 0, "ok", json!([["r", "x", []], ["append", "y", 1]])),
        ev(3, 1, "ok", json!([["r", "y", []], ["append", "x", 1]])),
        ev(4, 2, "invoke", json!([["r", "x", null], ["r", "y", null]])),
        ev(5, 2, "ok", json!([["r", "x", [1]], ["r", "y", [1]]])),
    ];
    let text: String = events.iter().map(|e| format!("{e}\n")).collect();
    fs::write(dir.join("history.jsonl"), text).unwrap();
    // The checkers' results exactly as `faultline check` reports them.
    let out = faultline()
        .args(["check", "--json"])
        .arg(dir.join("history.jsonl"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = json!({
        "valid": false, "seed": 1, "campaign": {"name": "write-skew"},
        "checkers": doc["files"][0]["checkers"],
    });
    fs::write(dir.join("results.json"), results.to_string()).unwrap();
    report(dir);
    let html = fs::read_to_string(dir.join("report.html")).unwrap();
    for external in ["http://", "https://", "src=", "@import", "url("] {
        assert!(
            !html.contains(external),
            "report.html refers outside itself: {external}"
        );
    }
    assert!(html.contains("id=\"anomalies\""), "no anomalies section");
    assert!(html.contains("<h3>G2-item"), "the anomaly is not named");
    assert!(html.contains("class=\"cycle\""), "the cycle is not drawn");
    assert!(
        html.contains("T0 read &quot;x&quot; = [] without 1"),
        "no step in words"
    );
    assert!(html.contains("Rules out: strict-serializable"));
}

/// An unknown run says why in report.html's top band (its notes and the checkers without a
/// verdict), not a generic "a checker hit its limit"; coverage is a table; junit.xml carries the
/// unknown verdict as an error even though every checker passed.
#[test]
fn an_unknown_run_says_why_in_the_report_and_junit() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path());
    let results = json!({
        "valid": "unknown", "seed": 3, "campaign": "smoke",
        "notes": ["fault kind pause was applied 1 time(s) but never observed"],
        "checkers": {"linearizable": {"valid": true}},
        "coverage": {"kill": {"scheduled": 1, "applied": 1, "observed": 1, "skipped": 0, "failed": 0},
                     "pause": {"scheduled": 1, "applied": 1, "observed": 0, "skipped": 0, "failed": 0}}
    });
    fs::write(dir.path().join("results.json"), results.to_string()).unwrap();
    report(dir.path());
    let html = fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(
        html.contains("Why there is no verdict"),
        "no reasons section"
    );
    assert!(html.contains("<li>fault kind pause was applied 1 time(s) but never observed</li>"));
    assert!(!html.contains("hit its limit"));
    assert!(
        html.contains("<tr class=\"short\"><td>pause</td><td>1</td><td>1</td><td>0</td>"),
        "coverage is not a table marking the unobserved kind"
    );
    let junit = fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    roxmltree::Document::parse(&junit).unwrap();
    assert!(junit.contains("errors=\"1\""), "{junit}");
    assert!(junit.contains("never observed</error>"), "{junit}");
}

/// A `results.json` that is not a results document is bad input (254) naming the file and what
/// is wrong with it, in one line: never 255 or a raw error. Another tool's JSON object is still
/// rendered.
#[test]
fn report_of_a_bad_results_json_is_bad_input_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    write_run(tmp.path());
    let results = tmp.path().join("results.json");
    let cases: [(&[u8], &str); 7] = [
        (b"not json{", "not JSON"),
        (b"", "not JSON"),
        (b"{\"valid\": tr", "not JSON"),
        (b"\xff\xfe{}", "not JSON"),
        (b"[1, 2]", "not a results document"),
        (b"null", "not a results document"),
        (b"\"valid\"", "not a results document"),
    ];
    for (content, needle) in cases {
        fs::write(&results, content).unwrap();
        let out = faultline().arg("report").arg(tmp.path()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(254), "{content:?}: {stderr}");
        assert!(
            stderr.contains("results.json") && stderr.contains(needle),
            "{content:?}: {stderr}"
        );
        assert_eq!(stderr.trim().lines().count(), 1, "{content:?}: {stderr}");
    }
    fs::remove_file(&results).unwrap();
    fs::create_dir(&results).unwrap();
    let out = faultline().arg("report").arg(tmp.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(254), "{stderr}");
    assert!(stderr.contains("is a directory"), "{stderr}");
    fs::remove_dir(&results).unwrap();
    fs::write(&results, br#"{"valid?": true, "from": "another tool"}"#).unwrap();
    report(tmp.path());
}
