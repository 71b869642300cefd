//! Hand-made transactional histories, one per anomaly: each is found, with the expected
//! transactions and the models it rules out, and passes under the weaker models that allow it.

use checkers::elle::{self, report::ElleReport, Options};
use checkers::parse::parse_auto;
use checkers::Validity;

/// An EDN history from `(process, type, value)` triples.
fn history(events: &[(i64, &str, &str)]) -> checkers::parse::History {
    let text: String = events
        .iter()
        .map(|(p, t, v)| format!("{{:process {p}, :type :{t}, :f :txn, :value {v}}}\n"))
        .collect();
    parse_auto(text.as_bytes()).unwrap()
}

fn check(events: &[(i64, &str, &str)], model: &str) -> ElleReport {
    elle::check_history(&history(events), &Options::model(model)).unwrap()
}

/// The history is invalid under `strong` for `anomaly`, whose first report involves `txns`,
/// and valid under `weak`.
fn found(
    events: &[(i64, &str, &str)],
    anomaly: &str,
    strong: &str,
    weak: Option<&str>,
) -> ElleReport {
    let r = check(events, strong);
    assert_eq!(
        r.valid,
        Validity::Invalid,
        "{anomaly} under {strong}: {r:#?}"
    );
    assert!(
        r.violations.iter().any(|v| v == anomaly),
        "{anomaly}: {r:#?}"
    );
    let a = r.anomalies.iter().find(|a| a.name == anomaly).unwrap();
    assert!(a.ruled_out.iter().any(|m| m == strong), "{a:#?}");
    if let Some(weak) = weak {
        let w = check(events, weak);
        assert_eq!(
            w.valid,
            Validity::Valid,
            "{anomaly} is allowed under {weak}: {w:#?}"
        );
        assert!(!a.ruled_out.iter().any(|m| m == weak), "{a:#?}");
        // Found all the same, just not a violation.
        assert!(w.counts.contains_key(anomaly), "{w:#?}");
    }
    r
}

fn ids(r: &ElleReport, anomaly: &str) -> Vec<String> {
    let a = r.anomalies.iter().find(|a| a.name == anomaly).unwrap();
    let mut ids: Vec<String> = a.txns.iter().map(|t| t.id.clone()).collect();
    ids.sort();
    ids
}

#[test]
fn g0_write_cycle() {
    let h = [
        (0, "invoke", "[[:append :x 1] [:append :y 1]]"),
        (1, "invoke", "[[:append :x 2] [:append :y 2]]"),
        (0, "ok", "[[:append :x 1] [:append :y 1]]"),
        (1, "ok", "[[:append :x 2] [:append :y 2]]"),
        (2, "invoke", "[[:r :x nil] [:r :y nil]]"),
        (2, "ok", "[[:r :x [1 2]] [:r :y [2 1]]]"),
    ];
    let r = found(&h, "G0", "read-uncommitted", None);
    assert_eq!(ids(&r, "G0"), vec!["T0", "T1"]);
    let g0 = &r.anomalies[0];
    assert!(g0.steps.iter().all(|s| s.text.ends_with("(ww)")), "{g0:#?}");
    assert!(
        g0.explanation
            .contains("T0 appended 1 to :x, and T1 appended 2 right after it"),
        "{}",
        g0.explanation
    );
    assert!(g0.explanation.ends_with("T0 < T1 < T0") || g0.explanation.ends_with("T1 < T0 < T1"));
    // Only what is chosen counts: G0 is no G2.
    let mut only_g2 = Options::model("strict-serializable");
    only_g2.anomalies = Some(vec!["G2".into()]);
    let r = elle::check_history(&history(&h), &only_g2).unwrap();
    assert_eq!(r.valid, Validity::Valid, "{r:#?}");
    only_g2.anomalies = Some(vec!["G1".into()]);
    assert_eq!(
        elle::check_history(&history(&h), &only_g2).unwrap().valid,
        Validity::Invalid
    );
}

#[test]
fn g1a_aborted_read() {
    let h = [
        (0, "invoke", "[[:append :x 1]]"),
        (0, "fail", "[[:append :x 1]]"),
        (1, "invoke", "[[:r :x nil]]"),
        (1, "ok", "[[:r :x [1]]]"),
    ];
    let r = found(&h, "G1a", "read-committed", Some("read-uncommitted"));
    assert_eq!(ids(&r, "G1a"), vec!["T0", "T2"]);
    assert!(r.anomalies[0].explanation.contains("failed"));
}

#[test]
fn g1b_intermediate_read() {
    let h = [
        (0, "invoke", "[[:append :x 1] [:append :x 2]]"),
        (1, "invoke", "[[:r :x nil]]"),
        (1, "ok", "[[:r :x [1]]]"),
        (0, "ok", "[[:append :x 1] [:append :x 2]]"),
        (2, "invoke", "[[:r :x nil]]"),
        (2, "ok", "[[:r :x [1 2]]]"),
    ];
    let r = found(&h, "G1b", "read-committed", Some("read-uncommitted"));
    assert_eq!(ids(&r, "G1b"), vec!["T0", "T1"]);
}

#[test]
fn g1c_circular_information_flow() {
    let h = [
        (0, "invoke", "[[:append :x 1] [:r :y nil]]"),
        (1, "invoke", "[[:append :y 1] [:r :x nil]]"),
        (0, "ok", "[[:append :x 1] [:r :y [1]]]"),
        (1, "ok", "[[:append :y 1] [:r :x [1]]]"),
    ];
    let r = found(&h, "G1c", "read-committed", Some("read-uncommitted"));
    assert_eq!(ids(&r, "G1c"), vec!["T0", "T1"]);
    let a = &r.anomalies[0];
    assert!(a.steps.iter().all(|s| s.text.ends_with("(wr)")), "{a:#?}");
    assert!(
        a.explanation.contains("which T1 read (:x = [1])"),
        "{}",
        a.explanation
    );
}

#[test]
fn g_single_read_skew() {
    let h = [
        (0, "invoke", "[[:r :x nil] [:r :y nil]]"),
        (1, "invoke", "[[:append :x 1] [:append :y 1]]"),
        (1, "ok", "[[:append :x 1] [:append :y 1]]"),
        (0, "ok", "[[:r :x []] [:r :y [1]]]"),
        (2, "invoke", "[[:r :x nil]]"),
        (2, "ok", "[[:r :x [1]]]"),
    ];
    let r = found(&h, "G-single", "snapshot-isolation", Some("read-committed"));
    assert_eq!(ids(&r, "G-single"), vec!["T0", "T1"]);
    let a = r.anomalies.iter().find(|a| a.name == "G-single").unwrap();
    assert!(
        a.explanation
            .contains("T0 read :x = [] without 1, which T1 appended next, so T0 precedes T1 (rw)"),
        "{}",
        a.explanation
    );
    assert!(
        a.explanation.contains("T1 appended 1 to :y, which T0 read"),
        "{}",
        a.explanation
    );
    assert!(
        !r.violations.iter().any(|v| v == "G2-item"),
        "a G-single is not also reported as G2"
    );
}

#[test]
fn g2_item_write_skew_is_allowed_by_snapshot_isolation() {
    let h = [
        (0, "invoke", "[[:r :x nil] [:append :y 1]]"),
        (1, "invoke", "[[:r :y nil] [:append :x 1]]"),
        (0, "ok", "[[:r :x []] [:append :y 1]]"),
        (1, "ok", "[[:r :y []] [:append :x 1]]"),
        (2, "invoke", "[[:r :x nil] [:r :y nil]]"),
        (2, "ok", "[[:r :x [1]] [:r :y [1]]]"),
    ];
    let r = found(&h, "G2-item", "serializable", Some("snapshot-isolation"));
    assert_eq!(ids(&r, "G2-item"), vec!["T0", "T1"]);
    assert_eq!(check(&h, "repeatable-read").valid, Validity::Invalid);
    assert_eq!(check(&h, "read-committed").valid, Validity::Valid);
    let a = &r.anomalies[0];
    assert_eq!(
        a.steps.iter().filter(|s| s.text.ends_with("(rw)")).count(),
        2
    );
}

#[test]
fn g_single_realtime_is_a_stale_read_serializability_allows() {
    let h = [
        (0, "invoke", "[[:append :x 1]]"),
        (0, "ok", "[[:append :x 1]]"),
        (1, "invoke", "[[:r :x nil]]"),
        (1, "ok", "[[:r :x []]]"),
        (2, "invoke", "[[:r :x nil]]"),
        (2, "ok", "[[:r :x [1]]]"),
    ];
    let r = found(
        &h,
        "G-single-realtime",
        "strict-serializable",
        Some("serializable"),
    );
    assert_eq!(ids(&r, "G-single-realtime"), vec!["T0", "T2"]);
    let a = &r.anomalies[0];
    assert!(
        a.explanation
            .contains("T0 completed (event 1) before T2 was invoked (event 2) (realtime)"),
        "{}",
        a.explanation
    );
}

#[test]
fn g_single_process_breaks_strong_session_models() {
    let h = [
        (0, "invoke", "[[:append :x 1]]"),
        (0, "ok", "[[:append :x 1]]"),
        (0, "invoke", "[[:r :x nil]]"),
        (0, "ok", "[[:r :x []]]"),
        (2, "invoke", "[[:r :x nil]]"),
        (2, "ok", "[[:r :x [1]]]"),
    ];
    let r = found(
        &h,
        "G-single-process",
        "strong-session-serializable",
        Some("serializable"),
    );
    assert!(r.anomalies[0].explanation.contains("(process)"));
    assert_eq!(
        check(&h, "strong-session-snapshot-isolation").valid,
        Validity::Invalid
    );
}

#[test]
fn g0_realtime_and_g0_process() {
    // T0 appends x 1 and completes; T2 then appends x 2 ... and a read says 2 came first.
    let h = [
        (0, "invoke", "[[:append :x 1]]"),
        (0, "ok", "[[:append :x 1]]"),
        (1, "invoke", "[[:append :x 2]]"),
        (1, "ok", "[[:append :x 2]]"),
        (2, "invoke", "[[:r :x nil]]"),
        (2, "ok", "[[:r :x [2 1]]]"),
    ];
    found(
        &h,
        "G0-realtime",
        "strict-serializable",
        Some("serializable"),
    );
    // The same on one process: the process variant, which strong session models forbid.
    let h = [
        (0, "invoke", "[[:append :x 1]]"),
        (0, "ok", "[[:append :x 1]]"),
        (0, "invoke", "[[:r :y nil] [:append :x 2]]"),
        (0, "ok", "[[:r :y [3]] [:append :x 2]]"),
        (2, "invoke", "[[:append :y 3] [:r :x nil]]"),
        (2, "ok", "[[:append :y 3] [:r :x [2 1]]]"),
    ];
    let r = check(&h, "strong-session-read-uncommitted");
    assert_eq!(r.valid, Validity::Invalid, "{r:#?}");
    assert!(r.counts.contains_key("G0-process"), "{r:#?}");
}

/// An acknowledged append no read saw came after every version read (Elle's inference): a read
/// that began after it completed and missed it is a real-time cycle with one rw edge.
#[test]
fn an_unread_append_missed_by_a_later_read() {
    let h = [
        (0, "invoke", "[[:append :x 1]]"),
        (0, "ok", "[[:append :x 1]]"),
        (1, "invoke", "[[:r :x nil]]"),
        (1, "ok", "[[:r :x []]]"),
    ];
    let r = found(
        &h,
        "G-single-realtime",
        "strict-serializable",
        Some("serializable"),
    );
    assert_eq!(ids(&r, "G-single-realtime"), vec!["T0", "T2"]);
    assert!(
        r.anomalies[0]
            .explanation
            .contains("T2 read :x = [] without 1, which T0 appended and no read ever saw"),
        "{}",
        r.anomalies[0].explanation
    );
    // An indeterminate append may never have happened: nothing follows from it.
    let h = [
        (0, "invoke", "[[:append :x 1]]"),
        (0, "info", "nil"),
        (1, "invoke", "[[:r :x nil]]"),
        (1, "ok", "[[:r :x []]]"),
    ];
    assert_eq!(check(&h, "strict-serializable").valid, Validity::Valid);
}

/// Elle's own `histories/si-without-g-single.edn` (jepsen-io/elle): with unread appends placed
/// after every version read, a G2-item appears; no G-single, so snapshot isolation holds and
/// repeatable read does not, as Elle's test expects.
#[test]
fn elles_si_without_g_single_history() {
    let h = [
        (2, "invoke", "[[:append 9 2]]"),
        (2, "ok", "[[:append 9 2]]"),
        (4, "invoke", "[[:append 8 1] [:r 9 nil]]"),
        (4, "ok", "[[:append 8 1] [:r 9 nil]]"),
        (7, "invoke", "[[:r 6 nil] [:r 8 nil] [:append 9 5]]"),
        (7, "ok", "[[:r 6 nil] [:r 8 nil] [:append 9 5]]"),
        (9, "invoke", "[[:append 6 2] [:r 9 nil]]"),
        (9, "ok", "[[:append 6 2] [:r 9 [2]]]"),
    ];
    let si = check(&h, "snapshot-isolation");
    assert_eq!(si.valid, Validity::Valid, "{si:#?}");
    let rr = check(&h, "repeatable-read");
    assert_eq!(rr.valid, Validity::Invalid, "{rr:#?}");
    assert_eq!(rr.violations, vec!["G2-item"], "{rr:#?}");
}

#[test]
fn internal_inconsistency() {
    let h = [
        (0, "invoke", "[[:append :x 1] [:r :x nil]]"),
        (0, "ok", "[[:append :x 1] [:r :x []]]"),
    ];
    let r = found(&h, "internal", "serializable", Some("read-committed"));
    assert!(r.anomalies[0].explanation.contains("should end with [1]"));
}

#[test]
fn dirty_update_and_aborted_read() {
    let h = [
        (0, "invoke", "[[:append :x 1]]"),
        (0, "fail", "nil"),
        (1, "invoke", "[[:append :x 2]]"),
        (1, "ok", "[[:append :x 2]]"),
        (2, "invoke", "[[:r :x nil]]"),
        (2, "ok", "[[:r :x [1 2]]]"),
    ];
    let r = found(
        &h,
        "dirty-update",
        "read-committed",
        Some("read-uncommitted"),
    );
    assert!(r.counts.contains_key("G1a"));
}

#[test]
fn lost_update() {
    let h = [
        (0, "invoke", "[[:r :x nil] [:append :x 1]]"),
        (1, "invoke", "[[:r :x nil] [:append :x 2]]"),
        (0, "ok", "[[:r :x []] [:append :x 1]]"),
        (1, "ok", "[[:r :x []] [:append :x 2]]"),
        (2, "invoke", "[[:r :x nil]]"),
        (2, "ok", "[[:r :x [1 2]]]"),
    ];
    let r = found(&h, "lost-update", "repeatable-read", Some("read-committed"));
    assert_eq!(ids(&r, "lost-update"), vec!["T0", "T1"]);
    assert_eq!(check(&h, "snapshot-isolation").valid, Validity::Invalid);
}

#[test]
fn duplicates_garbage_and_incompatible_orders() {
    let dup = [
        (0, "invoke", "[[:append :x 1]]"),
        (0, "ok", "[[:append :x 1]]"),
        (1, "invoke", "[[:r :x nil]]"),
        (1, "ok", "[[:r :x [1 1]]]"),
    ];
    found(&dup, "duplicate-elements", "read-uncommitted", None);
    let garbage = [(1, "invoke", "[[:r :x nil]]"), (1, "ok", "[[:r :x [7]]]")];
    found(&garbage, "garbage-read", "read-uncommitted", None);
    let incompatible = [
        (0, "invoke", "[[:append :x 1] [:append :y 1]]"),
        (0, "ok", "[[:append :x 1] [:append :y 1]]"),
        (1, "invoke", "[[:append :x 2]]"),
        (1, "ok", "[[:append :x 2]]"),
        (2, "invoke", "[[:r :x nil]]"),
        (2, "ok", "[[:r :x [1 2]]]"),
        (3, "invoke", "[[:r :x nil]]"),
        (3, "ok", "[[:r :x [2 1]]]"),
    ];
    let r = found(
        &incompatible,
        "incompatible-order",
        "read-committed",
        Some("read-uncommitted"),
    );
    assert!(r
        .anomalies
        .iter()
        .any(|a| a.explanation.contains("neither is a prefix")));
}

#[test]
fn rw_register_anomalies() {
    // Write skew on registers, read as nil.
    let skew = [
        (0, "invoke", "[[:r :x nil] [:w :y 1]]"),
        (1, "invoke", "[[:r :y nil] [:w :x 1]]"),
        (0, "ok", "[[:r :x nil] [:w :y 1]]"),
        (1, "ok", "[[:r :y nil] [:w :x 1]]"),
    ];
    let r = found(&skew, "G2-item", "serializable", Some("snapshot-isolation"));
    assert_eq!(r.workload, "rw-register");
    assert!(
        r.anomalies[0]
            .explanation
            .contains("read :x = nil, a version T1 overwrote with 1"),
        "{}",
        r.anomalies[0].explanation
    );
    // Circular information flow.
    let g1c = [
        (0, "invoke", "[[:w :x 1] [:r :y nil]]"),
        (1, "invoke", "[[:w :y 1] [:r :x nil]]"),
        (0, "ok", "[[:w :x 1] [:r :y 1]]"),
        (1, "ok", "[[:w :y 1] [:r :x 1]]"),
    ];
    found(&g1c, "G1c", "read-committed", Some("read-uncommitted"));
    // Aborted, intermediate and own writes.
    let g1 = [
        (0, "invoke", "[[:w :x 1]]"),
        (0, "fail", "nil"),
        (1, "invoke", "[[:w :y 1] [:w :y 2]]"),
        (2, "invoke", "[[:r :x nil] [:r :y nil]]"),
        (2, "ok", "[[:r :x 1] [:r :y 1]]"),
        (1, "ok", "[[:w :y 1] [:w :y 2]]"),
        (3, "invoke", "[[:w :z 5] [:r :z nil]]"),
        (3, "ok", "[[:w :z 5] [:r :z 6]]"),
        (4, "invoke", "[[:r :v nil]]"),
        (4, "ok", "[[:r :v 9]]"),
    ];
    let r = check(&g1, "serializable");
    for a in ["G1a", "G1b", "internal", "garbage-read"] {
        assert!(r.counts.contains_key(a), "{a}: {r:#?}");
    }
    // A serial register history is fine.
    let fine = [
        (0, "invoke", "[[:w :x 1]]"),
        (0, "ok", "[[:w :x 1]]"),
        (1, "invoke", "[[:r :x nil] [:w :x 2]]"),
        (1, "ok", "[[:r :x 1] [:w :x 2]]"),
        (2, "invoke", "[[:r :x nil]]"),
        (2, "ok", "[[:r :x 2]]"),
    ];
    let r = check(&fine, "strict-serializable");
    assert_eq!(r.valid, Validity::Valid, "{r:#?}");
}

#[test]
fn under_real_time_models_rw_register_versions_follow_real_time() {
    // x = 1 completes, then x = 2 is written and completes, then a read sees 1: a stale read.
    // Only real time orders 1 before 2 (no transaction read one and wrote the other), and only
    // models with real-time order may use it.
    let stale = [
        (0, "invoke", "[[:w :x 1]]"),
        (0, "ok", "[[:w :x 1]]"),
        (1, "invoke", "[[:w :x 2]]"),
        (1, "ok", "[[:w :x 2]]"),
        (2, "invoke", "[[:r :x nil]]"),
        (2, "ok", "[[:r :x 1]]"),
    ];
    let r = found(&stale, "G-single-realtime", "strict-serializable", None);
    // Serializability has no real time: the order of 1 and 2 is unknown, and 1 may be last.
    let serializable = check(&stale, "serializable");
    assert_eq!(serializable.valid, Validity::Valid, "{serializable:#?}");
    let a = r
        .anomalies
        .iter()
        .find(|a| a.name == "G-single-realtime")
        .unwrap();
    assert!(
        a.explanation
            .contains("read :x = 1, a version T2 overwrote with 2"),
        "{}",
        a.explanation
    );
    // Concurrent writes are not ordered by real time: either may be the later version.
    let concurrent = [
        (0, "invoke", "[[:w :x 1]]"),
        (1, "invoke", "[[:w :x 2]]"),
        (0, "ok", "[[:w :x 1]]"),
        (1, "ok", "[[:w :x 2]]"),
        (2, "invoke", "[[:r :x nil]]"),
        (2, "ok", "[[:r :x 1]]"),
    ];
    let r = check(&concurrent, "strict-serializable");
    assert_eq!(r.valid, Validity::Valid, "{r:#?}");
    // A write whose outcome is unknown never completed: nothing follows it in real time, and
    // a chain of completed writes orders transitively (1 < 2 < 3, so reading 2 after 3 is stale).
    let chain = [
        (0, "invoke", "[[:w :x 1]]"),
        (0, "ok", "[[:w :x 1]]"),
        (3, "invoke", "[[:w :x 9]]"),
        (3, "info", "[[:w :x 9]]"),
        (1, "invoke", "[[:w :x 2]]"),
        (1, "ok", "[[:w :x 2]]"),
        (0, "invoke", "[[:w :x 3]]"),
        (0, "ok", "[[:w :x 3]]"),
        (2, "invoke", "[[:r :x nil]]"),
        (2, "ok", "[[:r :x 2]]"),
        (4, "invoke", "[[:r :x nil]]"),
        (4, "ok", "[[:r :x 9]]"),
    ];
    let r = check(&chain, "strict-serializable");
    assert_eq!(r.valid, Validity::Invalid, "{r:#?}");
    // Transactions are named by their invocation's event: T8 read 2 after T6 wrote 3.
    let a = &r.anomalies[0];
    assert!(
        a.explanation
            .contains("T8 read :x = 2, a version T6 overwrote with 3"),
        "{}",
        a.explanation
    );
    assert!(
        r.anomalies
            .iter()
            .all(|a| a.txns.iter().all(|t| t.id != "T10")),
        "the read of 9, the unknown write, is in no anomaly: {r:#?}"
    );
}

#[test]
fn a_time_limit_gives_unknown_saying_what_was_not_searched() {
    let gen = elle::gen::ListAppendGen {
        txns: 20_000,
        plant: vec![(elle::gen::Plant::G2, 0.5)],
        ..Default::default()
    };
    let h = parse_auto(&gen.jsonl()).unwrap();
    let mut o = Options::model("strict-serializable");
    o.time_limit = Some(std::time::Duration::ZERO);
    let r = elle::check_history(&h, &o).unwrap();
    assert_eq!(r.valid, Validity::Unknown, "{r:#?}");
    assert!(
        r.reason.as_deref().unwrap().contains("time limit"),
        "{r:#?}"
    );
    o.time_limit = None;
    o.memory_limit = Some(1000);
    let r = elle::check_history(&h, &o).unwrap();
    assert_eq!(r.valid, Validity::Unknown, "{r:#?}");
    assert!(
        r.reason.as_deref().unwrap().contains("memory limit"),
        "{r:#?}"
    );
}
