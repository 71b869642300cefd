//! The crash checker: a node whose process ends by itself (not in a kill the nemesis made) is a
//! crash, however the final heal later revives it; and a panic or fatal line in any node's log
//! is one too, wherever it happened. Crashes go into the history as they are seen (a `crash`
//! event with the exit code and the log's last lines) and into the verdict as the `crash`
//! checker, invalid when anything was found.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use checkers::analysis::CheckerResult;
use checkers::history::EventType;
use checkers::Validity;
use nemesis::fault::NodeName;
use serde::Serialize;
use serde_json::json;
use tokio::sync::watch;

use super::faults::NEMESIS;
use super::live::Live;
use super::recorder::Recorder;
use crate::cluster::target::TestTarget;

/// How often the watcher looks at every node.
const EVERY: Duration = Duration::from_millis(500);

/// A node that ended by itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Crash {
    pub node: NodeName,
    /// When it was seen down, ns since the run's start.
    pub seen_ns: u64,
    pub exit_code: Option<i64>,
    pub last_lines: Vec<String>,
}

/// A panic or fatal line in a node's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogHit {
    pub file: String,
    /// 1-based.
    pub line: usize,
    pub text: String,
}

/// Looks at every node every 500 ms until `stop`, recording each crash once.
pub async fn watch<T: TestTarget>(
    target: Arc<T>,
    live: Arc<Live>,
    recorder: Recorder,
    mut stop: watch::Receiver<bool>,
) -> Vec<Crash> {
    let mut crashes = Vec::new();
    loop {
        crashes.extend(sweep(&*target, &live, &recorder, &crashes).await);
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    crashes
}

/// One look at every node the nemesis has not taken down on purpose, and not already known to
/// have crashed: the new crashes, recorded in the history.
pub async fn sweep<T: TestTarget>(
    target: &T,
    live: &Live,
    recorder: &Recorder,
    known: &[Crash],
) -> Vec<Crash> {
    let on_purpose = live.down_on_purpose();
    let known: BTreeSet<&str> = known.iter().map(|c| c.node.as_str()).collect();
    let mut found = Vec::new();
    for (node, _) in target.nodes() {
        if on_purpose.contains(&node) || known.contains(node.as_str()) {
            continue;
        }
        let exited = match target.exited(&node).await {
            Ok(Some(e)) => e,
            Ok(None) => continue,
            Err(e) => {
                tracing::debug!(target: "faultline::runner", %node, "asking whether it runs: {e:#}");
                continue;
            }
        };
        // The nemesis may have begun a kill between our look at its list and the answer.
        if live.down_on_purpose().contains(&node) {
            continue;
        }
        let crash = Crash {
            node: node.clone(),
            seen_ns: recorder.now(),
            exit_code: exited.code,
            last_lines: exited.last_lines,
        };
        tracing::error!(target: "faultline::runner", %node, code = ?crash.exit_code, "a node exited by itself: {}", crash.last_lines.last().map(String::as_str).unwrap_or(""));
        recorder.record(
            NEMESIS,
            EventType::Info,
            "crash",
            None,
            json!({"targets": [node], "exit_code": crash.exit_code, "log": crash.last_lines}),
            Some(format!(
                "{node} exited by itself{}",
                crash
                    .exit_code
                    .map(|c| format!(" with code {c}"))
                    .unwrap_or_default()
            )),
        );
        found.push(crash);
    }
    found
}

/// Every line of the logs in `dir` that holds one of `markers` (at most 20 listed).
pub fn scan_logs(dir: &Path, markers: &[String]) -> Vec<LogHit> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    let mut hits = Vec::new();
    for path in files {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        for (i, line) in text.lines().enumerate() {
            if markers.iter().any(|m| line.contains(m.as_str())) {
                hits.push(LogHit {
                    file: file.clone(),
                    line: i + 1,
                    text: line.trim().chars().take(300).collect(),
                });
                if hits.len() >= 20 {
                    return hits;
                }
            }
        }
    }
    hits
}

/// The `crash` checker's result.
pub fn result(crashes: &[Crash], hits: &[LogHit]) -> CheckerResult {
    let valid = if crashes.is_empty() && hits.is_empty() {
        Validity::Valid
    } else {
        Validity::Invalid
    };
    // One line a crash, and the first hit of each log (all of them are in the detail).
    let mut parts: Vec<String> = crashes
        .iter()
        .map(|c| {
            format!(
                "{} exited by itself{} at {:.1} s",
                c.node,
                c.exit_code
                    .map(|code| format!(" with code {code}"))
                    .unwrap_or_default(),
                c.seen_ns as f64 / 1e9,
            )
        })
        .collect();
    let mut files: Vec<&str> = Vec::new();
    for h in hits {
        if files.contains(&h.file.as_str()) {
            continue;
        }
        files.push(&h.file);
        let more = hits.iter().filter(|o| o.file == h.file).count() - 1;
        let text: String = h.text.chars().take(160).collect();
        parts.push(format!(
            "{}:{}: {text}{}",
            h.file,
            h.line,
            if more > 0 {
                format!(" (and {more} more)")
            } else {
                String::new()
            }
        ));
    }
    let summary = if parts.is_empty() {
        "no node exited by itself, and no log holds a panic or fatal line".to_string()
    } else {
        parts.join("; ")
    };
    CheckerResult {
        name: "crash".into(),
        valid,
        summary,
        detail: json!({"crashes": crashes, "log_hits": hits}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_lines_are_found_with_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("n1.log"), "ok\nall good\n").unwrap();
        std::fs::write(
            dir.path().join("n2.log"),
            "start\nthread 'main' panicked at src/x.rs:3:5\nbye\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "panicked at nothing\n").unwrap();
        let hits = scan_logs(dir.path(), &["panicked at".to_string()]);
        assert_eq!(
            hits,
            [LogHit {
                file: "n2.log".into(),
                line: 2,
                text: "thread 'main' panicked at src/x.rs:3:5".into()
            }]
        );
        let r = result(&[], &hits);
        assert_eq!(r.valid, Validity::Invalid);
        assert!(
            r.summary.contains("n2.log:2: thread 'main' panicked"),
            "{}",
            r.summary
        );
        let clean = result(&[], &[]);
        assert_eq!(clean.valid, Validity::Valid);
    }
}
