//! `faultline check`: is a recorded history linearizable? One line per file, a readable
//! counterexample for a violation, `--json` for machines; exit with the worst verdict.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use checkers::parse::{self, Format};
use checkers::set::SetReport;
use checkers::{CheckResult, Counterexample, Limits, ModelKind, Val, Verdict};
use clap::Args;
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
    /// Give up with exit 2 (unknown) after this long: `500ms`, `10s`, `2m`.
    #[arg(long, value_parser = parse_duration)]
    pub time_limit: Option<Duration>,
    /// Give up with exit 2 (unknown) when the search's memo holds this much: `512MB`, `4GiB`.
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

/// `250ms`, `10s`, `2m`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = split_unit(s);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration: write e.g. 500ms, 10s, 2m"))?;
    let secs = match unit {
        "ms" => n / 1e3,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use ms, s, m, h)")),
    };
    if !(secs.is_finite() && secs >= 0.0) {
        return Err(format!("{s:?} is not a positive duration"));
    }
    Ok(Duration::from_secs_f64(secs))
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

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list directory {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot list directory {}", dir.display()))?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out)?;
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

/// What happened to one file.
enum FileOutcome {
    Checked {
        format: Format,
        result: Box<CheckResult>,
        warnings: Vec<String>,
        /// Reading and parsing the file.
        parse_ms: f64,
        /// Pairing events into operations and splitting them by key.
        prepare_ms: f64,
    },
    /// A set workload's history: checked by the set checker, not for linearizability.
    Set {
        format: Format,
        report: Box<SetReport>,
        warnings: Vec<String>,
        parse_ms: f64,
        check_ms: f64,
    },
    BadInput(String),
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
    let src = match super::history_file::open(path) {
        Ok(s) => s,
        Err(e) => {
            return Ok(FileOutcome::BadInput(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        }
    };
    let parsed = match args.format {
        Some(f) => parse::parse(&src, f),
        None => parse::parse_auto(&src),
    };
    let history = match parsed {
        Ok(h) => h,
        Err(e) => return Ok(FileOutcome::BadInput(e.to_string())),
    };
    drop(src);
    for w in &history.warnings {
        tracing::warn!(target: "faultline::check", "{}: {w}", path.display());
    }
    let parse_ms = t0.elapsed().as_secs_f64() * 1e3;
    let t1 = Instant::now();
    if args.model.is_none() && checkers::set::is_set_history(&history) {
        let report = checkers::set::check_history(&history);
        return Ok(FileOutcome::Set {
            format: history.format,
            report: Box::new(report),
            warnings: history.warnings,
            parse_ms,
            check_ms: t1.elapsed().as_secs_f64() * 1e3,
        });
    }
    let (kind, prepared) =
        match checkers::prepare::prepare(&history, args.model, initial, limits.threads) {
            Ok(p) => p,
            Err(e) => return Ok(FileOutcome::BadInput(e.to_string())),
        };
    let prepare_ms = t1.elapsed().as_secs_f64() * 1e3;
    let result = checkers::check_prepared(kind, &prepared, limits);
    let outcome = FileOutcome::Checked {
        format: history.format,
        result: Box::new(result),
        warnings: history.warnings.clone(),
        parse_ms,
        prepare_ms,
    };
    if last {
        std::mem::forget(history);
        std::mem::forget(prepared);
    }
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
            FileOutcome::BadInput(_) => bad = true,
            FileOutcome::Checked { result, .. } => {
                code = code.worst(result.verdict.validity());
            }
            FileOutcome::Set { report, .. } => {
                code = code.worst(report.valid);
            }
        }
        if args.json {
            docs.push(file_json(path, &outcome));
        } else {
            print!("{}", file_text(path, &outcome));
        }
    }
    if args.json {
        let valid = if bad { json!("error") } else { json!(code) };
        let doc = json!({ "valid": valid, "files": docs });
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

fn file_text(path: &Path, outcome: &FileOutcome) -> String {
    match outcome {
        FileOutcome::BadInput(msg) => format!("{}: BAD INPUT: {msg}\n", path.display()),
        FileOutcome::Set {
            format,
            report,
            check_ms,
            ..
        } => {
            let adds: usize = report.keys.values().map(|k| k.attempted).sum();
            let keys = report.keys.len();
            let summary = format!(
                "set, {adds} adds, {keys} key{}, {check_ms:.1} ms",
                if keys == 1 { "" } else { "s" }
            );
            let why = report.reason.as_deref().unwrap_or_default();
            match report.valid {
                Validity::Valid => format!(
                    "{}: valid ({format}, {summary}; {} indeterminate adds read back)\n",
                    path.display(),
                    report.recovered_count
                ),
                Validity::Unknown => {
                    format!("{}: UNKNOWN: {why} ({format}, {summary})\n", path.display())
                }
                Validity::Invalid => {
                    let mut s =
                        format!("{}: INVALID: {why} ({format}, {summary})\n", path.display());
                    let show = |v: &[serde_json::Value]| {
                        let mut items: Vec<String> =
                            v.iter().take(10).map(|e| e.to_string()).collect();
                        if v.len() > 10 {
                            items.push(format!("... {} more", v.len() - 10));
                        }
                        items.join(", ")
                    };
                    for (key, k) in &report.keys {
                        let name = if key.is_empty() {
                            String::new()
                        } else {
                            format!(" on key {key}")
                        };
                        for (what, v) in [
                            ("acknowledged but missing from the final read", &k.lost),
                            ("read but never (or certainly not) added", &k.unexpected),
                            ("read more than once", &k.duplicated),
                        ] {
                            if !v.is_empty() {
                                s.push_str(&format!("  {what}{name}: {}\n", show(v)));
                            }
                        }
                    }
                    s
                }
            }
        }
        FileOutcome::Checked { format, result, .. } => {
            let keys = result.keys.len();
            let summary = format!(
                "{} {} ops, {} key{}, {:.1} ms",
                result.model,
                result.ops,
                keys,
                if keys == 1 { "" } else { "s" },
                result.elapsed.as_secs_f64() * 1e3
            );
            match &result.verdict {
                Verdict::Valid => format!("{}: valid ({format}, {summary})\n", path.display()),
                Verdict::Unknown(why) => {
                    format!("{}: UNKNOWN: {why} ({format}, {summary})\n", path.display())
                }
                Verdict::Invalid(cx) => format!(
                    "{}: INVALID ({format}, {summary})\n{}",
                    path.display(),
                    counterexample_text(cx)
                ),
            }
        }
    }
}

/// The counterexample block, indented under the file's line.
pub fn counterexample_text(cx: &Counterexample) -> String {
    let mut s = String::new();
    let key = cx
        .key
        .as_ref()
        .map(|k| format!(" on key {k}"))
        .unwrap_or_default();
    if cx.ops.is_empty() {
        return format!("  not linearizable{key} ({})\n", cx.explanation);
    }
    s.push_str(&format!(
        "  not linearizable{key}: these {} operations admit no legal order{}:\n",
        cx.ops.len(),
        if cx.minimal {
            ""
        } else {
            " (shrinking stopped at its time budget)"
        }
    ));
    for op in &cx.ops {
        let p = op
            .process
            .map_or_else(|| "?".to_string(), |p| format!("p{p}"));
        let when = |idx: Option<u64>, t: Option<u64>| match (idx, t) {
            (Some(i), Some(t)) => format!("#{i} @{:.3}s", t as f64 / 1e9),
            (Some(i), None) => format!("#{i}"),
            (None, Some(t)) => format!("@{:.3}s", t as f64 / 1e9),
            (None, None) => "-".into(),
        };
        let done = match op.outcome.as_str() {
            "ok" | "fail" => when(op.complete_index, op.complete_time),
            other => format!("never ({other})"),
        };
        let line = op.line.map(|l| format!("  line {l}")).unwrap_or_default();
        s.push_str(&format!(
            "    {p:>5}  invoked {:<18} completed {:<18} {:<24} {}{line}\n",
            when(op.invoke_index, op.invoke_time),
            done,
            op.op,
            op.outcome
        ));
    }
    s.push_str(&format!("  why: {}\n", cx.explanation));
    s
}

fn file_json(path: &Path, outcome: &FileOutcome) -> serde_json::Value {
    match outcome {
        FileOutcome::BadInput(msg) => json!({
            "path": path.display().to_string(),
            "valid": "error",
            "error": msg,
        }),
        FileOutcome::Set {
            format,
            report,
            warnings,
            parse_ms,
            check_ms,
        } => json!({
            "path": path.display().to_string(),
            "format": format.name(),
            "model": "set",
            "valid": json!(report.valid),
            "reason": report.reason,
            "set": report,
            "warnings": warnings,
            "timings": { "parse_ms": parse_ms, "check_ms": check_ms },
        }),
        FileOutcome::Checked {
            format,
            result,
            warnings,
            parse_ms,
            prepare_ms,
        } => {
            let valid = match &result.verdict {
                Verdict::Valid => json!(true),
                Verdict::Invalid(_) => json!(false),
                Verdict::Unknown(_) => json!("unknown"),
            };
            let keys: Vec<serde_json::Value> = result
                .keys
                .iter()
                .map(|k| {
                    let mut v = serde_json::to_value(k).unwrap_or_default();
                    if let Some(o) = v.as_object_mut() {
                        let valid = json!(k.valid);
                        o.insert("valid".into(), valid);
                    }
                    v
                })
                .collect();
            json!({
                "path": path.display().to_string(),
                "format": format.name(),
                "model": result.model.name(),
                "valid": valid,
                "reason": match &result.verdict { Verdict::Unknown(r) => json!(r), _ => json!(null) },
                "ops": result.ops,
                "keys": keys,
                "counterexample": match &result.verdict {
                    Verdict::Invalid(cx) => serde_json::to_value(cx).unwrap_or_default(),
                    _ => json!(null),
                },
                "warnings": warnings,
                "timings": {
                    "parse_ms": parse_ms,
                    "prepare_ms": prepare_ms,
                    "check_ms": result.elapsed.as_secs_f64() * 1e3,
                },
            })
        }
    }
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
        assert_eq!(parse_bytes("4GiB"), Ok(4 << 30));
        assert_eq!(parse_bytes("512MB"), Ok(512_000_000));
        assert!(parse_bytes("lots").is_err());
    }
}
