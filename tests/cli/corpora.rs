//! Every history with a verdict decided by others (tests/data/verdicts.tsv, from VERDICTS.md)
//! gets that verdict from `faultline check`, run once per corpus as a user would; the few
//! files where faultline departs from the reference on purpose are listed in [`DEPARTURES`],
//! each with its reason.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn data() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data"))
}

/// Files whose reference verdict faultline does not give, on purpose (see tests/data/README.md):
/// (path, verdict in verdicts.tsv, faultline's verdict, why). "error" is bad input (exit 254).
/// Every one is asserted both ways: the table must still say what is departed from, and
/// faultline must give exactly its own verdict.
const DEPARTURES: [(&str, &str, &str, &str); 5] = [
    (
        "porcupine/jepsen/etcd_095.log",
        "unasserted",
        "error",
        "an empty file (the etcd cluster of that run never started): no history to check",
    ),
    (
        "knossos/cas-register/good/mongodb-v0-ack-rollback-.edn",
        "valid",
        "unknown",
        "28 nemesis events and no client operation: nothing to check",
    ),
    (
        "knossos/cas-register/good/mongodb-v0-ack-rollback-9.edn",
        "valid",
        "unknown",
        "every client operation failed: nothing to check",
    ),
    (
        "knossos/cas-register/good/mongodb-v0-ack-rollback-10.edn",
        "valid",
        "unknown",
        "every client operation failed: nothing to check",
    ),
    (
        "knossos/cas-register/good/mongodb-v0-ack-rollback-11.edn",
        "valid",
        "unknown",
        "every client operation failed: nothing to check",
    ),
];

/// Expected verdicts by path under tests/data: the table's, but for [`DEPARTURES`]. The one
/// other file without an upstream verdict gets the one README.md argues for.
fn expected() -> BTreeMap<String, &'static str> {
    let text =
        std::fs::read_to_string(data().join("verdicts.tsv")).expect("tests/data/verdicts.tsv");
    let mut departed = 0;
    let all: BTreeMap<String, &'static str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (path, v) = l.split_once('\t').expect("path<TAB>verdict");
            if let Some((_, reference, ours, _)) = DEPARTURES.iter().find(|d| d.0 == path) {
                assert_eq!(
                    v, *reference,
                    "{path}: verdicts.tsv no longer says what we depart from"
                );
                departed += 1;
                return (path.to_string(), *ours);
            }
            let v = match (path, v) {
                ("knossos/mutex/bad/etcd.edn", "unasserted") => "invalid",
                (_, "valid") => "valid",
                (_, "invalid") => "invalid",
                other => panic!("unexpected verdict line {other:?}"),
            };
            (path.to_string(), v)
        })
        .collect();
    assert_eq!(
        departed,
        DEPARTURES.len(),
        "a departure names a file not in verdicts.tsv"
    );
    all
}

/// The exit code of a check of files with these verdicts: the worst, bad input first.
fn worst_exit<'a>(verdicts: impl IntoIterator<Item = &'a str>) -> i32 {
    verdicts
        .into_iter()
        .map(|v| match v {
            "valid" => 0,
            "unknown" => 2,
            "invalid" => 1,
            "error" => 254,
            other => panic!("verdict {other}"),
        })
        .max_by_key(|&c| match c {
            0 => 0,
            2 => 1,
            1 => 2,
            _ => 3,
        })
        .unwrap_or(0)
}

/// Runs `faultline check --json DIR` and compares every file's verdict; fails listing all
/// mismatches, and any expected file that was not checked.
fn check_corpus(dir: &str, expect_exit: i32) {
    let expected = expected();
    let files: Vec<&str> = expected
        .keys()
        .filter(|p| p.starts_with(dir))
        .map(String::as_str)
        .collect();
    check_files(&[data().join(dir)], &files, expect_exit);
}

/// Runs `faultline check --json ARGS` and compares the verdict of each of `files` (paths under
/// tests/data), which must be exactly the files checked, and the exit code.
fn check_files(args: &[PathBuf], files: &[&str], expect_exit: i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["check", "--json"])
        .args(args)
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
            serde_json::Value::String(s) if s == "unknown" || s == "error" => s.as_str(),
            other => {
                wrong.push(format!("{rel}: got {other} ({})", f["error"]));
                continue;
            }
        };
        if got == "unknown" || got == "error" {
            // Ours only for a reason: nothing to check.
            let why = format!("{}{}", f["reason"], f["error"]);
            if !why.contains("nothing to check") && !why.contains("no history to check") {
                wrong.push(format!("{rel}: {got} for another reason: {why}"));
            }
        }
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
    assert_eq!(seen, files.len(), "some files of {args:?} were not checked");
    assert!(
        wrong.is_empty(),
        "{} wrong verdicts in {args:?}:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    let verdicts = files.iter().map(|f| expected[*f]);
    assert_eq!(
        expect_exit,
        worst_exit(verdicts),
        "the test's own expectation for {args:?}"
    );
    assert_eq!(
        out.status.code(),
        Some(expect_exit),
        "exit code for {args:?}"
    );
}

/// `check_corpus` for the files of `dir` but the departures from the reference, given by name.
fn check_corpus_without_departures(dir: &str, expect_exit: i32) {
    let expected = expected();
    let files: Vec<&str> = expected
        .keys()
        .filter(|p| p.starts_with(dir) && !DEPARTURES.iter().any(|d| d.0 == p.as_str()))
        .map(String::as_str)
        .collect();
    let args: Vec<PathBuf> = files.iter().map(|f| data().join(f)).collect();
    check_files(&args, &files, expect_exit);
}

#[test]
fn porcupine_etcd_logs() {
    // The directory as a user gives it: the empty etcd_095.log in it is bad input.
    check_corpus("porcupine/jepsen", 254);
    // Every other file has its verdict, the worst a violation.
    check_corpus_without_departures("porcupine/jepsen", 1);
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
    check_corpus_without_departures("knossos/cas-register/good", 0);
    // With the histories that have nothing to check, the directory is unknown, not valid.
    check_corpus("knossos/cas-register/good", 2);
}

/// Each file where faultline departs from the reference, alone: its own verdict and exit code.
#[test]
fn departures_from_the_reference_get_our_verdict_and_exit_code() {
    for (path, _, ours, _) in DEPARTURES {
        check_files(&[data().join(path)], &[path], worst_exit([ours]));
    }
}
