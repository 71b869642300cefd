//! `faultline check` as users and CI scripts see it: exit codes, several files and
//! directories, `--json`, bad input, results directories, and `gen-history`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .output()
        .expect("run faultline")
}

fn data(p: &str) -> String {
    format!("{}/tests/data/{p}", env!("CARGO_MANIFEST_DIR"))
}

fn text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn write(dir: &Path, name: &str, content: &[u8]) -> String {
    let p: PathBuf = dir.join(name);
    std::fs::write(&p, content).expect("write test file");
    p.to_string_lossy().into_owned()
}

/// `faultline check --json --memory-limit {limit_mb}MiB ARGS`: the exit code and the JSON
/// document, whose `peak_resident_mb` must be within 10% of the limit.
fn check_under(limit_mb: u64, args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let limit = format!("{limit_mb}MiB");
    let o = faultline(&[&["check", "--json", "--memory-limit", &limit], args].concat());
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("JSON on stdout ({e}): {}", text(&o)));
    let peak = doc["peak_resident_mb"].as_u64().expect("peak_resident_mb");
    assert!(
        peak * 10 <= limit_mb * 11,
        "{args:?}: peak {peak} MB under a {limit_mb} MB limit: {doc:.500}"
    );
    (o.status.code(), doc)
}

const GOOD: &str = "knossos/cas-register/good/cas-register-bug.edn";
const BAD: &str = "knossos/cas-register/bad/bad-analysis.edn";

#[test]
fn valid_exits_0_and_invalid_exits_1_with_a_counterexample() {
    let o = faultline(&["check", &data(GOOD)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(": valid"),
        "{}",
        text(&o)
    );

    let o = faultline(&["check", &data(BAD)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("INVALID"), "{out}");
    assert!(out.contains("read 2") && out.contains("p21"), "{out}");
    assert!(out.contains("why: no order works"), "{out}");
}

#[test]
fn several_files_and_directories_exit_with_the_worst_verdict() {
    let o = faultline(&["check", &data(GOOD), &data(BAD)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| !l.starts_with(' '))
            .count(),
        2
    );

    let o = faultline(&["check", &data("porcupine/kv"), &data(GOOD)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let files = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.starts_with(' '))
        .count();
    assert_eq!(files, 7, "{}", text(&o));

    // Every valid history of a directory: exit 0. (Four of cas-register/good's histories have
    // nothing to check, see tests/data/README.md: left out here, and with them, unknown beats
    // valid.)
    let good = tempfile::tempdir().expect("tempdir");
    let mut copied = 0;
    for e in std::fs::read_dir(data("knossos/cas-register/good")).expect("corpus") {
        let p = e.expect("entry").path();
        let name = p.file_name().expect("name").to_string_lossy().into_owned();
        if ![
            "mongodb-v0-ack-rollback-.edn",
            "mongodb-v0-ack-rollback-9.edn",
            "mongodb-v0-ack-rollback-10.edn",
            "mongodb-v0-ack-rollback-11.edn",
        ]
        .contains(&name.as_str())
        {
            std::fs::copy(&p, good.path().join(&name)).expect("copy");
            copied += 1;
        }
    }
    assert!(copied > 90, "{copied}");
    let o = faultline(&["check", &good.path().to_string_lossy()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = faultline(&["check", &data("knossos/cas-register/good")]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn hitting_the_memory_limit_is_unknown_exit_2_and_unknown_beats_valid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hist = dir.path().join("hard.jsonl").to_string_lossy().into_owned();
    let o = faultline(&[
        "gen-history",
        &hist,
        "--procs",
        "40",
        "--ops",
        "4000",
        "--crash",
        "0.1",
        "--seed",
        "3",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = faultline(&["check", "--memory-limit", "1KB", &hist, &data(GOOD)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("UNKNOWN: memory limit"), "{out}");

    let o = faultline(&["check", "--time-limit", "1ms", &hist]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("time limit"),
        "{}",
        text(&o)
    );

    // Invalid still beats unknown. (A memory limit below what the process holds before it
    // checks anything stops every file at once: the limit is on the resident set.)
    let o = faultline(&["check", "--time-limit", "1ms", &hist, &data(BAD)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

/// The memory limit holds while the history is read: a file whose parse alone needs more than
/// the limit stops there (exit 2, saying so) with the process's peak within 10% of the limit.
/// Without the limit, the same file checks valid, so the limit is what stopped it.
#[test]
fn the_memory_limit_holds_while_a_large_history_is_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hist = dir
        .path()
        .join("large.jsonl")
        .to_string_lossy()
        .into_owned();
    let o = faultline(&[
        "gen-history",
        &hist,
        "--procs",
        "100",
        "--ops",
        "300000",
        "--keys",
        "100",
        "--values",
        "0",
        "--seed",
        "5",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let limit_mb = 48;
    let (code, doc) = check_under(limit_mb, &["--no-counterexample", &hist]);
    assert_eq!(code, Some(2), "{doc}");
    assert_eq!(doc["valid"], "unknown", "{doc}");
    let file = &doc["files"][0];
    assert_eq!(file["valid"], "unknown", "{doc}");
    let why = file["reason"].as_str().unwrap_or_default();
    assert!(
        why.contains("memory limit 48 MB reached") && why.contains("while reading line"),
        "{why}"
    );

    let o = faultline(&["check", "--json", "--no-counterexample", &hist]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON on stdout");
    let peak = doc["peak_resident_mb"].as_u64().expect("peak_resident_mb");
    assert!(
        peak > limit_mb,
        "the whole check needs more than the limit: {peak} MB"
    );
}

/// One enormous event (a list of millions of items, a string of tens of megabytes, a JSON
/// line of megabytes) or a whole history on one line is read under the limit too: the parse
/// looks at the limit inside a value, and gives back the pages of a mapped file it has read
/// past, rather than only between events. Each stops with exit 2, the peak within 10% of the
/// limit; before, a one-line list of 60M items peaked at 1.55 GB under a 1 GiB limit.
#[test]
fn the_memory_limit_holds_inside_one_enormous_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let invoke = "{:type :invoke, :f :read, :value nil, :process 0, :time 0, :index 0}";
    let ok = |value: &str| {
        format!(
            "[{invoke}\n{{:type :ok, :f :read, :value {value}, :process 0, :time 1, :index 1}}]\n"
        )
    };
    let list = write(
        dir.path(),
        "list.edn",
        ok(&format!("[{}]", "7 ".repeat(6_000_000))).as_bytes(),
    );
    let string = write(
        dir.path(),
        "string.edn",
        ok(&format!("\"{}\"", "x".repeat(96 << 20))).as_bytes(),
    );
    // With escapes, a string is read byte by byte: the limit is watched on that path too.
    let escaped = write(
        dir.path(),
        "escaped.edn",
        ok(&format!("\"{}\"", "\\t".repeat(8 << 20))).as_bytes(),
    );
    let line = write(
        dir.path(),
        "line.jsonl",
        format!(
            "{{\"index\":0,\"time\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"value\":null}}\n\
             {{\"index\":1,\"time\":1,\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"value\":[{}7]}}\n",
            "7,".repeat(4_000_000)
        )
        .as_bytes(),
    );
    let pair = "{:type :invoke, :f :write, :value 3, :process 0} {:type :ok, :f :write, :value 3, :process 0} ";
    let one_line = write(
        dir.path(),
        "one-line.edn",
        format!("[{}]\n", pair.repeat(600_000)).as_bytes(),
    );
    let limit_mb = 48;
    for file in [&list, &string, &escaped, &line, &one_line] {
        let (code, doc) = check_under(limit_mb, &["--no-counterexample", file]);
        assert_eq!(code, Some(2), "{file}: {doc}");
        let why = doc["files"][0]["reason"].as_str().unwrap_or_default();
        assert!(why.contains("memory limit 48 MB"), "{file}: {why}");
    }
    // A value well under an eighth of the limit is checked: a read of 100,000 items that no
    // write wrote is a violation.
    let fits = write(
        dir.path(),
        "fits.edn",
        ok(&format!("[{}]", "7 ".repeat(100_000))).as_bytes(),
    );
    let o = faultline(&["check", "--memory-limit", &format!("{limit_mb}MiB"), &fits]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));

    // Values that each fit are not copied whole into every sentence of the counterexample:
    // a write of one 5 MB string and a read of another is explained under the limit (it
    // peaked at 137 MB when explanations held the values whole).
    let (x, y) = ("x".repeat(5 << 20), "y".repeat(5 << 20));
    let big = write(
        dir.path(),
        "big-strings.edn",
        format!(
            "[{{:type :invoke, :f :write, :value \"{x}\", :process 0}}\n\
             {{:type :ok, :f :write, :value \"{x}\", :process 0}}\n\
             {{:type :invoke, :f :read, :value nil, :process 1}}\n\
             {{:type :ok, :f :read, :value \"{y}\", :process 1}}]\n"
        )
        .as_bytes(),
    );
    let (code, doc) = check_under(limit_mb, &[&big]);
    assert_eq!(code, Some(1), "{doc:.500}");
    let explanation = doc["files"][0]["counterexample"].to_string();
    assert!(explanation.contains("yyyy…"), "{explanation:.300}");
}

#[test]
fn json_output_has_verdicts_keys_counterexample_and_timings() {
    let o = faultline(&[
        "check",
        "--json",
        &data(BAD),
        &data("porcupine/kv/c10-ok.txt"),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON on stdout");
    assert_eq!(doc["valid"], false);
    let bad = &doc["files"][0];
    assert_eq!(bad["valid"], false);
    assert_eq!(bad["model"], "register");
    assert_eq!(bad["format"], "edn");
    let cx = &bad["counterexample"];
    assert!(cx["ops"].as_array().is_some_and(|a| !a.is_empty()), "{cx}");
    assert!(cx["ops"][0]["process"].is_i64(), "{cx}");
    assert!(
        cx["explanation"]
            .as_str()
            .is_some_and(|s| s.contains("no order")),
        "{cx}"
    );
    for t in ["parse_ms", "prepare_ms", "check_ms"] {
        assert!(bad["timings"][t].is_f64(), "{t}");
    }
    let kv = &doc["files"][1];
    assert_eq!(kv["valid"], true);
    assert_eq!(kv["keys"].as_array().map(Vec::len), Some(10));
    assert_eq!(kv["keys"][0]["valid"], true);
    assert!(kv["counterexample"].is_null());
}

#[test]
fn malformed_inputs_exit_254_naming_the_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let cases: Vec<(String, &str)> = vec![
        (write(d, "truncated.edn", b"[{:process 0, :type :invoke, :f :read, :value nil}\n {:process 0, :type :ok"), "line 2"),
        (write(d, "missing.jsonl", b"{\"index\":0,\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n{\"index\":1,\"time\":2,\"process\":0,\"f\":\"read\"}\n"), "line 2"),
        (write(d, "unknown-f.edn", b"[{:process 0, :type :invoke, :f :frobnicate, :value 1}]"), "unknown :f :frobnicate"),
        (write(d, "garbage.bin", b"\x00\x01\x02\xff\xfe binary"), "cannot tell the format"),
        (write(d, "bad-log.log", b"INFO  jepsen.util - 3\t:invoke\n"), "line 1"),
        (d.join("does-not-exist.edn").to_string_lossy().into_owned(), "does-not-exist"),
    ];
    for (path, needle) in &cases {
        let o = faultline(&["check", path]);
        assert_eq!(o.status.code(), Some(254), "{path}: {}", text(&o));
        let all = text(&o);
        assert!(
            all.contains(needle),
            "{path}: expected {needle:?} in\n{all}"
        );
        assert!(!all.contains("panicked"), "{all}");
    }
}

/// Garbage never passes: a file that parses to no event is bad input (254), however it got
/// that way, and the forgiveness of a partial last line does not make an otherwise empty file
/// valid; a history in which no client operation completed is unknown (2), nothing to check,
/// in every format and in `--json`.
#[test]
fn a_history_with_nothing_to_check_is_never_valid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let invoke =
        r#"{"index":0,"time":1,"process":0,"type":"invoke","f":"write","key":"k","value":1}"#;
    let nemesis = r#"{"index":1,"time":2,"process":"nemesis","type":"info","f":"kill","value":{"targets":["n1"]}}"#;
    let empty: Vec<(String, &str)> = vec![
        (write(d, "empty.jsonl", b""), "the file is empty"),
        (write(d, "blank.edn", b"\n  \n\t\n"), "the file is empty"),
        (
            write(d, "partial.jsonl", b"{\"index\":0,\"time\":1,\"proc"),
            "partial last line",
        ),
        (
            write(
                d,
                "partial-invoke.jsonl",
                &invoke.as_bytes()[..invoke.len() - 1],
            ),
            "partial last line",
        ),
        (
            write(d, "comments.edn", b"; nothing here\n"),
            "holds no event",
        ),
        (write(d, "empty-vector.edn", b"[]\n"), "holds no event"),
    ];
    for (path, needle) in &empty {
        for args in [
            vec!["check", path],
            vec!["check", "--format", "faultline", path],
        ] {
            if args.len() == 4 && !path.ends_with(".jsonl") {
                continue;
            }
            let o = faultline(&args);
            assert_eq!(o.status.code(), Some(254), "{args:?}: {}", text(&o));
            let all = text(&o);
            assert!(
                all.contains(needle) && all.contains("no history to check"),
                "{args:?}: {all}"
            );
        }
    }
    // In a directory beside a valid history, the empty file still makes the check bad input.
    let both = tempfile::tempdir().expect("tempdir");
    std::fs::copy(data(GOOD), both.path().join("good.edn")).expect("copy");
    write(both.path(), "truncated.jsonl", b"{\"index\":0,\"ti");
    let o = faultline(&["check", &both.path().to_string_lossy()]);
    assert_eq!(o.status.code(), Some(254), "{}", text(&o));

    let nothing: Vec<String> = vec![
        write(d, "invocations.jsonl", format!("{invoke}\n").as_bytes()),
        write(d, "nemesis.jsonl", format!("{nemesis}\n").as_bytes()),
        write(d, "nemesis.edn", b"[{:process :nemesis, :type :info, :f :start, :value nil}\n {:process :nemesis, :type :info, :f :stop, :value nil}]\n"),
        write(d, "failed.edn", b"[{:process 0, :type :invoke, :f :write, :value 1}\n {:process 0, :type :fail, :f :write, :value 1}]\n"),
        write(d, "invocations.log", b"INFO  jepsen.util - 3\t:invoke\t:read\tnil\n"),
        write(d, "invocations-kv.txt", b"{:process 0, :type :invoke, :f :put, :key \"3\", :value \"x\"}\n"),
        // A partial last line after events that complete nothing: still nothing to check.
        write(d, "invocation-then-partial.jsonl", format!("{invoke}\n{{\"index\":1,\"ti").as_bytes()),
    ];
    for path in &nothing {
        let o = faultline(&["check", path]);
        assert_eq!(o.status.code(), Some(2), "{path}: {}", text(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            out.contains("UNKNOWN: nothing to check"),
            "{path}: {}",
            text(&o)
        );
        let o = faultline(&["check", "--json", path]);
        assert_eq!(o.status.code(), Some(2), "{path}: {}", text(&o));
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
        assert_eq!(doc["valid"], "unknown", "{path}: {doc}");
        assert!(
            doc["files"][0]["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("nothing to check")),
            "{path}: {doc}"
        );
    }
}

#[test]
fn a_results_directory_with_a_partial_last_line_is_checked_with_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lines = [
        r#"{"index":0,"time":1200,"process":3,"type":"invoke","f":"write","key":"k1","value":"5"}"#,
        r#"{"index":1,"time":2000,"process":"nemesis","type":"info","f":"kill","value":{"targets":["n1"]}}"#,
        r#"{"index":2,"time":9100,"process":3,"type":"ok","f":"write","key":"k1","value":"5"}"#,
        r#"{"index":3,"time":9500,"process":4,"type":"invoke","f":"read","key":"k1","value":null}"#,
        r#"{"index":4,"time":9900,"process":4,"type":"ok","f":"read","key":"k1","value":"5"}"#,
        r#"{"index":5,"time":9950,"process":4,"type":"invoke","f":"read","key":"k2","value":null}"#,
        r#"{"index":6,"time":9990,"process":4,"type":"ok","f":"read","key":"k2","value":null}"#,
    ];
    let mut content = lines.join("\n");
    content.push_str("\n{\"index\":7,\"time\":10000,\"proc");
    write(dir.path(), "history.jsonl", content.as_bytes());
    let o = faultline(&["check", &dir.path().to_string_lossy()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("partial last line"),
        "{}",
        text(&o)
    );

    // A stale read in faultline's format: null is a real read of "absent".
    let mut stale = lines[..5].join("\n");
    stale.push_str("\n{\"index\":5,\"time\":9950,\"process\":4,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k1\",\"value\":null}");
    stale.push_str("\n{\"index\":6,\"time\":9990,\"process\":4,\"type\":\"ok\",\"f\":\"read\",\"key\":\"k1\",\"value\":null}\n");
    let p = write(dir.path(), "stale.jsonl", stale.as_bytes());
    let o = faultline(&["check", &p]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("on key k1"),
        "{}",
        text(&o)
    );
}

#[test]
fn generated_histories_check_as_constructed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ok = dir.path().join("ok.jsonl").to_string_lossy().into_owned();
    let bad = dir.path().join("bad.jsonl").to_string_lossy().into_owned();
    let o = faultline(&[
        "gen-history",
        &ok,
        "--procs",
        "10",
        "--ops",
        "3000",
        "--keys",
        "20",
        "--crash",
        "0.05",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = faultline(&[
        "gen-history",
        &bad,
        "--ops",
        "2000",
        "--values",
        "0",
        "--stale",
        "0.02",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = faultline(&["check", &ok]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = faultline(&[
        "check",
        "--format",
        "faultline",
        "--model",
        "cas-register",
        &bad,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

#[test]
fn model_and_format_overrides_are_validated() {
    let o = faultline(&["check", "--model", "mutex", &data(GOOD)]);
    assert_eq!(o.status.code(), Some(254), "{}", text(&o));
    assert!(text(&o).contains("does not fit"), "{}", text(&o));
    let o = faultline(&["check", "--format", "etcd-log", &data(GOOD)]);
    assert_eq!(o.status.code(), Some(254), "{}", text(&o));
    assert!(text(&o).contains("not an etcd log"), "{}", text(&o));
    let o = faultline(&["check", "--model", "nonsense", &data(GOOD)]);
    assert_eq!(o.status.code(), Some(254), "{}", text(&o));
}

#[test]
fn faultline_list_append_transactions_are_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ev = |i: u32, p: u32, ty: &str, v: &str| {
        let t = i * 100;
        format!(r#"{{"index":{i},"time":{t},"process":{p},"type":"{ty}","f":"txn","value":{v}}}"#)
    };
    let good = [
        ev(0, 1, "invoke", r#"[["append","k1","1"]]"#),
        ev(1, 1, "ok", r#"[["append","k1","1"]]"#),
        ev(2, 2, "invoke", r#"[["append","k1","5"],["r","k1",null]]"#),
        ev(3, 2, "ok", r#"[["append","k1","5"],["r","k1",["1","5"]]]"#),
        ev(4, 3, "invoke", r#"[["r","k2",null]]"#),
        ev(5, 3, "ok", r#"[["r","k2",null]]"#),
    ]
    .join("\n");
    let p = write(dir.path(), "append.jsonl", good.as_bytes());
    let o = faultline(&["check", &p]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // As `faultline test` checks its list-append runs: as transactions, strict serializability.
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("valid (faultline, 3 list-append txns, strict-serializable"),
        "{}",
        text(&o)
    );

    // A read that lost the first append.
    let bad = good.replace(r#"["r","k1",["1","5"]]"#, r#"["r","k1",["5"]]"#);
    let p = write(dir.path(), "lost.jsonl", bad.as_bytes());
    let o = faultline(&["check", &p]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    // No read ever saw "1", so it came after "5", which T2 appended, though T0 completed before
    // T2 began: a write cycle through real time.
    assert!(
        out.contains("G0-realtime")
            && out.contains(r#"and T0 appended "1", which no read saw, so after it (ww)"#),
        "{}",
        text(&o)
    );
}

/// Jepsen's list-append EDN is checked as transactions without `--initial` (its reads of
/// absent keys are nil or empty lists); `--consistency-model` and `--anomalies` choose what
/// counts, with the usual exit codes.
#[test]
fn jepsen_txn_histories_are_checked_for_anomalies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ok = write(
        dir.path(),
        "ok.edn",
        b"[{:process 0, :type :invoke, :f :txn, :value [[:append :x 1] [:r :y nil]]}\n\
          {:process 0, :type :ok, :f :txn, :value [[:append :x 1] [:r :y nil]]}\n\
          {:process 1, :type :invoke, :f :txn, :value [[:r :x nil]]}\n\
          {:process 1, :type :ok, :f :txn, :value [[:r :x [1]]]}]\n",
    );
    let o = faultline(&["check", &ok]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // Write skew: two transactions each read empty what the other appends to.
    let skew = write(
        dir.path(),
        "skew.edn",
        b"{:process 0, :type :invoke, :f :txn, :value [[:r :x nil] [:append :y 1]]}\n\
          {:process 1, :type :invoke, :f :txn, :value [[:r :y nil] [:append :x 1]]}\n\
          {:process 0, :type :ok, :f :txn, :value [[:r :x []] [:append :y 1]]}\n\
          {:process 1, :type :ok, :f :txn, :value [[:r :y []] [:append :x 1]]}\n\
          {:process 2, :type :invoke, :f :txn, :value [[:r :x nil] [:r :y nil]]}\n\
          {:process 2, :type :ok, :f :txn, :value [[:r :x [1]] [:r :y [1]]]}\n",
    );
    let o = faultline(&["check", &skew]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("G2-item: T0 read :x = [] without 1"),
        "{}",
        text(&o)
    );
    assert!(
        out.contains("rules out: strict-serializable"),
        "{}",
        text(&o)
    );
    let o = faultline(&["check", "--consistency-model", "snapshot-isolation", &skew]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = faultline(&["check", "--anomalies", "G0,G1", &skew]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = faultline(&[
        "check",
        "--json",
        "--consistency-model",
        "serializable",
        &skew,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let elle = &doc["files"][0]["elle"];
    assert_eq!(elle["violations"], serde_json::json!(["G2-item"]), "{doc}");
    assert_eq!(elle["anomalies"][0]["steps"][0]["kind"], "rw", "{doc}");
    let o = faultline(&["check", "--consistency-model", "eventual", &skew]);
    assert_eq!(o.status.code(), Some(254), "{}", text(&o));
    let o = faultline(&["check", "--anomalies", "G9", &skew]);
    assert_eq!(o.status.code(), Some(254), "{}", text(&o));
    // A time limit that has passed before the search: unknown, saying why.
    let o = faultline(&["check", "--time-limit", "0s", &skew]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("time limit"),
        "{}",
        text(&o)
    );
}

/// A set workload's history, from `faultline test` or from Jepsen, is checked by the set
/// checker: a lost acknowledged add is a violation (exit 1) and names the element.
#[test]
fn set_histories_are_checked_for_lost_and_unexpected_elements() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let mut lines = Vec::new();
    let mut index = 0;
    let mut ev = |p: u64, kind: &str, f: &str, value: &str| {
        lines.push(format!(
            r#"{{"index":{index},"time":{index},"process":{p},"type":"{kind}","f":"{f}","key":"s1","value":{value}}}"#
        ));
        index += 1;
    };
    for (p, v) in [(0, 1), (1, 2), (2, 3)] {
        ev(p, "invoke", "add", &v.to_string());
        ev(p, "ok", "add", &v.to_string());
    }
    ev(0, "invoke", "read", "null");
    ev(0, "ok", "read", "[1,3]");
    let lost = write(dir, "lost.jsonl", (lines.join("\n") + "\n").as_bytes());
    let o = faultline(&["check", &lost]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("acknowledged but missing from the final read on key s1: 2"),
        "{}",
        text(&o)
    );
    let edn = write(
        dir,
        "ok.edn",
        b"{:process 0, :type :invoke, :f :add, :value 1}\n\
          {:process 0, :type :ok, :f :add, :value 1}\n\
          {:process 1, :type :invoke, :f :add, :value 2}\n\
          {:process 1, :type :info, :f :add, :value 2}\n\
          {:process 0, :type :invoke, :f :read, :value nil}\n\
          {:process 0, :type :ok, :f :read, :value #{1}}\n",
    );
    let o = faultline(&["check", "--json", &edn, &lost]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(doc["files"][0]["model"], "set");
    assert_eq!(doc["files"][0]["valid"], true);
    assert_eq!(doc["files"][1]["valid"], false);
    assert_eq!(doc["files"][1]["set"]["lost_count"], 1);
}

/// `gen-history --list-append` writes a strictly serializable history that checks valid, and
/// with `--plant` the planted anomalies are each found, at their places.
#[test]
fn generated_list_append_histories_check_as_planted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clean = dir.path().join("clean.jsonl");
    let o = faultline(&[
        "gen-history",
        "--list-append",
        "--ops",
        "3000",
        "--keys",
        "30",
        clean.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = faultline(&["check", clean.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let planted = dir.path().join("planted.jsonl");
    let mut args = vec![
        "gen-history",
        "--list-append",
        "--ops",
        "3000",
        "--keys",
        "30",
    ];
    for p in ["g0@0.2", "g1c@0.4", "g-single@0.6", "g2@0.8"] {
        args.extend(["--plant", p]);
    }
    args.push(planted.to_str().unwrap());
    let o = faultline(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = faultline(&["check", "--json", planted.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let counts = &doc["files"][0]["elle"]["counts"];
    assert_eq!(
        counts,
        &serde_json::json!({"G0": 1, "G1c": 1, "G-single": 1, "G2-item": 1}),
        "{doc}"
    );
    let o = faultline(&["gen-history", "--list-append", "--plant", "g7", "x.jsonl"]);
    assert_eq!(o.status.code(), Some(254), "{}", text(&o));
}
