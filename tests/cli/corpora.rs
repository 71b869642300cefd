//! Every history with a verdict decided by others (tests/data/verdicts.tsv, from VERDICTS.md)
//! gets that verdict from `faultline check`, run once per corpus as a user would.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn data() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data"))
}

/// Expected verdicts by path under tests/data. The two files without an upstream verdict get
/// the one README.md argues for.
fn expected() -> BTreeMap<String, &'static str> {
    let text =
        std::fs::read_to_string(data().join("verdicts.tsv")).expect("tests/data/verdicts.tsv");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (path, v) = l.split_once('\t').expect("path<TAB>verdict");
            let v = match (path, v) {
                ("porcupine/jepsen/etcd_095.log", "unasserted") => "valid",
                ("knossos/mutex/bad/etcd.edn", "unasserted") => "invalid",
                (_, "valid") => "valid",
                (_, "invalid") => "invalid",
                other => panic!("unexpected verdict line {other:?}"),
            };
            (path.to_string(), v)
        })
        .collect()
}

/// Runs `faultline check --json DIR` and compares every file's verdict; fails listing all
/// mismatches, and any expected file that was not checked.
fn check_corpus(dir: &str, expect_exit: i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["check", "--json"])
        .arg(data().join(dir))
        .output()
        .expect("run faultline");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "faultline check printed no JSON ({e}); stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let expected = expected();
    let mut wrong = Vec::new();
    let mut seen = 0;
    for f in doc["files"].as_array().expect("files") {
        let path = f["path"].as_str().expect("path");
        let rel = Path::new(path)
            .strip_prefix(data())
            .expect("under tests/data")
            .to_string_lossy()
            .to_string();
        let got = match &f["valid"] {
            serde_json::Value::Bool(true) => "valid",
            serde_json::Value::Bool(false) => "invalid",
            other => {
                wrong.push(format!("{rel}: got {other} ({})", f["error"]));
                continue;
            }
        };
        match expected.get(&rel) {
            Some(&want) => {
                seen += 1;
                if want != got {
                    wrong.push(format!("{rel}: expected {want}, got {got}"));
                }
            }
            None => wrong.push(format!("{rel}: not in verdicts.tsv")),
        }
    }
    let missing: Vec<_> = expected.keys().filter(|p| p.starts_with(dir)).collect();
    assert_eq!(seen, missing.len(), "some files of {dir} were not checked");
    assert!(
        wrong.is_empty(),
        "{} wrong verdicts in {dir}:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(out.status.code(), Some(expect_exit), "exit code for {dir}");
}

#[test]
fn porcupine_etcd_logs() {
    check_corpus("porcupine/jepsen", 1);
}

#[test]
fn porcupine_kv_logs() {
    check_corpus("porcupine/kv", 1);
}

#[test]
fn knossos_edn() {
    check_corpus("knossos", 1);
}

#[test]
fn knossos_good_only_exits_zero() {
    check_corpus("knossos/cas-register/good", 0);
}
