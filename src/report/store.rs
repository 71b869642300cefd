//! The results store, after Jepsen's `store.clj`: it creates a run's directory, writes every
//! file in it, keeps the `latest` links, and reads a directory back.
//!
//! ```text
//! <out>/latest -> <campaign>/<stamp>          the newest run of any campaign
//! <out>/<campaign>/latest -> <stamp>          the newest run of this campaign
//! <out>/<campaign>/<stamp>/campaign.yaml      the campaign as run, seed filled in
//!                          history.jsonl      written by the recorder as the run goes
//!                          logs/<node>.log    each node's log
//!                          results.json       typed, written once, at the end
//!                          history.edn        the history in Jepsen's format
//!                          report.html        one self-contained page
//!                          junit.xml          for CI
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use checkers::parse::{self, Format, History};
use serde_json::Value;

use super::results::Results;
use super::run_data::RunData;
use super::{checks, edn, html, junit, stats};
use crate::exit::{bad_input, Validity};

/// The link to the newest run, in the results root and in each campaign's directory.
pub const LATEST: &str = "latest";

/// One run's directory, being written.
#[derive(Debug, Clone)]
pub struct RunDir {
    path: PathBuf,
}

/// What `finish` wrote.
#[derive(Debug)]
pub struct Written {
    pub html: PathBuf,
    pub junit: PathBuf,
    pub verdict: Validity,
}

impl RunDir {
    /// Creates `<out>/<campaign>/<UTC timestamp>/` (with a suffix if two runs share a second)
    /// and points the `latest` links at it.
    pub fn create(out: &Path, campaign: &str) -> anyhow::Result<RunDir> {
        let base = out.join(campaign);
        fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
        let stamp = utc_stamp(std::time::SystemTime::now());
        for n in 0..100 {
            let name = if n == 0 {
                stamp.clone()
            } else {
                format!("{stamp}-{n}")
            };
            let dir = base.join(&name);
            match fs::create_dir(&dir) {
                Ok(()) => {
                    // A missing link is an inconvenience, never a reason to fail a run.
                    let links = link(&base, Path::new(&name))
                        .and_then(|()| link(out, &Path::new(campaign).join(&name)));
                    if let Err(e) = links {
                        tracing::warn!(target: "faultline::report", "could not update the latest links: {e:#}");
                    }
                    return Ok(RunDir { path: dir });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
            }
        }
        anyhow::bail!("{} holds 100 runs from this second already", base.display())
    }

    /// A run directory that exists already.
    pub fn at(path: impl Into<PathBuf>) -> RunDir {
        RunDir { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the recorder writes the history.
    pub fn history(&self) -> PathBuf {
        self.path.join("history.jsonl")
    }

    /// Where node logs go.
    pub fn logs(&self) -> PathBuf {
        self.path.join("logs")
    }

    /// Saves the campaign as run.
    pub fn write_campaign(&self, yaml: &str) -> anyhow::Result<()> {
        write(&self.path.join("campaign.yaml"), yaml)
    }

    /// Writes `results.json` alone: for a run whose history could not be read.
    pub fn write_results(&self, results: &Results) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(results).context("encoding results.json")?;
        write(&self.path.join("results.json"), &(text + "\n"))
    }

    /// Writes everything a finished run gets from its results and its (parsed) history:
    /// `results.json` (with the history's statistics and the version), `history.edn`,
    /// `report.html` and `junit.xml`.
    pub fn finish(&self, mut results: Results, history: &History) -> anyhow::Result<Written> {
        let events = history.to_events();
        write(&self.path.join("history.edn"), &edn::render(&events))?;
        let mut run = RunData::from_events(&events);
        run.dir = self.path.clone();
        run.warnings = history.warnings.clone();
        results.faultline_version = env!("CARGO_PKG_VERSION").into();
        if results.started_at.is_none() {
            results.started_at = Some(results.run.clone());
        }
        let stats = stats::compute(&run.ops, &run.windows, run.end_ns);
        results.analysis = Some(stats.clone());
        self.write_results(&results)?;
        run.results = serde_json::to_value(&results).context("encoding results.json")?;
        run.logs = find_logs(&self.path);
        render(&run, &stats)
    }
}

/// A run directory read back: its history, parsed once, and its results.
#[derive(Debug)]
pub struct Stored {
    pub history: History,
    pub results: StoredResults,
}

/// `results.json` as found.
#[derive(Debug)]
pub enum StoredResults {
    /// Written by faultline.
    Ours(Box<Results>),
    /// Another tool's (or an older shape): rendered as far as it can be read.
    Foreign(Value),
    /// None yet: the history has not been checked.
    Missing,
}

impl StoredResults {
    /// The verdict the results state; unknown without any.
    pub fn validity(&self) -> Validity {
        match self {
            StoredResults::Ours(r) => r.valid,
            StoredResults::Foreign(v) => super::run_data::validity_from_json(v.get("valid")),
            StoredResults::Missing => Validity::Unknown,
        }
    }

    /// The typed results, when faultline wrote them.
    pub fn ours(&self) -> Option<&Results> {
        match self {
            StoredResults::Ours(r) => Some(r),
            _ => None,
        }
    }

    fn to_value(&self) -> Value {
        match self {
            StoredResults::Ours(r) => serde_json::to_value(r).unwrap_or(Value::Null),
            StoredResults::Foreign(v) => v.clone(),
            StoredResults::Missing => Value::Null,
        }
    }
}

/// Reads a run directory: `history.jsonl` through `checkers::parse` (a malformed line is bad
/// input, named by line; a partial last line is dropped with a warning) and `results.json`.
pub fn load(dir: &Path) -> anyhow::Result<Stored> {
    let path = dir.join("history.jsonl");
    if !path.is_file() {
        return Err(bad_input(format!(
            "{} holds no history.jsonl: give a result directory of `faultline test`",
            dir.display()
        )));
    }
    let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let history = parse::parse(&bytes, Format::Faultline)
        .map_err(|e| bad_input(format!("{}: {e}", path.display())))?;
    Ok(Stored {
        history,
        results: load_results(dir)?,
    })
}

/// `results.json` alone (for listings): typed when faultline wrote it, kept as it is when
/// another tool did. Anything but a JSON object (not JSON, not UTF-8, a directory, an array) is
/// bad input, saying what is wrong.
pub fn load_results(dir: &Path) -> anyhow::Result<StoredResults> {
    let path = dir.join("results.json");
    if path.is_dir() {
        return Err(bad_input(format!(
            "{} is a directory, not a results file",
            path.display()
        )));
    }
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(StoredResults::Missing),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| bad_input(format!("{}: not JSON: {e}", path.display())))?;
    if !value.is_object() {
        return Err(bad_input(format!(
            "{}: not a results document (a JSON object with `valid`), but {}",
            path.display(),
            match &value {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            }
        )));
    }
    Ok(match serde_json::from_value::<Results>(value.clone()) {
        Ok(r) => StoredResults::Ours(Box::new(r)),
        Err(_) => StoredResults::Foreign(value),
    })
}

/// Rewrites a stored run's `report.html` and `junit.xml` (`faultline report DIR`).
pub fn write_reports(dir: &Path) -> anyhow::Result<Written> {
    let stored = load(dir)?;
    let mut run = RunData::from_events(&stored.history.to_events());
    run.dir = dir.to_path_buf();
    run.warnings = stored.history.warnings.clone();
    run.results = stored.results.to_value();
    run.logs = find_logs(dir);
    let stats = stats::compute(&run.ops, &run.windows, run.end_ns);
    render(&run, &stats)
}

fn render(run: &RunData, stats: &stats::Stats) -> anyhow::Result<Written> {
    let checkers = checks::checker_results(&run.results);
    let html_path = run.dir.join("report.html");
    write(&html_path, &html::render(run, stats, &checkers))?;
    let junit_path = run.dir.join("junit.xml");
    let suite = junit_suite(run, stats, &checkers, &run.campaign_name());
    write(&junit_path, &junit::document(&[suite]))?;
    Ok(Written {
        html: html_path,
        junit: junit_path,
        verdict: run.valid(),
    })
}

/// A run as one JUnit test suite called `name`.
fn junit_suite(
    run: &RunData,
    stats: &stats::Stats,
    checkers: &[checks::CheckerResult],
    name: &str,
) -> junit::Rendered {
    let text = |key: &str| run.results.get(key).and_then(|v| v.as_str()).unwrap_or("");
    let notes: Vec<String> = run
        .results
        .get("notes")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|n| n.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let strings = |key: &str| -> Vec<String> {
        run.results
            .get(key)
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|n| n.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let missing = strings("missing_coverage");
    // `kill-leader (applied 0, observed 0)` is what is missing of `kill-leader`.
    let coverage: Vec<(String, Option<String>)> = strings("required_coverage")
        .into_iter()
        .map(|mode| {
            let gap = missing
                .iter()
                .find(|m| m.split(' ').next() == Some(mode.as_str()))
                .cloned();
            (mode, gap)
        })
        .collect();
    junit::testsuite(&junit::Suite {
        name,
        seed: run.results.get("seed").and_then(|v| v.as_u64()),
        timestamp: text("started_at"),
        duration_s: stats.duration_s,
        checkers,
        verdict: run.valid(),
        notes: &notes,
        coverage: &coverage,
    })
}

/// One `junit.xml` at `path` for several stored runs, each a suite named `<campaign>[seed=S]`
/// (a matrix of runs).
pub fn write_junit_of_runs(path: &Path, dirs: &[PathBuf]) -> anyhow::Result<()> {
    let mut suites = Vec::new();
    for dir in dirs {
        let stored = load(dir)?;
        let mut run = RunData::from_events(&stored.history.to_events());
        run.dir = dir.clone();
        run.results = stored.results.to_value();
        let stats = stats::compute(&run.ops, &run.windows, run.end_ns);
        let checkers = checks::checker_results(&run.results);
        let name = match run.results.get("seed").and_then(|v| v.as_u64()) {
            Some(seed) => format!("{}[seed={seed}]", run.campaign_name()),
            None => run.campaign_name(),
        };
        suites.push(junit_suite(&run, &stats, &checkers, &name));
    }
    write(path, &junit::document(&suites))
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Points `<dir>/latest` at `target` (relative to `dir`), replacing the old link atomically.
fn link(dir: &Path, target: &Path) -> anyhow::Result<()> {
    let latest = dir.join(LATEST);
    let tmp = dir.join(format!(".{LATEST}.{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    #[cfg(unix)]
    std::os::unix::fs::symlink(target, &tmp)
        .with_context(|| format!("linking {} to {}", tmp.display(), target.display()))?;
    fs::rename(&tmp, &latest).with_context(|| format!("replacing {}", latest.display()))
}

/// Node log files, relative to the run directory.
fn find_logs(dir: &Path) -> Vec<PathBuf> {
    let mut logs = Vec::new();
    for sub in [dir.to_path_buf(), dir.join("logs")] {
        let Ok(entries) = fs::read_dir(&sub) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "log") {
                if let Ok(rel) = path.strip_prefix(dir) {
                    logs.push(rel.to_path_buf());
                }
            }
        }
    }
    logs.sort();
    logs
}

/// `20261123T054900Z`, from the Unix clock (days to civil date after Howard Hinnant).
pub fn utc_stamp(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        let t = std::time::UNIX_EPOCH + Duration::from_secs(1_795_412_345);
        assert_eq!(utc_stamp(t), "20261123T053905Z");
        assert_eq!(utc_stamp(std::time::UNIX_EPOCH), "19700101T000000Z");
        let leap = std::time::UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(utc_stamp(leap), "20000229T000000Z");
    }

    #[test]
    fn latest_links_follow_the_newest_run() {
        let out = tempfile::tempdir().unwrap();
        let first = RunDir::create(out.path(), "c").unwrap();
        let second = RunDir::create(out.path(), "c").unwrap();
        assert_ne!(first.path(), second.path());
        let newest = fs::canonicalize(second.path()).unwrap();
        assert_eq!(
            fs::canonicalize(out.path().join("c/latest")).unwrap(),
            newest
        );
        assert_eq!(fs::canonicalize(out.path().join("latest")).unwrap(), newest);
        let other = RunDir::create(out.path(), "d").unwrap();
        assert_eq!(
            fs::canonicalize(out.path().join("latest")).unwrap(),
            fs::canonicalize(other.path()).unwrap()
        );
        assert_eq!(
            fs::canonicalize(out.path().join("c/latest")).unwrap(),
            newest
        );
        // Links are relative: the results root can be moved or copied.
        assert_eq!(
            fs::read_link(out.path().join("c/latest")).unwrap(),
            second.path().strip_prefix(out.path().join("c")).unwrap()
        );
    }
}
