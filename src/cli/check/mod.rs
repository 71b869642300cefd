//! `faultline check`: is a recorded history linearizable? One line per file, a readable
//! counterexample for a violation, `--json` for machines; exit with the worst verdict.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use checkers::analysis::{self, Analysis, Checker, Options};
use checkers::parse::{self, Format};
use checkers::{Limits, ModelKind, Val};
use clap::Args;

use crate::runner::duration::Dur;

mod render;
pub use render::counterexample_text;
use serde_json::json;

use crate::exit::{bad_input, Validity};

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// History files, or directories (a results directory holding `history.jsonl`, or a
    /// directory of histories, searched recursively).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Input format (detected from the content by default): edn, etcd-log, kv-log, faultline.
    #[arg(long, value_parser = parse_format)]
    pub format: Option<Format>,
    /// Model (inferred from the operations by default): register, cas-register,
    /// multi-register, mutex, kv.
    #[arg(long, value_parser = parse_model)]
    pub model: Option<ModelKind>,
    /// The model's initial value, as EDN (`0`, `nil`, `"x"`). Default: 0 for EDN registers,
    /// nil for the etcd logs and faultline, "" for kv.
    #[arg(long)]
    pub initial: Option<String>,
    /// Transactional histories (list-append, rw-register): the consistency model to check,
    /// whose prohibited anomalies are violations: strict-serializable, serializable,
    /// snapshot-isolation, repeatable-read, read-committed, read-uncommitted, the strong and
    /// strong-session variants, ...
    #[arg(long, default_value = "strict-serializable", value_parser = parse_consistency_model)]
    pub consistency_model: String,
    /// Transactional histories: only these anomalies (and those implying them) count as
    /// violations, whatever the model, comma-separated: `G0,G1c`, `G2`, `G-single`, ...
    #[arg(long, value_delimiter = ',', value_parser = parse_anomaly)]
    pub anomalies: Option<Vec<String>>,
    /// Give up with exit 2 (unknown) after this long: `500ms`, `10s`, `2m`.
    #[arg(long, value_parser = parse_duration)]
    pub time_limit: Option<Duration>,
    /// Give up with exit 2 (unknown) when the process's resident memory passes this (reading,
    /// preparing and checking the history all count): `512MB`, `4GiB`.
    #[arg(long, value_parser = parse_bytes, default_value = "4GiB")]
    pub memory_limit: u64,
    /// Keys checked in parallel (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Only the verdict: do not shrink and explain a violation (as Porcupine and Knossos,
    /// for timing comparisons).
    #[arg(long)]
    pub no_counterexample: bool,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

fn parse_format(s: &str) -> Result<Format, String> {
    Format::from_name(s)
        .ok_or_else(|| format!("unknown format {s:?}: use edn, etcd-log, kv-log or faultline"))
}

fn parse_model(s: &str) -> Result<ModelKind, String> {
    ModelKind::from_name(s).ok_or_else(|| {
        format!("unknown model {s:?}: use register, cas-register, multi-register, mutex or kv")
    })
}

fn parse_consistency_model(s: &str) -> Result<String, String> {
    checkers::elle::models::canonical(s)
        .map(String::from)
        .ok_or_else(|| {
            format!(
                "unknown consistency model {s:?}: use {}",
                checkers::elle::models::model_names().join(", ")
            )
        })
}

fn parse_anomaly(s: &str) -> Result<String, String> {
    let s = s.trim();
    if checkers::elle::models::known_anomaly(s) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "unknown anomaly {s:?}: use {} (or a class: G1, G2, G-nonadjacent)",
            checkers::elle::models::ANOMALIES.join(", ")
        ))
    }
}

/// `250ms`, `10s`, `2m`, or a bare number of seconds: the campaigns' parser, with its bounds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    s.parse::<Dur>().map(|d| d.0)
}

/// `512MB`, `4GiB`, `100k`, or a bare number of bytes.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let (num, unit) = split_unit(s);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size: write e.g. 512MB or 4GiB"))?;
    let mult: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => (1u64 << 20) as f64,
        "g" | "gb" => 1e9,
        "gib" => (1u64 << 30) as f64,
        _ => {
            return Err(format!(
                "{s:?}: unknown unit {unit:?} (use B, KB, MB, GB, KiB, MiB, GiB)"
            ))
        }
    };
    if !(n.is_finite() && n >= 0.0) {
        return Err(format!("{s:?} is not a positive size"));
    }
    Ok((n * mult) as u64)
}

fn split_unit(s: &str) -> (&str, &str) {
    let s = s.trim();
    let i = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    (&s[..i], s[i..].trim())
}

/// Expands directories: a results directory means its `history.jsonl`; any other directory
/// means every file under it, in name order.
fn expand(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p)
            .with_context(|| format!("cannot read {}", p.display()))
            .map_err(|e| bad_input(format!("{e:#}: check the path")))?;
        if !meta.is_dir() {
            out.push(p.clone());
        } else if p.join("history.jsonl").is_file() {
            out.push(p.join("history.jsonl"));
        } else {
            walk(p, &mut out)?;
        }
    }
    Ok(out)
}

/// Every history file under `dir`, in name order. Symbolic links to directories are not
/// followed: a results root's `latest` links name runs listed already, and a link loop must not
/// hang a check.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let list = || format!("cannot list directory {}", dir.display());
    let mut entries: Vec<(PathBuf, std::fs::FileType)> = std::fs::read_dir(dir)
        .with_context(list)?
        .map(|e| e.and_then(|e| Ok((e.path(), e.file_type()?))))
        .collect::<Result<_, _>>()
        .with_context(list)?;
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (p, kind) in entries {
        if kind.is_dir() {
            walk(&p, out)?;
        } else if kind.is_symlink() && p.is_dir() {
            tracing::debug!(target: "faultline::check", "not following the link {}", p.display());
        } else if !p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.') || n.ends_with(".md"))
        {
            out.push(p);
        }
    }
    Ok(())
}

/// Why `path` cannot be checked without being opened, if it is not a regular file: opening a
/// named pipe blocks until something writes to it, and a device or socket is no history.
/// Links are followed (a link to a history is fine).
fn not_a_file(path: &Path) -> Option<String> {
    use std::os::unix::fs::FileTypeExt;
    let kind = match std::fs::metadata(path) {
        Ok(meta) => meta.file_type(),
        // Left to the open, which says why it cannot read the path.
        Err(_) => return None,
    };
    let what = if kind.is_file() {
        return None;
    } else if kind.is_fifo() {
        "a named pipe (FIFO)"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else {
        "a special file"
    };
    Some(format!(
        "{} is {what}, not a history file: give a regular file (or a directory of them); \
         to check a stream, write it to a file first",
        path.display()
    ))
}

/// Why a file that parsed to no event at all is bad input: an empty file, a file of comments,
/// or one whose only line is partial (the forgiveness of a partial last line is for a run
/// killed mid-write, not for a file that holds nothing else) is no history, and a CI job
/// given it must not pass.
fn no_events(src: &[u8], history: &parse::History) -> String {
    let what = if src.iter().all(u8::is_ascii_whitespace) {
        "the file is empty".to_string()
    } else if history.warnings.is_empty() {
        format!("the file holds no event ({} history)", history.format)
    } else {
        format!(
            "the file holds no complete event: {}",
            history.warnings.join("; ")
        )
    };
    format!("{what}: there is no history to check")
}

/// What happened to one file.
enum FileOutcome {
    Checked(Box<Checked>),
    BadInput(String),
    /// Not checked, and not the input's fault: reading it passed the memory limit.
    Unknown(String),
}

/// A file that was read and analysed.
struct Checked {
    format: Format,
    analysis: Analysis,
    warnings: Vec<String>,
    /// Reading and parsing the file.
    parse_ms: f64,
    /// Pairing events into operations and splitting them by key (linearizability).
    prepare_ms: f64,
    /// Checking (everything after parsing for checkers other than linearizability).
    check_ms: f64,
}

/// Lets each phase of a check reuse the memory the one before it freed. glibc hands large
/// blocks back to the kernel on free and takes fresh pages for the next one, and on a virtual
/// machine a fresh page costs microseconds: a third of the time of a small check went to them.
/// A check is short-lived, so keeping freed memory in the process costs nothing.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; glibc accepts these values (the mmap
    // threshold's maximum on 64-bit systems is 32 MiB).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
    }
}

/// Checks one file. `last`: nothing runs after it but the report, so its history is left to
/// the process's exit to free (freeing a large one event by event is a tenth of a check).
fn check_file(
    path: &Path,
    args: &CheckArgs,
    limits: &Limits,
    initial: Option<&Val>,
    last: bool,
) -> anyhow::Result<FileOutcome> {
    let t0 = Instant::now();
    if let Some(why) = not_a_file(path) {
        return Ok(FileOutcome::BadInput(why));
    }
    let src = match super::history_file::open(path) {
        Ok(s) => s,
        Err(e) => {
            return Ok(FileOutcome::BadInput(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        }
    };
    let guard = checkers::memory::Guard::new(limits.memory_limit);
    let parsed = parse::parse_with(&src, args.format, &|range| src.release(range), guard);
    let history = match parsed {
        Ok(h) => h,
        Err(e @ checkers::Error::MemoryLimit(_)) => return Ok(FileOutcome::Unknown(e.to_string())),
        Err(e) => return Ok(FileOutcome::BadInput(e.to_string())),
    };
    if history.events.is_empty() {
        return Ok(FileOutcome::BadInput(no_events(&src, &history)));
    }
    drop(src);
    for w in &history.warnings {
        tracing::warn!(target: "faultline::check", "{}: {w}", path.display());
    }
    let parse_ms = t0.elapsed().as_secs_f64() * 1e3;
    // The same checkers `faultline test` gives its workloads' histories; a named model means
    // linearizability under that model.
    let checkers = match args.model {
        Some(_) => vec![Checker::Linearizability],
        None => analysis::for_history(&history),
    };
    let options = Options {
        limits: limits.clone(),
        model: args.model,
        initial: initial.cloned(),
        consistency_model: Some(args.consistency_model.clone()),
        anomalies: args.anomalies.clone(),
    };
    let t1 = Instant::now();
    let (format, warnings) = (history.format, history.warnings.clone());
    let transactional = matches!(
        checkers[..],
        [Checker::ElleListAppend] | [Checker::ElleRwRegister]
    );
    let analysis = if transactional {
        // The transactional checker frees the history once it has read its transactions.
        analysis::analyze_owned(history, &checkers, &options)
    } else {
        let a = analysis::analyze(&history, &checkers, &options);
        if last {
            std::mem::forget(history);
        }
        a
    };
    let analysis = match analysis {
        Ok(a) => a,
        Err(e) => return Ok(FileOutcome::BadInput(e.to_string())),
    };
    let elapsed_ms = t1.elapsed().as_secs_f64() * 1e3;
    let prepare_ms = analysis
        .linearizability()
        .map_or(0.0, |r| r.prepared_in.as_secs_f64() * 1e3);
    let outcome = FileOutcome::Checked(Box::new(Checked {
        format,
        warnings,
        // Every checker's time after preparing, the workloads' invariants included.
        check_ms: elapsed_ms - prepare_ms,
        analysis,
        parse_ms,
        prepare_ms,
    }));
    Ok(outcome)
}

pub fn run(args: CheckArgs) -> anyhow::Result<Validity> {
    keep_freed_memory();
    let files = expand(&args.paths)?;
    if files.is_empty() {
        return Err(bad_input("no history files found in the given directories"));
    }
    let initial = match &args.initial {
        Some(text) => {
            let mut r = parse::edn::Reader::new(text.as_bytes());
            match r.read() {
                Ok(Some(v)) => Some(v),
                Ok(None) => {
                    return Err(bad_input(
                        "--initial is empty: give an EDN value such as 0 or nil",
                    ))
                }
                Err(e) => return Err(bad_input(format!("--initial {text:?}: {e}"))),
            }
        }
        None => None,
    };
    let limits = Limits {
        time_limit: args.time_limit,
        memory_limit: Some(usize::try_from(args.memory_limit).unwrap_or(usize::MAX)),
        threads: args.threads.unwrap_or(Limits::default().threads).max(1),
        // Shrinking gets its own budget, no longer than the time limit when there is one.
        shrink_time: if args.no_counterexample {
            Duration::ZERO
        } else {
            args.time_limit.map_or(Limits::default().shrink_time, |t| {
                t.min(Limits::default().shrink_time)
            })
        },
    };
    let mut code = Validity::Valid;
    let mut bad = false;
    let mut docs = Vec::new();
    for (i, path) in files.iter().enumerate() {
        let last = i + 1 == files.len();
        let outcome = check_file(path, &args, &limits, initial.as_ref(), last)?;
        match &outcome {
            FileOutcome::BadInput(msg) => {
                bad = true;
                if args.json {
                    docs.push(render::bad_input_json(path, msg));
                } else {
                    print!("{}", render::bad_input_text(path, msg));
                }
            }
            FileOutcome::Unknown(why) => {
                code = code.worst(Validity::Unknown);
                if args.json {
                    docs.push(render::unknown_json(path, why));
                } else {
                    print!("{}", render::unknown_text(path, why));
                }
            }
            FileOutcome::Checked(c) => {
                code = code.worst(c.analysis.validity());
                if args.json {
                    docs.push(render::file_json(path, c));
                } else {
                    print!("{}", render::file_text(path, c));
                }
            }
        }
    }
    if args.json {
        let valid = if bad { json!("error") } else { json!(code) };
        // The process's peak resident memory, for comparing with `--memory-limit`.
        let peak_mb = checkers::memory::peak_rss_bytes().map(|b| b >> 20);
        let doc = json!({ "valid": valid, "files": docs, "peak_resident_mb": peak_mb });
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).context("encoding the JSON result")?
        );
    }
    if bad {
        return Err(bad_input(if files.len() == 1 {
            "the history could not be checked (see above)".to_string()
        } else {
            "some histories could not be checked (see above)".to_string()
        }));
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes_parse_with_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
        // A duration past any run is refused, never a panic.
        assert!(parse_duration("10000000000000000000000000").is_err());
        assert_eq!(parse_bytes("4GiB"), Ok(4 << 30));
        assert_eq!(parse_bytes("512MB"), Ok(512_000_000));
        assert!(parse_bytes("lots").is_err());
    }
}
