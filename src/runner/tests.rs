//! The phases end to end against the in-memory fake cluster.

use std::path::Path;
use std::time::{Duration, Instant};

use checkers::history::{EventType, Process};
use tokio::sync::watch;

use super::campaign::parse;
use super::fake::Fake;
use super::phases::{execute, Options, Outcome};
use super::plan::Plan;
use super::replay;
use super::validate::{validate, Overrides};
use crate::exit::Validity;
use crate::report::results::FaultStatus;
use crate::report::{store, RunDir};

pub(super) fn plan(text: &str) -> Plan {
    let path = Path::new("t.yaml");
    let c = parse(text, path).unwrap();
    validate(&c, text, path, &Overrides::default()).unwrap()
}

pub(super) fn options() -> Options {
    Options {
        progress: false,
        leader_deadline: Duration::from_secs(2),
        recovery_deadline: Duration::from_secs(2),
        ..Options::default()
    }
}

/// The events of a run's `history.jsonl`, and what reading it warned of.
pub(super) fn read_events(dir: &Path) -> (Vec<checkers::history::Event>, Option<String>) {
    let h = super::check::read_history(&dir.join("history.jsonl")).unwrap();
    (h.to_events(), h.warnings.first().cloned())
}

/// The history's checkers, and the run's own (crash, recovery) as names and verdicts.
fn split_run_checkers(
    all: &[checkers::analysis::CheckerResult],
) -> (
    Vec<checkers::analysis::CheckerResult>,
    Vec<(String, Validity)>,
) {
    let (run, history): (Vec<_>, Vec<_>) = all
        .iter()
        .cloned()
        .partition(|c| c.name == "crash" || c.name == "recovery");
    (
        history,
        run.into_iter().map(|c| (c.name, c.valid)).collect(),
    )
}

pub(super) async fn run(
    plan: &Plan,
    fake: &Fake,
    dir: &Path,
    interrupted: watch::Receiver<bool>,
) -> Outcome {
    execute(
        plan,
        fake.clone(),
        fake.clone(),
        &RunDir::at(dir),
        &options(),
        interrupted,
    )
    .await
    .unwrap()
}

const FAULTY: &str = "\
name: fake
seed: 7
workload: {kind: register, keys: 2}
concurrency: 4
duration: 1500ms
quiet: 50ms
nemesis:
  schedule:
    - {at: 200ms, duration: 300ms, kill: leader}
    - {at: 600ms, duration: 300ms, pause: random-node}
    - {at: 1000ms, duration: 300ms, partition: isolate-leader}
";

const LINKS: &str = "\
name: fake-links
seed: 7
workload: {kind: register, keys: 2}
concurrency: 2
duration: 1200ms
quiet: 50ms
nemesis:
  schedule:
    - {at: 100ms, duration: 300ms, loss: {pattern: halves, percent: 30}}
    - {at: 500ms, duration: 300ms, slow: {pattern: isolate-leader, rate: 1mbit}}
    - {at: 900ms, duration: 250ms, loss: {percent: 5}}
    - {at: 300ms, duration: 500ms, clock: {target: leader, offset: +30s}}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_faults_are_applied_observed_recorded_and_restored() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(3);
    let (_tx, rx) = watch::channel(false);
    let p = plan(LINKS);
    assert_eq!(p.fault_kinds, vec!["loss", "slow", "clock"]);
    let out = run(&p, &fake, dir.path(), rx).await;
    let r = &out.results;
    assert!(out.harness_errors.is_empty(), "{:?}", out.harness_errors);
    let loss = &r.coverage["loss"];
    assert_eq!(
        (loss.scheduled, loss.applied, loss.observed),
        (2, 2, 2),
        "{:?}",
        r.faults
    );
    let slow = &r.coverage["slow"];
    assert_eq!(
        (slow.scheduled, slow.applied, slow.observed),
        (1, 1, 1),
        "{:?}",
        r.faults
    );
    assert_eq!(
        r.faults[0].effect.as_deref(),
        Some("fake loss in effect: true")
    );
    // The clock fault was seen in the node's reported time.
    let clock = &r.coverage["clock"];
    assert_eq!((clock.applied, clock.observed), (1, 1), "{:?}", r.faults);
    let effect = r
        .faults
        .iter()
        .find(|f| f.kind == "clock")
        .unwrap()
        .effect
        .clone()
        .unwrap();
    assert!(
        effect.starts_with("n1 reads +30.0s") || effect.starts_with("n1 reads +29.9s"),
        "{effect}"
    );
    let calls = fake.calls();
    assert!(calls.contains(&"clock n1 +30".to_string()), "{calls:?}");
    assert!(calls.contains(&"reset-clock n1".to_string()), "{calls:?}");
    assert!(fake.state.lock().unwrap().clocks.is_empty());
    assert!(calls.contains(&"loss 30% 3".to_string()), "{calls:?}");
    assert!(calls.contains(&"slow 1mbit 3".to_string()), "{calls:?}");
    // Each window was undone by restoring its own kind, and the final heal restored them all.
    assert!(fake.state.lock().unwrap().links.is_empty());
    let (events, _) = read_events(dir.path());
    let start = events
        .iter()
        .find(|e| e.f == "loss" && e.value["phase"] == "start")
        .unwrap();
    assert_eq!(start.value["percent"], 30.0);
    assert!(start.value["links"].is_object(), "{}", start.value);
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.notes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strobed_clock_toggles_during_its_window_and_stops_before_the_final_heal() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(3);
    let (_tx, rx) = watch::channel(false);
    let text = "name: fake-strobe\nseed: 7\nworkload: {kind: register, keys: 2}\nconcurrency: 2\nduration: 3s\nquiet: 50ms\nnemesis:\n  schedule:\n    - {at: 100ms, duration: 2600ms, clock: {target: leader, offset: +30s, strobe: 2s}}\n";
    let out = run(&plan(text), &fake, dir.path(), rx).await;
    let r = &out.results;
    assert!(out.harness_errors.is_empty(), "{:?}", out.harness_errors);
    let c = &r.coverage["clock"];
    assert_eq!(
        (c.applied, c.observed, c.failed),
        (1, 1, 0),
        "{:?}",
        r.faults
    );
    let effect = r.faults[0].effect.clone().unwrap();
    assert!(effect.ends_with("; strobed 1 times"), "{effect}");
    let calls: Vec<String> = fake
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("clock") || c.starts_with("reset-clock"))
        .collect();
    // Set, toggled back once at 2 s, undone at the window's end, then the final heal.
    assert_eq!(
        calls,
        [
            "clock n1 +30",
            "reset-clock n1",
            "reset-clock n1",
            "reset-clock n1,n2,n3"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_leader_is_observed_out_and_back_and_the_final_heal_re_adds_every_node() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(3);
    let (_tx, rx) = watch::channel(false);
    let text = "name: fake-members\nseed: 3\nworkload: {kind: register, keys: 2}\nconcurrency: 2\nduration: 1500ms\nquiet: 50ms\nnemesis:\n  schedule:\n    - {at: 100ms, duration: 500ms, remove: leader}\n    - {at: 800ms, duration: 300ms, replace: random-node}\n";
    let out = run(&plan(text), &fake, dir.path(), rx).await;
    let r = &out.results;
    assert!(out.harness_errors.is_empty(), "{:?}", out.harness_errors);
    for kind in ["remove", "replace"] {
        let c = &r.coverage[kind];
        assert_eq!((c.applied, c.observed), (1, 1), "{kind}: {:?}", r.faults);
    }
    let remove = r.faults.iter().find(|f| f.kind == "remove").unwrap();
    assert_eq!(remove.modes, vec!["remove-leader".to_string()]);
    let effect = remove.effect.clone().unwrap();
    assert!(
        effect
            .starts_with("n1 out of the configuration (voters 2,3); then n1 voting (voters 1,2,3)"),
        "{effect}"
    );
    let replace = r.faults.iter().find(|f| f.kind == "replace").unwrap();
    assert!(
        replace
            .effect
            .clone()
            .unwrap()
            .contains("joined empty and caught up by snapshot"),
        "{:?}",
        replace.effect
    );
    let calls: Vec<String> = fake
        .calls()
        .into_iter()
        .filter(|c| {
            ["remove", "add", "replace"]
                .iter()
                .any(|k| c.starts_with(k))
        })
        .collect();
    let replaced = replace.action.as_ref().unwrap().nodes().join(",");
    assert_eq!(
        calls,
        [
            "remove n1".to_string(),
            "add n1".into(),
            format!("replace {replaced}"),
            format!("add {replaced}"),
            "add n1,n2,n3".into()
        ]
    );
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.notes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_applied_observed_recorded_and_healed() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(3);
    let (_tx, rx) = watch::channel(false);
    let out = run(&plan(FAULTY), &fake, dir.path(), rx).await;
    let r = &out.results;
    assert!(out.harness_errors.is_empty(), "{:?}", out.harness_errors);

    for kind in ["kill", "pause", "partition"] {
        let c = &r.coverage[kind];
        assert_eq!(
            (c.scheduled, c.applied, c.observed),
            (1, 1, 1),
            "{kind}: {c:?} {:?}",
            r.faults
        );
    }
    assert!(r
        .faults
        .iter()
        .all(|f| f.start_ns.unwrap() < f.end_ns.unwrap()));

    // The fake store is linearizable: both the cheap check and the linearizability checker say so.
    assert_eq!(r.checkers[0].name, "reads-of-written-values");
    assert_eq!(r.checkers[0].valid, Validity::Valid, "{:?}", r.checkers[0]);
    assert_eq!(r.checkers[1].name, "linearizability");
    assert_eq!(r.checkers[1].valid, Validity::Valid, "{:?}", r.checkers[1]);
    // The killed leader was down on purpose: not a crash.
    assert_eq!(r.checkers[2].name, "crash");
    assert_eq!(r.checkers[2].valid, Validity::Valid, "{:?}", r.checkers[2]);
    assert_eq!(r.valid, Validity::Valid);
    // The online checker ran and, the store being linearizable, found nothing.
    assert!(r.first_violation.is_none(), "{:?}", r.first_violation);
    let online = r.online.as_ref().expect("register runs are checked online");
    assert!(online.checks > 0 && online.ops_checked > 0, "{online:?}");

    // The pause produced info; each retired its process.
    assert!(r.stats.info > 0 && r.stats.processes > 4, "{:?}", r.stats);

    let (events, warning) = read_events(dir.path());
    assert!(warning.is_none());
    assert_eq!(events.len() as u64, r.stats.history_events);
    let nemesis: Vec<(String, String)> = events
        .iter()
        .filter(|e| matches!(e.process, Process::Nemesis(_)))
        .map(|e| {
            (
                e.f.clone(),
                e.value["phase"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    for kind in ["kill", "pause", "partition", "heal-all"] {
        assert!(
            nemesis.contains(&(kind.into(), "start".into())),
            "{kind}: {nemesis:?}"
        );
        assert!(
            nemesis.contains(&(kind.into(), "end".into())),
            "{kind}: {nemesis:?}"
        );
    }
    // Final reads of both keys came after the heal and succeeded.
    let heal_end = events
        .iter()
        .position(|e| e.f == "heal-all" && e.value["phase"] == "end")
        .unwrap();
    let final_oks = events[heal_end..]
        .iter()
        .filter(|e| e.f == "read" && e.kind == EventType::Ok)
        .count();
    assert_eq!(final_oks, 2);

    // The final heal resumed and started every node and made each a voter again; the cluster
    // was torn down.
    let calls = fake.calls();
    let tail = &calls[calls.len() - 8..];
    assert_eq!(
        tail,
        [
            "heal",
            "heal-loss",
            "heal-slow",
            "heal-delay",
            "reset-clock n1,n2,n3",
            "resume n1,n2,n3",
            "start n1,n2,n3",
            "add n1,n2,n3"
        ]
    );
    assert!(fake.state.lock().unwrap().torn_down);
    assert!(dir.path().join("results.json").is_file());
    assert!(dir.path().join("logs/n1.log").is_file());

    // Replay: the same faults on the same nodes at the same offsets.
    let again = replay::schedule(store::load_results(dir.path()).unwrap().ours().unwrap());
    assert_eq!(again.windows.len(), 3);
    for (w, f) in again.windows.iter().zip(&r.faults) {
        assert_eq!(w.at.as_millis() as u64, f.at_ms);
        assert_eq!(
            nemesis::FaultSpec::exact(f.action.as_ref().unwrap()).unwrap(),
            w.fault
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_set_run_is_valid_and_stops_at_its_op_limit() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(3);
    let (_tx, rx) = watch::channel(false);
    let p = plan("workload: {kind: set, keys: 2}\nops: 200\nduration: 30s\nquiet: 10ms\nnemesis: {faults: []}\n");
    let started = Instant::now();
    let out = run(&p, &fake, dir.path(), rx).await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the op limit did not stop the run"
    );
    let r = &out.results;
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.checkers);
    let (events, _) = read_events(dir.path());
    let adds = events
        .iter()
        .filter(|e| e.f == "add" && e.kind == EventType::Invoke)
        .count();
    assert_eq!(adds, 200);
    assert_eq!(r.stats.ops, 202, "200 adds and 2 final reads");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_adds_make_the_run_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(3);
    fake.state.lock().unwrap().drop_adds = true;
    let (_tx, rx) = watch::channel(false);
    let p = plan("workload: {kind: set}\nops: 20\nquiet: 10ms\nnemesis: {faults: []}\n");
    let out = run(&p, &fake, dir.path(), rx).await;
    assert_eq!(out.results.valid, Validity::Invalid);
    assert!(
        out.results.checkers[0].summary.starts_with("20 lost"),
        "{:?}",
        out.results.checkers
    );
}

/// A run whose clients completed nothing (every request refused) has nothing to check: it is
/// unknown, saying so, not valid; and `check` of its directory agrees. (The register workload:
/// the others' final reads would retry for their deadline; `checkers` tests every workload's
/// checkers on such histories.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_clients_completed_nothing_is_unknown_not_valid() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(3);
    fake.state.lock().unwrap().refuse_clients = true;
    let (_tx, rx) = watch::channel(false);
    let p = plan("workload: {kind: register}\nops: 20\nquiet: 10ms\nnemesis: {faults: []}\n");
    let opts = Options {
        final_reads_deadline: Duration::from_millis(200),
        recovery_deadline: Duration::from_millis(200),
        ..options()
    };
    let out = execute(
        &p,
        fake.clone(),
        fake.clone(),
        &RunDir::at(dir.path()),
        &opts,
        rx,
    )
    .await
    .unwrap();
    let r = &out.results;
    assert_eq!(r.stats.ok, 0, "{:?}", r.stats);
    assert!(r.stats.fail >= 20, "{:?}", r.stats);
    assert_eq!(r.valid, Validity::Unknown, "{:?}", r.checkers);
    // The history's checkers have nothing to check; the crash checker (the run's processes,
    // not the history) found no crash; the recovery write was never acknowledged.
    let (of_history, of_run) = split_run_checkers(&r.checkers);
    assert_eq!(
        of_run,
        [
            ("crash".to_string(), Validity::Valid),
            ("recovery".to_string(), Validity::Unknown)
        ]
    );
    assert!(!of_history.is_empty());
    for c in &of_history {
        assert_eq!(c.valid, Validity::Unknown, "{c:?}");
        assert!(c.summary.contains("nothing to check"), "{c:?}");
    }
    let bytes = std::fs::read(dir.path().join("history.jsonl")).unwrap();
    let history = checkers::parse::parse_auto(&bytes).unwrap();
    let chosen = checkers::analysis::for_history(&history);
    let again = checkers::analysis::analyze(&history, &chosen, &Default::default()).unwrap();
    assert_eq!(again.validity(), Validity::Unknown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_faults_are_reported_not_passed() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(3);
    fake.state.lock().unwrap().fail_partitions = true;
    let (_tx, rx) = watch::channel(false);
    let p = plan("workload: {kind: set}\nduration: 600ms\nquiet: 10ms\nnemesis:\n  schedule:\n    - {at: 100ms, duration: 200ms, partition: halves}\n");
    let out = run(&p, &fake, dir.path(), rx).await;
    let r = &out.results;
    assert_eq!(r.faults[0].status, FaultStatus::Failed);
    assert!(r.faults[0].error.as_deref().unwrap().contains("refused"));
    assert_eq!(r.valid, Validity::Unknown, "{:?}", r.notes);
    assert!(
        r.notes
            .iter()
            .any(|n| n.starts_with("partition: 1 of 1 windows failed")),
        "{:?}",
        r.notes
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_heals_tears_down_and_leaves_a_checkable_history() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(3);
    let (tx, rx) = watch::channel(false);
    let p = plan("workload: {kind: register}\nduration: 60s\nnemesis:\n  schedule:\n    - {at: 100ms, duration: 50s, kill: random-node}\n");
    // Ctrl-C arrives once the kill is in effect.
    let watcher = fake.clone();
    tokio::spawn(async move {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !watcher.calls().iter().any(|c| c.starts_with("kill")) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = tx.send(true);
    });
    let started = Instant::now();
    let out = run(&p, &fake, dir.path(), rx).await;
    assert!(started.elapsed() < Duration::from_secs(20));
    let r = &out.results;
    assert!(r.interrupted);
    assert_eq!(r.valid, Validity::Unknown);
    assert_eq!(r.faults[0].status, FaultStatus::Applied);
    assert!(
        r.faults[0].end_ns.is_some(),
        "the final heal closes the open window"
    );
    let calls = fake.calls();
    assert_eq!(calls[calls.len() - 2..], ["start n1,n2,n3", "add n1,n2,n3"]);
    assert!(fake.state.lock().unwrap().torn_down);
    let (events, warning) = read_events(dir.path());
    assert!(warning.is_none());
    assert!(events.len() > 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_leader_fails_setup_and_still_tears_down() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(3);
    fake.state.lock().unwrap().leader = None;
    let (_tx, rx) = watch::channel(false);
    let p = plan("workload: {kind: register}\n");
    let err = execute(
        &p,
        fake.clone(),
        fake.clone(),
        &RunDir::at(dir.path()),
        &options(),
        rx,
    )
    .await
    .err()
    .expect("setup must fail");
    assert!(format!("{err:#}").contains("no leader elected"), "{err:#}");
    assert!(fake.state.lock().unwrap().torn_down);
}

/// `faultline test` and `faultline check RESULTS_DIR` give one verdict: the run's checkers and
/// a fresh analysis of its directory (format detected, checkers chosen from the history, as
/// `check` does) agree checker by checker, valid and invalid alike, for every workload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_and_check_of_its_directory_agree_for_every_workload() {
    let cases = [
        (
            "workload: {kind: register, keys: 2}",
            false,
            Validity::Valid,
        ),
        ("workload: {kind: set, keys: 2}", false, Validity::Valid),
        ("workload: {kind: set, keys: 2}", true, Validity::Invalid),
        (
            "workload: {kind: list-append, keys: 2}",
            false,
            Validity::Valid,
        ),
        (
            "workload: {kind: list-append, keys: 2}",
            true,
            Validity::Invalid,
        ),
        (
            "workload: {kind: rw-register, keys: 2}",
            false,
            Validity::Valid,
        ),
    ];
    for (workload, lose_appends, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new(3);
        fake.state.lock().unwrap().drop_adds = lose_appends;
        let (_tx, rx) = watch::channel(false);
        let p = plan(&format!(
            "{workload}\nops: 300\nconcurrency: 4\nquiet: 10ms\nnemesis: {{faults: []}}\n"
        ));
        let out = run(&p, &fake, dir.path(), rx).await;
        let r = &out.results;
        assert_eq!(
            r.valid, expected,
            "{workload} {lose_appends}: {:?}",
            r.checkers
        );

        let bytes = std::fs::read(dir.path().join("history.jsonl")).unwrap();
        let history = checkers::parse::parse_auto(&bytes).unwrap();
        let chosen = checkers::analysis::for_history(&history);
        assert_eq!(chosen, p.workload.checkers(), "{workload}");
        let again = checkers::analysis::analyze(&history, &chosen, &Default::default()).unwrap();
        let verdicts = |rs: &[checkers::analysis::CheckerResult]| -> Vec<(String, Validity)> {
            rs.iter().map(|c| (c.name.clone(), c.valid)).collect()
        };
        // The crash and recovery checkers judge the run's processes, logs and cluster, not the
        // history: `test` adds them after the history's checkers (valid here: nothing crashed,
        // the store recovered), `check` has no run.
        let (of_history, of_run) = split_run_checkers(&r.checkers);
        assert_eq!(
            of_run,
            [
                ("crash".to_string(), Validity::Valid),
                ("recovery".to_string(), Validity::Valid)
            ],
            "{workload}"
        );
        assert_eq!(
            verdicts(&again.results()),
            verdicts(&of_history),
            "{workload}"
        );
        assert_eq!(again.validity(), r.valid, "{workload}");
        // What the run wrote reads back typed, with the same verdict.
        let stored = store::load(dir.path()).unwrap();
        assert_eq!(stored.results.validity(), r.valid);
        assert!(dir.path().join("report.html").is_file());
        assert!(dir.path().join("history.edn").is_file());
    }
}

/// A node that exits by itself, outside any kill window, is a crash: recorded in the history
/// with its exit code and last log line, found again as a panic line in its log, and the run is
/// invalid however correct its data; kills the nemesis made in the same run are not crashes.
/// `checker: {crash: false}` turns the checker off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_exits_by_itself_is_a_crash_and_a_kill_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(3);
    fake.state.lock().unwrap().crash_after = Some((1, 300));
    let (_tx, rx) = watch::channel(false);
    let out = run(&plan(FAULTY), &fake, dir.path(), rx).await;
    let r = &out.results;
    let crash = r.checkers.iter().find(|c| c.name == "crash").unwrap();
    assert_eq!(crash.valid, Validity::Invalid, "{crash:?}");
    assert!(
        crash.summary.contains("n2 exited by itself with code 134"),
        "{}",
        crash.summary
    );
    assert!(
        crash
            .summary
            .contains("n2.log:2: error: faultline hit a bug (planted)"),
        "{}",
        crash.summary
    );
    assert_eq!(
        crash.detail["crashes"].as_array().unwrap().len(),
        1,
        "{}",
        crash.detail
    );
    assert_eq!(r.valid, Validity::Invalid);
    let (events, _) = read_events(dir.path());
    let recorded: Vec<_> = events.iter().filter(|e| e.f == "crash").collect();
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0].value["targets"], serde_json::json!(["n2"]));
    assert_eq!(recorded[0].value["exit_code"], 134);
    // CI sees the crash as a failed case of its own, with its exit code and log.
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(
        junit.contains("name=\"crash[n2]\"") && junit.contains("n2 exited by itself with code 134"),
        "{junit}"
    );

    let off = FAULTY.replace("quiet: 50ms", "quiet: 50ms\nchecker: {crash: false}");
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(3);
    fake.state.lock().unwrap().crash_after = Some((1, 300));
    let (_tx, rx) = watch::channel(false);
    let out = run(&plan(&off), &fake, dir.path(), rx).await;
    assert!(out.results.checkers.iter().all(|c| c.name != "crash"));
}

/// `faultline analyze`: a recorded run is re-checked with the current checkers; the history's
/// checkers run again (an old wrong verdict is corrected), the run's own checkers (crash,
/// recovery) stand as recorded, and the old verdict is kept under `previous`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyze_rechecks_the_history_and_keeps_what_judged_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(3);
    let (_tx, rx) = watch::channel(false);
    let out = run(&plan(FAULTY), &fake, dir.path(), rx).await;
    assert_eq!(out.results.valid, Validity::Valid);
    // As an older faultline might have written it: linearizability wrongly invalid.
    let path = dir.path().join("results.json");
    let mut r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    r["valid"] = false.into();
    for c in r["checkers"].as_array_mut().unwrap() {
        if c["name"] == "linearizability" {
            c["valid"] = false.into();
        }
    }
    std::fs::write(&path, r.to_string()).unwrap();
    // The memory limit bounds the whole process's resident memory, measured: here the test
    // binary's, with every other test running beside this one. The default, as `analyze` uses.
    let limits = super::check::Limits {
        time: Duration::from_secs(10),
        memory_mb: 4096,
    };
    let again = super::analyze::reanalyze(dir.path(), limits).unwrap();
    assert_eq!(again.valid, Validity::Valid);
    let previous = again.previous.as_ref().unwrap();
    assert_eq!(previous.valid, Validity::Invalid);
    assert!(previous
        .checkers
        .contains(&("linearizability".to_string(), Validity::Invalid)));
    let names: Vec<&str> = again.checkers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "reads-of-written-values",
            "linearizability",
            "crash",
            "recovery"
        ]
    );
    let stored = store::load(dir.path()).unwrap();
    assert_eq!(stored.results.validity(), Validity::Valid);
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(junit.contains("failures=\"0\""), "{junit}");

    // A crash recorded by the run stands: the history cannot clear it.
    let mut r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for c in r["checkers"].as_array_mut().unwrap() {
        if c["name"] == "crash" {
            c["valid"] = false.into();
        }
    }
    r["valid"] = false.into();
    std::fs::write(&path, r.to_string()).unwrap();
    let again = super::analyze::reanalyze(dir.path(), limits).unwrap();
    assert_eq!(again.valid, Validity::Invalid);
}
