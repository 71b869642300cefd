//! Fuzzing the parsers of the root crate: campaigns (random YAML trees built from the campaign
//! vocabulary, the real campaigns of tests/campaigns with their trees changed, and their text
//! damaged) through parsing and validation, the command line's durations and sizes, and a run
//! directory's `history.jsonl` and `results.json` through `faultline report`'s rendering. The
//! properties: nothing panics; a campaign is a plan or bad input (254) whose every line names
//! the file and a line or a field; a duration is in its bounds or refused with a message.
//!
//! The history parsers are fuzzed in `checkers/tests/fuzz_histories.rs`. `cargo test` runs a few
//! seconds of each; longer by hand with `FAULTLINE_FUZZ_CASES` (see README.md, "Fuzzing").
//! Inputs that found a bug live in `tests/data/fuzz/campaigns/`, run by
//! [`found_campaigns_stay_fixed`].

#[path = "../util/mutate.rs"]
mod mutate;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use clap::Parser;
use faultline::cli::check::{parse_bytes, parse_duration};
use faultline::cli::Cli;
use faultline::exit::{code_for, BAD_INPUT};
use faultline::runner::campaign;
use faultline::runner::duration::Dur;
use faultline::runner::validate::{validate, Overrides};
use proptest::prelude::*;
use serde_yaml::{Mapping, Value};

const FILE: &str = "fuzz.yaml";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The real campaigns, as text.
fn campaigns() -> &'static [Vec<u8>] {
    static ALL: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    ALL.get_or_init(|| {
        let files = mutate::files_in(&root().join("tests/campaigns"));
        assert!(files.len() >= 10, "tests/campaigns: {} files", files.len());
        files
            .iter()
            .map(|f| std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display())))
            .collect()
    })
}

/// The real campaigns, as YAML trees.
fn trees() -> &'static [Value] {
    static ALL: OnceLock<Vec<Value>> = OnceLock::new();
    ALL.get_or_init(|| {
        campaigns()
            .iter()
            .map(|t| serde_yaml::from_slice(t).expect("a real campaign is YAML"))
            .collect()
    })
}

/// Parses and validates `text` as a campaign every way `test` may (with and without `--local`).
/// Panics on a panic inside, and on an error that is not bad input naming the file.
fn exercise(text: &[u8]) {
    mutate::saving_failures(text, "yaml", || {
        // Campaigns are read as UTF-8 text: anything else is refused before parsing.
        let Ok(text) = std::str::from_utf8(text) else {
            return;
        };
        let path = Path::new(FILE);
        let c = match campaign::parse(text, path) {
            Ok(c) => c,
            Err(e) => return assert_bad_input(&e, text),
        };
        for local in [false, true] {
            let overrides = Overrides {
                local,
                seed: Some(7),
                ..Overrides::default()
            };
            match validate(&c, text, path, &overrides) {
                Ok(plan) => {
                    assert!(plan.nodes >= 1);
                    assert!(plan.concurrency >= 1);
                }
                Err(e) => assert_bad_input(&e, text),
            }
        }
    })
}

/// Bad input (254), every line of it naming the file and then where: `fuzz.yaml:L:C: ...`, or
/// `fuzz.yaml: FIELD: ...` for a field that is not in the text (a default, a missing one).
fn assert_bad_input(e: &anyhow::Error, text: &str) {
    let msg = format!("{e:#}");
    assert_eq!(
        code_for(e),
        BAD_INPUT,
        "not bad input: {msg}\n--- for ---\n{text}"
    );
    for line in msg.lines() {
        let rest = line.strip_prefix(FILE).unwrap_or_else(|| {
            panic!("a line that does not name the file: {line:?} in\n{msg}\n--- for ---\n{text}")
        });
        let positioned = rest
            .strip_prefix(':')
            .and_then(|r| r.split_once(':'))
            .is_some_and(|(l, r)| {
                l.parse::<usize>().is_ok_and(|l| l >= 1)
                    && r.split_once(": ")
                        .is_some_and(|(c, _)| c.parse::<usize>().is_ok())
            });
        let field = rest
            .strip_prefix(": ")
            .and_then(|r| r.split_once(": "))
            .is_some_and(|(f, _)| !f.is_empty() && !f.contains(' '));
        assert!(
            positioned || field,
            "neither a line nor a field: {line:?} in\n{msg}\n--- for ---\n{text}"
        );
    }
}

/// Every key a campaign knows, and a few it does not.
const KEYS: &[&str] = &[
    "name",
    "seed",
    "system",
    "cluster",
    "workload",
    "concurrency",
    "rate",
    "duration",
    "ops",
    "nemesis",
    "quiet",
    "client",
    "checker",
    "out",
    "kind",
    "reads",
    "image",
    "entrypoint",
    "command",
    "peer",
    "peer_separator",
    "port",
    "data_dir",
    "env",
    "leader",
    "operations",
    "nodes",
    "unsafe_bugs",
    "keys",
    "read",
    "write",
    "cas",
    "cas_absent",
    "append",
    "max_txn_len",
    "faults",
    "interval",
    "schedule",
    "kill",
    "pause",
    "partition",
    "at",
    "timeout",
    "time_limit",
    "memory_limit_mb",
    "crash",
    "online",
    "stop_on_violation",
    "method",
    "path",
    "field",
    "names",
    "role",
    "leads",
    "term",
    "json",
    "form",
    "body",
    "ok",
    "fail",
    "absent",
    "value",
    "bogus",
    "",
];

/// Scalars at the edges of what each field takes.
fn scalar() -> impl Strategy<Value = Value> {
    let words = prop::sample::select(vec![
        "register",
        "set",
        "list-append",
        "bank",
        "faultline",
        "etcd",
        "http",
        "random-node",
        "leader",
        "minority",
        "majority",
        "all",
        "halves",
        "majorities-ring",
        "bridge",
        "isolate-leader",
        "n1",
        "n9",
        "n0",
        "lazy-fsync",
        "stale-read",
        "racy-cas",
        "linearizable",
        "serializable",
        "id",
        "GET",
        "PUT",
        "/kv/{key}",
        "{value}",
        "{id}={ip}:{port}",
        "{nope}",
        "1ms",
        "0s",
        "0ms",
        "24h",
        "8760h",
        "8761h",
        "1.5s",
        "-1s",
        "1e400s",
        "nan",
        "inf",
        "5",
        "1h",
        "0.0001ms",
        "",
        " ",
        "x y",
        "ünï",
        "\u{0}",
    ]);
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop::sample::select(vec![
            0i64,
            1,
            2,
            3,
            5,
            9,
            10,
            65535,
            65536,
            -1,
            i64::MIN,
            i64::MAX
        ])
        .prop_map(|n| Value::Number(n.into())),
        any::<u64>().prop_map(|n| Value::Number(n.into())),
        prop::sample::select(vec![0.5f64, -0.5, 1e300, f64::INFINITY, f64::NAN, 0.0001])
            .prop_map(|n| Value::Number(n.into())),
        words.prop_map(|w| Value::String(w.into())),
        "\\PC{0,12}".prop_map(Value::String),
    ]
}

/// A YAML tree whose mappings use the campaign's keys.
fn tree() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Sequence),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|kvs| {
                let mut m = Mapping::new();
                for (k, v) in kvs {
                    m.insert(Value::String(k.into()), v);
                }
                Value::Mapping(m)
            }),
        ]
    })
}

/// One change to a tree: at the `at`-th node (in a walk), replace it, drop a key of it, or add
/// one to it.
#[derive(Debug, Clone)]
enum TreeEdit {
    Replace {
        at: usize,
        with: Value,
    },
    DropKey {
        at: usize,
        key: usize,
    },
    AddKey {
        at: usize,
        key: &'static str,
        value: Value,
    },
}

fn edit() -> impl Strategy<Value = TreeEdit> {
    prop_oneof![
        3 => (any::<usize>(), prop_oneof![3 => scalar(), 1 => tree()])
            .prop_map(|(at, with)| TreeEdit::Replace { at, with }),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(at, key)| TreeEdit::DropKey { at, key }),
        2 => (any::<usize>(), prop::sample::select(KEYS), scalar())
            .prop_map(|(at, key, value)| TreeEdit::AddKey { at, key, value }),
    ]
}

fn count(v: &Value) -> usize {
    1 + match v {
        Value::Sequence(s) => s.iter().map(count).sum(),
        Value::Mapping(m) => m.values().map(count).sum(),
        _ => 0,
    }
}

/// The `n`-th node of a pre-order walk.
fn nth(v: &mut Value, n: usize) -> Option<&mut Value> {
    if n == 0 {
        return Some(v);
    }
    let mut n = n - 1;
    let children: Vec<&mut Value> = match v {
        Value::Sequence(s) => s.iter_mut().collect(),
        Value::Mapping(m) => m.values_mut().collect(),
        _ => return None,
    };
    for c in children {
        let size = count(c);
        if n < size {
            return nth(c, n);
        }
        n -= size;
    }
    None
}

fn apply_edit(v: &mut Value, e: &TreeEdit) {
    let size = count(v);
    match e {
        TreeEdit::Replace { at, with } => {
            if let Some(node) = nth(v, at % size) {
                *node = with.clone();
            }
        }
        TreeEdit::DropKey { at, key } => {
            if let Some(Value::Mapping(m)) = nth(v, at % size) {
                if !m.is_empty() {
                    let k = m.keys().nth(key % m.len()).cloned();
                    if let Some(k) = k {
                        m.remove(&k);
                    }
                }
            }
        }
        TreeEdit::AddKey { at, key, value } => {
            if let Some(Value::Mapping(m)) = nth(v, at % size) {
                m.insert(Value::String((*key).into()), value.clone());
            }
        }
    }
}

/// What a hand-edited or damaged YAML file may contain.
const YAML_TOKENS: &[&[u8]] = &[
    b": ",
    b"- ",
    b"\n",
    b"\n  ",
    b"  ",
    b"\t",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b"'",
    b"\"",
    b"#",
    b"&a ",
    b"*a",
    b"<<: *a",
    b"!!binary ",
    b"!!int ",
    b"!tag ",
    b"~",
    b"null",
    b"? ",
    b"|\n",
    b">-\n",
    b"---\n",
    b"...\n",
    b"%YAML 1.2\n",
    b"0x10",
    b"0o7",
    b"-0",
    b"1e999",
    b".nan",
    b".inf",
    b"-.inf",
    b"18446744073709551616",
    b"-1",
    b"0",
    b"1ms",
    b"24h",
    b"8761h",
    b"0s",
    b"interval: 1ms",
    b"duration: 24h",
    b"kill: leader",
    b"partition: halves",
    b"nodes: 9",
    b"nodes: 0",
    b"kind: http",
    b"kind: set",
    b"schedule: []",
    b"faults: []",
    b"\xff",
    b"\x00",
    b"\xef\xbb\xbf",
];

proptest! {
    #![proptest_config(ProptestConfig {
        cases: mutate::cases(1000),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Random trees built from the campaign's own keys.
    #[test]
    fn random_yaml_trees(t in tree(), workload in any::<bool>()) {
        let mut t = t;
        // Half of them with a workload, so that more get past the one required field.
        if let (true, Value::Mapping(m)) = (workload, &mut t) {
            m.entry(Value::String("workload".into()))
                .or_insert_with(|| serde_yaml::from_str("{kind: register}").unwrap());
        }
        let text = serde_yaml::to_string(&t).expect("a tree renders");
        exercise(text.as_bytes());
    }

    /// The real campaigns with their trees changed: most stay well-formed and reach validation.
    #[test]
    fn edited_real_campaigns(which in any::<usize>(), edits in prop::collection::vec(edit(), 1..5)) {
        let trees = trees();
        let mut t = trees[which % trees.len()].clone();
        for e in &edits {
            apply_edit(&mut t, e);
        }
        let text = serde_yaml::to_string(&t).expect("a tree renders");
        exercise(text.as_bytes());
    }

    /// The real campaigns' text, damaged.
    #[test]
    fn damaged_real_campaigns(which in any::<usize>(), muts in mutate::mutations(5)) {
        let all = campaigns();
        let text = mutate::apply(&all[which % all.len()], all, YAML_TOKENS, &muts);
        exercise(&text);
    }

    /// Durations and sizes as typed on the command line: in their bounds or refused, the same
    /// way as in a campaign, and through the whole argument parser.
    #[test]
    fn command_line_durations_and_sizes(s in duration_text()) {
        mutate::saving_failures(s.as_bytes(), "txt", || {
            let campaign = s.parse::<Dur>();
            let flag = parse_duration(&s);
            assert_eq!(flag.clone().ok(), campaign.clone().ok().map(|d| d.0), "{s:?}");
            if let Ok(d) = flag {
                assert!(d <= Duration::from_secs(366 * 86_400), "{s:?} gave {d:?}");
            }
            if let Err(e) = &campaign {
                assert!(!e.is_empty());
            }
            let _ = parse_bytes(&s);
            let parsed = Cli::try_parse_from([
                "faultline", "check", "--time-limit", &s, "--memory-limit", &s, "h.edn",
            ]);
            if let Err(e) = parsed {
                let _ = e.to_string();
            }
        });
    }
}

fn duration_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,16}",
        (
            "[-+]?[0-9]{0,25}(\\.[0-9]{0,10})?([eE][-+]?[0-9]{1,4})?",
            prop::sample::select(vec![
                "", "ms", "s", "m", "h", "us", "ns", "d", "MB", "GiB", "kb", "b", " s", "S", "sec",
                "mss", "k", "KiB", "\u{0}",
            ]),
            prop::sample::select(vec!["", " ", "\t", "\n"]),
        )
            .prop_map(|(n, u, w)| format!("{w}{n}{u}{w}")),
    ]
}

/// A run's history: registers, a set, a transaction, the nemesis (with a fault window), an
/// indeterminate write and a partial last line.
const RUN_HISTORY: &str = concat!(
    r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"write","key":"k1","value":1}"#,
    "\n",
    r#"{"index":1,"time":5000000,"process":0,"type":"ok","f":"write","key":"k1","value":1}"#,
    "\n",
    r#"{"index":2,"time":6000000,"process":"nemesis","type":"info","f":"kill","value":{"targets":["n1"]}}"#,
    "\n",
    r#"{"index":3,"time":10000000,"process":1,"type":"invoke","f":"cas","key":"k1","value":[1,2]}"#,
    "\n",
    r#"{"index":4,"time":15000000,"process":1,"type":"ok","f":"cas","key":"k1","value":[1,2]}"#,
    "\n",
    r#"{"index":5,"time":20000000,"process":2,"type":"invoke","f":"read","key":"k1","value":null}"#,
    "\n",
    r#"{"index":6,"time":25000000,"process":2,"type":"ok","f":"read","key":"k1","value":1}"#,
    "\n",
    r#"{"index":7,"time":30000000,"process":"nemesis","type":"info","f":"start","value":{"targets":["n1"]}}"#,
    "\n",
    r#"{"index":8,"time":31000000,"process":3,"type":"invoke","f":"add","key":"s","value":4}"#,
    "\n",
    r#"{"index":9,"time":32000000,"process":3,"type":"fail","f":"add","key":"s","value":4,"error":"503"}"#,
    "\n",
    r#"{"index":10,"time":33000000,"process":4,"type":"invoke","f":"txn","value":[["append","x",1],["r","y",null]]}"#,
    "\n",
    r#"{"index":11,"time":34000000,"process":4,"type":"ok","f":"txn","value":[["append","x",1],["r","y",[]]]}"#,
    "\n",
    r#"{"index":12,"time":40000000,"process":0,"type":"invoke","f":"write","key":"k1","value":3}"#,
    "\n",
    r#"{"index":13,"time":45000000,"process":0,"type":"info","f":"write","key":"k1","value":3,"error":"timeout"}"#,
    "\n",
    r#"{"index":14,"time":"#,
);

/// `results.json` as faultline writes it (typed), and as another tool might.
const RUN_RESULTS: [&str; 2] = [
    r#"{"campaign":"c","seed":7,"run":"20261206T000000Z","target":"3 local nodes","valid":false,
"notes":["a note"],"interrupted":false,
"checkers":[{"name":"linearizability","valid":false,"summary":"not linearizable on key k1","detail":{"model":"register","ops":3,"millis":1.0,"keys":{"k1":{"valid":"invalid"}},"counterexample":{"key":"k1","explanation":"read 1 after write 2","ops":[]}}}],
"stats":{"ops":7,"ok":5,"fail":1,"info":1,"processes":5,"run_ms":45,"ops_per_sec":155.5,"history_events":14,"history_bytes":1200},
"faults":[{"window":0,"kind":"kill","at_ms":6,"duration_ms":24,"start_ns":6000000,"end_ns":30000000,"status":"applied","observed":true,"effect":"n1 down"},
{"window":1,"kind":"partition","at_ms":40,"duration_ms":5,"status":"failed","error":"refused"}],
"coverage":{"kill":{"scheduled":1,"applied":1,"observed":1,"skipped":0,"failed":0}},
"phases":[{"phase":"setup","ms":3},{"phase":"check","ms":1,"error":"x"}],
"faultline_version":"0.1.0","started_at":"20261206T000000Z"}"#,
    r#"{"valid?": false, "seed": 42, "checkers": {"linearizable": {"valid": false, "counterexample": {"key": "k1", "ops": [{"index": 0}]}}}}"#,
];

/// What a damaged JSON file may contain.
const JSON_TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b",",
    b":",
    b"null",
    b"true",
    b"false",
    b"-1",
    b"0",
    b"1e400",
    b"18446744073709551616",
    b"18446744073709551615",
    b"9999999999999999999",
    b"-9223372036854775808",
    b"1.5",
    b"\"\\u0000\"",
    b"\"valid\":",
    b"\"unknown\"",
    b"\"time\":",
    b"\"process\":",
    b"\"nemesis\"",
    b"\"type\":",
    b"\"info\"",
    b"\"ok\"",
    b"\"invoke\"",
    b"\"f\":",
    b"\"kill\"",
    b"\"partition\"",
    b"\"value\":",
    b"{\"targets\":[\"n1\"]}",
    b"\"start_ns\":",
    b"\"end_ns\":",
    b"\"faults\":",
    b"\"window\":",
    b"\n",
    b"\xff",
];

proptest! {
    #![proptest_config(ProptestConfig {
        cases: mutate::cases(150),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// A run directory's files damaged: `faultline report` renders them or refuses them as bad
    /// input, never panics.
    #[test]
    fn damaged_run_directories(
        history in mutate::mutations(5),
        results in 0usize..3,
        results_damage in prop::option::of(mutate::mutations(4)),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let h = mutate::apply(RUN_HISTORY.as_bytes(), &[], JSON_TOKENS, &history);
        std::fs::write(dir.path().join("history.jsonl"), &h).expect("write");
        let r = RUN_RESULTS.get(results).map(|r| match &results_damage {
            Some(m) => mutate::apply(r.as_bytes(), &[], JSON_TOKENS, m),
            None => r.as_bytes().to_vec(),
        });
        if let Some(r) = &r {
            std::fs::write(dir.path().join("results.json"), r).expect("write");
        }
        let mut both = h.clone();
        both.extend_from_slice(b"\n--- results.json ---\n");
        both.extend_from_slice(r.as_deref().unwrap_or_default());
        mutate::saving_failures(&both, "run", || {
            match faultline::report::store::write_reports(dir.path()) {
                // A page for a dozen operations stays small, whatever their times.
                Ok(w) => {
                    let size = std::fs::metadata(&w.html).expect("report.html").len();
                    assert!(size < 8 << 20, "a report of {size} bytes");
                }
                Err(e) => assert_eq!(code_for(&e), BAD_INPUT, "{e:#}"),
            }
        });
    }
}

#[test]
fn the_run_seeds_reach_the_typed_results() {
    let r: faultline::report::results::Results =
        serde_json::from_str(RUN_RESULTS[0]).expect("a typed results.json");
    assert_eq!(r.faults.len(), 2);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("history.jsonl"), RUN_HISTORY).expect("write");
    std::fs::write(dir.path().join("results.json"), RUN_RESULTS[0]).expect("write");
    let w = faultline::report::store::write_reports(dir.path()).expect("the seed renders");
    assert_eq!(w.verdict, faultline::exit::Validity::Invalid);
}

/// Every campaign that once found a bug (tests/data/fuzz/campaigns, see its README) is a plan
/// or bad input naming its line or field. `FAULTLINE_FUZZ_REPLAY=DIR` runs DIR's instead.
#[test]
fn found_campaigns_stay_fixed() {
    let dir = std::env::var_os("FAULTLINE_FUZZ_REPLAY")
        .map_or_else(|| root().join("tests/data/fuzz/campaigns"), PathBuf::from);
    let files = mutate::files_in(&dir);
    assert!(!files.is_empty(), "no inputs in {}", dir.display());
    let failed: Vec<String> = files
        .iter()
        .filter(|f| {
            let b = std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            std::panic::catch_unwind(|| exercise(&b)).is_err()
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "these inputs fail:\n{}",
        failed.join("\n")
    );
}

/// Every run directory that once found a bug (tests/data/fuzz/runs/*/, see the README there):
/// `faultline report` on a copy renders it (exit 0), or refuses it as bad input (254), never
/// anything else.
#[test]
fn found_run_directories_stay_fixed() {
    let root = root().join("tests/data/fuzz/runs");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no run directories in {}", root.display());
    for dir in dirs {
        let copy = tempfile::tempdir().expect("tempdir");
        for f in mutate::files_in(&dir) {
            std::fs::copy(&f, copy.path().join(f.file_name().expect("name"))).expect("copy");
        }
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
            .arg("report")
            .arg(copy.path())
            .output()
            .expect("run faultline");
        assert!(
            matches!(out.status.code(), Some(0 | 254)),
            "{}: {out:?}",
            dir.display()
        );
        if out.status.code() == Some(0) {
            let size = std::fs::metadata(copy.path().join("report.html"))
                .expect("report.html")
                .len();
            assert!(
                size < 8 << 20,
                "{}: a report of {size} bytes",
                dir.display()
            );
        }
    }
}
