//! Fuzzing every history parser (faultline JSONL, Jepsen EDN, Porcupine's etcd and kv logs) and
//! what runs on a parsed history (format detection, the checkers a history is given, the
//! analysis, the conversion to faultline's events), from the real histories of `tests/data`
//! damaged the ways files get damaged. Properties: nothing panics; a parse gives a history or a
//! typed error whose position lies in the input; the analysis of what parses gives a verdict or
//! a typed error.
//!
//! `cargo test` runs a few seconds of it; longer by hand (see README.md, "Fuzzing"):
//! `FAULTLINE_FUZZ_CASES=200000 FAULTLINE_FUZZ_SAVE=/tmp/found cargo test --release -p checkers
//! --test fuzz_histories`. Inputs that found a bug live in `tests/data/fuzz/histories/`, and
//! [`found_inputs_stay_fixed`] runs every one of them.

#[path = "../../tests/util/mutate.rs"]
mod mutate;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use checkers::analysis::{self, Options};
use checkers::parse::{self, Format};
use checkers::{Error, Limits};
use proptest::prelude::*;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data")
}

/// Small histories of faultline's own workloads (the corpora hold none): registers with a
/// nemesis, a set with its final read, list-append transactions.
const FAULTLINE: [&str; 3] = [
    concat!(
        r#"{"index":0,"time":1200,"process":3,"type":"invoke","f":"write","key":"k1","value":5}"#,
        "\n",
        r#"{"index":1,"time":2000,"process":"nemesis","type":"info","f":"kill","value":{"targets":["n1"]}}"#,
        "\n",
        r#"{"index":2,"time":9100,"process":3,"type":"ok","f":"write","key":"k1","value":5}"#,
        "\n",
        r#"{"index":3,"time":9500,"process":4,"type":"invoke","f":"cas","key":"k1","value":[5,6]}"#,
        "\n",
        r#"{"index":4,"time":9900,"process":4,"type":"fail","f":"cas","key":"k1","value":[5,6],"error":"cas mismatch"}"#,
        "\n",
        r#"{"index":5,"time":9950,"process":5,"type":"invoke","f":"read","key":"k1","value":null}"#,
        "\n",
        r#"{"index":6,"time":9990,"process":5,"type":"ok","f":"read","key":"k1","value":5}"#,
        "\n",
        r#"{"index":7,"time":10000,"process":3,"type":"invoke","f":"write","key":"k2","value":1}"#,
        "\n",
        r#"{"index":8,"time":10010,"process":3,"type":"info","f":"write","key":"k2","value":1,"error":"timeout"}"#,
        "\n",
    ),
    concat!(
        r#"{"index":0,"time":1,"process":0,"type":"invoke","f":"add","key":"s","value":1}"#,
        "\n",
        r#"{"index":1,"time":2,"process":0,"type":"ok","f":"add","key":"s","value":1}"#,
        "\n",
        r#"{"index":2,"time":3,"process":1,"type":"invoke","f":"add","key":"s","value":2}"#,
        "\n",
        r#"{"index":3,"time":4,"process":1,"type":"info","f":"add","key":"s","value":2}"#,
        "\n",
        r#"{"index":4,"time":5,"process":2,"type":"invoke","f":"read","key":"s","value":null}"#,
        "\n",
        r#"{"index":5,"time":6,"process":2,"type":"ok","f":"read","key":"s","value":[1,2]}"#,
        "\n",
    ),
    concat!(
        r#"{"index":0,"time":1,"process":0,"type":"invoke","f":"txn","value":[["append","x",1],["r","y",null]]}"#,
        "\n",
        r#"{"index":1,"time":2,"process":0,"type":"ok","f":"txn","value":[["append","x",1],["r","y",[]]]}"#,
        "\n",
        r#"{"index":2,"time":3,"process":1,"type":"invoke","f":"txn","value":[["r","x",null],["append","y",2]]}"#,
        "\n",
        r#"{"index":3,"time":4,"process":1,"type":"ok","f":"txn","value":[["r","x",[1]],["append","y",2]]}"#,
        "\n",
        r#"{"index":4,"time":5,"process":2,"type":"invoke","f":"txn","value":[["r","x",null],["r","y",null]]}"#,
        "\n",
        r#"{"index":5,"time":6,"process":2,"type":"ok","f":"txn","value":[["r","x",[1]],["r","y",[2]]]}"#,
        "\n",
    ),
];

/// Every corpus history, cut to its first few KB at a line end (a vector's `]` put back), so
/// that a case is quick yet a whole history, plus faultline's own.
fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut out: Vec<Vec<u8>> = FAULTLINE.iter().map(|s| s.as_bytes().to_vec()).collect();
        let mut files = Vec::new();
        for dir in ["porcupine/jepsen", "porcupine/kv"] {
            files.extend(mutate::files_in(&data().join(dir)));
        }
        for model in ["cas-register", "multi-register", "mutex"] {
            for verdict in ["good", "bad"] {
                let dir = data().join("knossos").join(model).join(verdict);
                if dir.is_dir() {
                    files.extend(mutate::files_in(&dir));
                }
            }
        }
        assert!(files.len() > 150, "the corpora: {} files", files.len());
        for f in files {
            let b = std::fs::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            out.push(cut(&b, 3000));
        }
        out
    })
}

fn cut(b: &[u8], max: usize) -> Vec<u8> {
    if b.len() <= max {
        return b.to_vec();
    }
    let end = b[..max]
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(max, |i| i + 1);
    let mut v = b[..end].to_vec();
    if b.iter().find(|c| !c.is_ascii_whitespace()) == Some(&b'[') {
        v.extend_from_slice(b"]\n");
    }
    v
}

/// What a damaged history may contain: the formats' own tokens, and values at the edges.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"(",
    b")",
    b"#{",
    b"\"",
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b",",
    b":",
    b" ",
    b"\t",
    b"\n",
    b"\r\n",
    b";",
    b"nil",
    b"null",
    b"true",
    b"false",
    b"-1",
    b"0",
    b"-0",
    b"1e400",
    b"-1e400",
    b"NaN",
    b"1.5",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"18446744073709551616",
    b"99999999999999999999999999",
    b":invoke",
    b":ok",
    b":fail",
    b":info",
    b":nemesis",
    b":process",
    b":type",
    b":f",
    b":value",
    b":key",
    b":read",
    b":write",
    b":cas",
    b":acquire",
    b":release",
    b":txn",
    b":append",
    b":r",
    b":put",
    b":get",
    b":add",
    b"\"invoke\"",
    b"\"ok\"",
    b"\"fail\"",
    b"\"info\"",
    b"\"nemesis\"",
    b"\"process\":",
    b"\"type\":",
    b"\"f\":",
    b"\"value\":",
    b"\"key\":",
    b"\"index\":",
    b"\"time\":",
    b"\"txn\"",
    b"\"append\"",
    b"\"r\"",
    b"\"add\"",
    b"\"read\"",
    b"\"write\"",
    b"\"cas\"",
    b"[1 2]",
    b"[\"append\",\"x\",1]",
    b"[[\"r\",\"x\",[1,1]]]",
    b"{:a 1}",
    b"#{1 2}",
    b"INFO  jepsen.util - ",
    b"\t:invoke\t",
    b"\t:ok\t",
    b"\t:info\t",
    b"{:process 0, ",
    b"{\"index\":0,",
    b"\xff",
    b"\xc3\xa9",
    b"\x00",
];

/// Parses `bytes` every way `check` and the reports may, and checks what parses, within small
/// limits. Panics (failing the property) on anything but a result or a typed error.
fn exercise(bytes: &[u8]) {
    mutate::saving_failures(bytes, "history", || {
        for f in Format::ALL {
            if let Ok(h) = parse::parse(bytes, f) {
                analyse(&h, bytes);
            }
        }
        match parse::parse_auto(bytes) {
            Ok(h) => analyse(&h, bytes),
            Err(Error::Syntax { pos, msg } | Error::Event { pos, msg }) => {
                assert!(
                    pos.offset <= bytes.len(),
                    "{pos} past the input's end: {msg}"
                );
                assert!(pos.line >= 1 && pos.col >= 1, "{pos}: {msg}");
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    })
}

fn analyse(h: &parse::History, bytes: &[u8]) {
    let lines = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
    for e in &h.events {
        assert!(
            e.line >= 1 && e.line <= lines,
            "event at line {} of {lines}",
            e.line
        );
    }
    let events = h.to_events();
    assert_eq!(events.len(), h.events.len());
    let options = Options {
        limits: Limits {
            threads: 1,
            time_limit: Some(Duration::from_millis(200)),
            memory_limit: Some(64 << 20),
            shrink_time: Duration::from_millis(100),
        },
        ..Options::default()
    };
    for checkers in [
        analysis::for_history(h),
        vec![analysis::Checker::Linearizability],
    ] {
        if let Ok(a) = analysis::analyze(h, &checkers, &options) {
            let _ = a.validity();
            let results = a.results();
            assert_eq!(results.len(), checkers.len());
            serde_json::to_string(&results).expect("results encode as JSON");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: mutate::cases(1500),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Real histories, damaged.
    #[test]
    fn damaged_real_histories(which in any::<usize>(), muts in mutate::mutations(6)) {
        let seeds = seeds();
        let b = mutate::apply(&seeds[which % seeds.len()], seeds, TOKENS, &muts);
        exercise(&b);
    }

    /// Histories made of the formats' tokens in any order: syntax that almost holds.
    #[test]
    fn token_soup(tokens in prop::collection::vec(any::<usize>(), 0..60)) {
        let b: Vec<u8> = tokens.iter().flat_map(|t| TOKENS[t % TOKENS.len()].iter().copied()).collect();
        exercise(&b);
    }

    /// Well-formed histories of each format: operations of one model each (invoked, then
    /// completed ok, failed, indeterminate or never, overlapping), random small values, the
    /// nemesis in between: past the syntax and the pairing to the models and the checkers.
    #[test]
    fn random_histories(family in 0usize..FAMILIES.len(), ops in prop::collection::vec(op(), 1..24), format in 0usize..4) {
        exercise(&render(FAMILIES[family], &ops, format));
    }
}

/// The operations of each model, and a mixture no model knows.
const FAMILIES: [&[&str]; 6] = [
    &["read", "write", "cas"],
    &["add", "read"],
    &["txn"],
    &["acquire", "release"],
    &["get", "put", "append"],
    &[
        "read", "write", "cas", "txn", "add", "append", "get", "put", "acquire", "release",
    ],
];

/// A value in both notations.
#[derive(Debug, Clone)]
struct Value {
    json: String,
    edn: String,
}

impl Value {
    fn int(n: i64) -> Value {
        Value {
            json: n.to_string(),
            edn: n.to_string(),
        }
    }
    fn nil() -> Value {
        Value {
            json: "null".into(),
            edn: "nil".into(),
        }
    }
    fn list(vs: &[Value]) -> Value {
        let j: Vec<&str> = vs.iter().map(|v| v.json.as_str()).collect();
        let e: Vec<&str> = vs.iter().map(|v| v.edn.as_str()).collect();
        Value {
            json: format!("[{}]", j.join(",")),
            edn: format!("[{}]", e.join(" ")),
        }
    }
}

/// Mostly the few values a model's operations collide on; sometimes anything.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        8 => (0i64..4).prop_map(Value::int),
        2 => Just(Value::nil()),
        1 => any::<i64>().prop_map(Value::int),
        1 => "[a-z]{0,3}".prop_map(|s| Value { json: format!("\"{s}\""), edn: format!("\"{s}\"") }),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop::collection::vec(inner, 0..3).prop_map(|vs| Value::list(&vs))
    })
}

/// One micro-operation of a transaction: an append, or a read of what it saw.
fn micro() -> impl Strategy<Value = (bool, &'static str, i64, Vec<i64>)> {
    (
        any::<bool>(),
        prop::sample::select(vec!["x", "y"]),
        0i64..4,
        prop::collection::vec(0i64..4, 0..3),
    )
}

/// One operation: which of its model's functions, how it ended (`None`: never), what it sent
/// and got, how many later invocations come before its completion, and a nemesis event first.
#[derive(Debug, Clone)]
struct Op {
    f: usize,
    outcome: Option<&'static str>,
    arg: Value,
    got: Option<Value>,
    txn: Vec<(bool, &'static str, i64, Vec<i64>)>,
    overlap: usize,
    key: &'static str,
    nemesis: bool,
}

fn op() -> impl Strategy<Value = Op> {
    (
        any::<usize>(),
        prop_oneof![
            6 => Just(Some("ok")),
            2 => Just(Some("fail")),
            2 => Just(Some("info")),
            1 => Just(None),
        ],
        value(),
        prop::option::of(value()),
        prop::collection::vec(micro(), 1..4),
        0usize..3,
        prop::sample::select(vec!["k", "j"]),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(f, outcome, arg, got, txn, overlap, key, nemesis)| Op {
            f,
            outcome,
            arg,
            got,
            txn,
            overlap,
            key,
            nemesis,
        })
}

/// `ops` as a history in format 0 (faultline), 1 (EDN), 2 (etcd log) or 3 (kv log); each
/// operation its own process, so that the overlaps never make a process invoke twice.
fn render(fs: &[&str], ops: &[Op], format: usize) -> Vec<u8> {
    let mut lines: Vec<(usize, String)> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let f = fs[op.f % fs.len()];
        let (arg, got) = if f == "txn" {
            let mops = |read: bool| {
                let ms: Vec<Value> = op
                    .txn
                    .iter()
                    .map(|(append, k, n, seen)| {
                        let (name, v) = match (append, read) {
                            (true, _) => ("append", Value::int(*n)),
                            (false, false) => ("r", Value::nil()),
                            (false, true) => (
                                "r",
                                Value::list(
                                    &seen.iter().map(|s| Value::int(*s)).collect::<Vec<_>>(),
                                ),
                            ),
                        };
                        Value {
                            json: format!("[\"{name}\",\"{k}\",{}]", v.json),
                            edn: format!("[:{name} :{k} {}]", v.edn),
                        }
                    })
                    .collect();
                Value::list(&ms)
            };
            (mops(false), mops(true))
        } else {
            let arg = if matches!(f, "read" | "get") {
                Value::nil()
            } else {
                op.arg.clone()
            };
            let got = op.got.clone().unwrap_or_else(|| arg.clone());
            (arg, got)
        };
        let line = |t: &str, v: &Value| {
            match format {
            0 => format!(
                "{{\"index\":0,\"time\":{i},\"process\":{i},\"type\":\"{t}\",\"f\":\"{f}\",\"key\":\"{}\",\"value\":{}}}",
                op.key, v.json
            ),
            1 => format!("{{:process {i}, :type :{t}, :f :{f}, :value {}}}", v.edn),
            2 => format!("INFO  jepsen.util - {i}\t:{t}\t:{f}\t{}", v.edn),
            _ => format!("{{:process {i}, :type :{t}, :f :{f}, :key \"{}\", :value {}}}", op.key, v.edn),
        }
        };
        if op.nemesis {
            let n = match format {
                0 => r#"{"index":0,"time":0,"process":"nemesis","type":"info","f":"kill","value":{"targets":["n1"]}}"#.to_string(),
                2 => "INFO  jepsen.util - :nemesis\t:info\t:start\tnil".to_string(),
                _ => "{:process :nemesis, :type :info, :f :start, :value nil}".to_string(),
            };
            lines.push((10 * i, n));
        }
        lines.push((10 * i + 1, line("invoke", &arg)));
        if let Some(t) = op.outcome {
            lines.push((10 * (i + op.overlap) + 5, line(t, &got)));
        }
    }
    lines.sort_by_key(|(at, _)| *at);
    let body: Vec<String> = lines.into_iter().map(|(_, l)| l).collect();
    let mut text = body.join("\n");
    text.push('\n');
    if format == 1 {
        text = format!("[{text}]\n");
    }
    text.into_bytes()
}

/// Every input that once found a bug (tests/data/fuzz/histories, see its README) parses or is
/// refused, and checks or is refused, without a panic. `FAULTLINE_FUZZ_REPLAY=DIR` runs the
/// inputs of DIR instead (what a long run saved).
#[test]
fn found_inputs_stay_fixed() {
    let dir = std::env::var_os("FAULTLINE_FUZZ_REPLAY")
        .map_or_else(|| data().join("fuzz/histories"), PathBuf::from);
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
