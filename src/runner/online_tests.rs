//! Online checking end to end against the in-memory fake cluster: a planted stale read is found
//! while the run goes, with its time and operation; `checker.stop_on_violation` ends the run
//! early, healed, with a full results directory; and the verdict is always that of `faultline
//! check` on the history the run wrote.

use std::path::Path;
use std::time::{Duration, Instant};

use checkers::history::{Event, EventType, Process};
use tokio::sync::watch;

use super::campaign::parse;
use super::fake::Fake;
use super::tests::{plan, read_events, run};
use super::validate::{validate, Overrides};
use crate::exit::Validity;
use crate::report::results::FirstViolation;
use crate::report::store;

/// A register run on a store that starts serving stale reads after 200 operations.
const STALE: &str = "\
name: fake-online
seed: 3
workload: {kind: register, keys: 2}
concurrency: 4
duration: 3s
quiet: 10ms
nemesis: {faults: []}
";

fn stale_fake() -> Fake {
    let fake = Fake::new(3);
    fake.state.lock().unwrap().stale_reads_after = Some(200);
    fake
}

/// The verdict `faultline check DIR` gives: the history's format detected, its checkers chosen
/// from its operations.
fn check_dir(dir: &Path) -> Validity {
    let bytes = std::fs::read(dir.join("history.jsonl")).unwrap();
    let history = checkers::parse::parse_auto(&bytes).unwrap();
    let chosen = checkers::analysis::for_history(&history);
    checkers::analysis::analyze(&history, &chosen, &Default::default())
        .unwrap()
        .validity()
}

/// The linearizability verdict on `key` of the history's events `events` (as `check` reads a
/// file of them).
fn key_verdict(events: &[Event], key: &str) -> Validity {
    let mut text = Vec::new();
    for e in events.iter().filter(|e| e.key.as_deref() == Some(key)) {
        serde_json::to_writer(&mut text, e).unwrap();
        text.push(b'\n');
    }
    let h = checkers::parse::parse(&text, checkers::parse::Format::Faultline).unwrap();
    checkers::check_history(&h, None, None, &Default::default())
        .unwrap()
        .verdict
        .validity()
}

/// The violation names real events of the history: its operation's invocation and completion
/// (a read that returned ok, at `at_s`), and a core of operations on its key; the key's history
/// up to that completion is not linearizable, and up to the one before it, it is.
fn assert_violation_is_in_the_history(v: &FirstViolation, dir: &Path) {
    let (events, _) = read_events(dir);
    let done = &events[v.op.complete_index.expect("a completion") as usize];
    let invoked = &events[v.op.invoke_index.expect("an invocation") as usize];
    assert_eq!(v.checker, "linearizability");
    assert_eq!(done.key.as_deref(), Some(v.key.as_str()), "{v:?}");
    assert_eq!(
        (done.f.as_str(), done.kind),
        ("read", EventType::Ok),
        "{v:?}"
    );
    assert_eq!(v.op.outcome, "ok");
    assert!(v.op.op.starts_with("read "), "{v:?}");
    let process = Process::Client(v.op.process.expect("a process") as u64);
    assert_eq!(done.process, process);
    assert_eq!(
        (invoked.process, invoked.kind),
        (process, EventType::Invoke)
    );
    assert!((done.time as f64 / 1e9 - v.at_s).abs() < 1e-6, "{v:?}");
    assert!(v.at_s <= v.found_s, "{v:?}");
    assert!(!v.core.is_empty() && !v.explanation.is_empty(), "{v:?}");
    for op in &v.core {
        let i = op.invoke_index.expect("core ops were invoked") as usize;
        assert_eq!(events[i].key.as_deref(), Some(v.key.as_str()), "{op:?}");
        assert_eq!(events[i].kind, EventType::Invoke, "{op:?}");
    }
    let at = v.op.complete_index.unwrap() as usize;
    assert_eq!(key_verdict(&events[..=at], &v.key), Validity::Invalid);
    let before = events[..at]
        .iter()
        .rposition(|e| e.key.as_deref() == Some(v.key.as_str()) && e.kind != EventType::Invoke)
        .expect("earlier completions on the key");
    assert_eq!(key_verdict(&events[..=before], &v.key), Validity::Valid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_stale_read_is_found_online_with_its_time_and_operation() {
    let dir = tempfile::tempdir().unwrap();
    let fake = stale_fake();
    let (_tx, rx) = watch::channel(false);
    let out = run(&plan(STALE), &fake, dir.path(), rx).await;
    let r = &out.results;
    assert!(out.harness_errors.is_empty(), "{:?}", out.harness_errors);
    assert_eq!(r.valid, Validity::Invalid, "{:?}", r.checkers);
    let v = r.first_violation.as_ref().expect("found online");
    // Found while the run went (it ran its whole 3 s: nothing asked it to stop).
    assert!(!v.stopped_run);
    assert!(r.stats.run_ms >= 2900, "{:?}", r.stats);
    assert!(
        v.found_s * 1000.0 < r.stats.run_ms as f64,
        "{v:?} {:?}",
        r.stats
    );
    assert_violation_is_in_the_history(v, dir.path());
    assert!(
        r.notes.iter().any(|n| n.starts_with(&format!(
            "online check: key {} not linearizable from",
            v.key
        ))),
        "{:?}",
        r.notes
    );
    // The verdict is the check of the whole history's, as `faultline check` gives it.
    assert_eq!(check_dir(dir.path()), r.valid);
    let stored = store::load(dir.path()).unwrap();
    assert_eq!(stored.results.validity(), Validity::Invalid);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results.json")).unwrap())
            .unwrap();
    assert_eq!(json["first_violation"]["key"], v.key.as_str());
    assert_eq!(json["first_violation"]["op"]["op"], v.op.op.as_str());
    assert!(json["first_violation"]["at_s"].as_f64().unwrap() > 0.0);
    assert!(json["online"]["checks"].as_u64().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_on_violation_ends_the_run_early_healed_with_full_results() {
    let dir = tempfile::tempdir().unwrap();
    let fake = stale_fake();
    let (_tx, rx) = watch::channel(false);
    let text = STALE.replace("duration: 3s", "duration: 60s")
        + "checker: {stop_on_violation: true}\n"
        + "nemesis:\n  schedule:\n    - {at: 100ms, duration: 50s, kill: random-node}\n";
    let text = text.replace("nemesis: {faults: []}\n", "");
    let started = Instant::now();
    let out = run(&plan(&text), &fake, dir.path(), rx).await;
    let r = &out.results;
    assert!(out.harness_errors.is_empty(), "{:?}", out.harness_errors);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "a 60 s run did not stop on its violation"
    );
    assert!(r.stats.run_ms < 10_000, "{:?}", r.stats);
    assert!(!r.interrupted);
    let v = r.first_violation.as_ref().expect("found online");
    assert!(v.stopped_run);
    assert_violation_is_in_the_history(v, dir.path());
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("the run stopped there (checker.stop_on_violation)")),
        "{:?}",
        r.notes
    );
    // Healed by the normal final heal (the kill window was still open), then torn down.
    let calls = fake.calls();
    assert!(calls.iter().any(|c| c.starts_with("kill")), "{calls:?}");
    assert_eq!(
        calls[calls.len() - 2..],
        ["start n1,n2,n3", "add n1,n2,n3"],
        "{calls:?}"
    );
    assert!(fake.state.lock().unwrap().torn_down);
    assert!(r.faults[0].end_ns.is_some(), "{:?}", r.faults);
    // The whole results directory, and the verdict `check` gives its history.
    for file in [
        "history.jsonl",
        "results.json",
        "junit.xml",
        "report.html",
        "history.edn",
        "logs/n1.log",
    ] {
        assert!(dir.path().join(file).is_file(), "{file} missing");
    }
    assert_eq!(r.valid, Validity::Invalid, "{:?}", r.checkers);
    assert_eq!(check_dir(dir.path()), r.valid);
    let (events, _) = read_events(dir.path());
    let heal_end = events
        .iter()
        .position(|e| e.f == "heal-all" && e.value["phase"] == "end")
        .expect("the final heal is in the history");
    let final_reads = events[heal_end..]
        .iter()
        .filter(|e| e.f == "read" && e.kind == EventType::Ok)
        .count();
    assert_eq!(final_reads, 2, "the final reads ran after the heal");
    let stored = store::load(dir.path()).unwrap();
    assert_eq!(stored.results.validity(), Validity::Invalid);
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(junit.contains("linearizability"), "{junit}");
    let page = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(
        page.contains(&format!(
            "Found while the run went: key <b>{}</b> is not linearizable from",
            v.key
        )) && page.contains("; the run stopped there."),
        "the report does not show the violation found online"
    );
}

/// Online checking applies to register workloads only; `stop_on_violation` is refused where it
/// cannot act, naming the field.
#[test]
fn online_checking_is_validated_and_applies_to_register_workloads_only() {
    let validate_text = |text: &str| {
        let path = Path::new("t.yaml");
        let c = parse(text, path).unwrap();
        validate(&c, text, path, &Overrides::default())
    };
    let p = validate_text("workload: {kind: register}\n").unwrap();
    assert!(p.online_check && !p.stop_on_violation);
    let p =
        validate_text("workload: {kind: register}\nchecker: {stop_on_violation: true}\n").unwrap();
    assert!(p.online_check && p.stop_on_violation);
    let p = validate_text("workload: {kind: register}\nchecker: {online: false}\n").unwrap();
    assert!(!p.online_check);
    for kind in ["set", "list-append", "rw-register"] {
        let p = validate_text(&format!("workload: {{kind: {kind}}}\n")).unwrap();
        assert!(!p.online_check, "{kind}");
        let e = validate_text(&format!(
            "workload: {{kind: {kind}}}\nchecker: {{stop_on_violation: true}}\n"
        ))
        .unwrap_err();
        let e = format!("{e:#}");
        assert!(
            e.contains("checker.stop_on_violation")
                && e.contains(&format!(
                    "the {kind} workload is not checked while the run goes"
                )),
            "{e}"
        );
    }
    let e = validate_text(
        "workload: {kind: register}\nchecker: {online: false, stop_on_violation: true}\n",
    )
    .unwrap_err();
    assert!(
        format!("{e:#}").contains("checker.stop_on_violation: needs the online check"),
        "{e:#}"
    );
}

/// A set run is not checked online: no `online` in its results.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_run_is_not_checked_online() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(3);
    let (_tx, rx) = watch::channel(false);
    let p = plan("workload: {kind: set}\nops: 50\nquiet: 10ms\nnemesis: {faults: []}\n");
    let out = run(&p, &fake, dir.path(), rx).await;
    assert_eq!(out.results.valid, Validity::Valid);
    assert!(out.results.online.is_none() && out.results.first_violation.is_none());
}
