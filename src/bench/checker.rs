//! `faultline bench` (the default) / `faultline bench checker`: times `faultline check` on the
//! corpora and on generated histories, each case in a child process so that its memory is the
//! child's own peak RSS (from `wait4`), and prints a table against the targets.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Context;
use checkers::gen::GenConfig;
use clap::Args;

use crate::exit::{bad_input, Validity};

#[derive(Debug, Args)]
pub struct CheckerBenchArgs {
    /// The test corpora (tests/data of the repository).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Where generated histories go (default: a directory under the system's temp dir).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Skip the 1,000,000-operation case (it takes a while to generate).
    #[arg(long)]
    pub quick: bool,
    /// Runs per case; the table shows the median wall time and the largest peak RSS.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Also the 10,000,000-operation unique-values history over 10,000 keys (a 2.5 GB file;
    /// generating it takes minutes).
    #[arg(long)]
    pub huge: bool,
    /// Also the genhist table: `--procs P --ops 10000` for P in 10..200, with and without
    /// `--stale 0.01`, `--info 0` and `0.1` at 50 processes, and 100,000 ops at 10 processes
    /// (each under `--time-limit 10s`).
    #[arg(long)]
    pub table: bool,
}

/// `faultline bench` with no subcommand: the same defaults as the command line's.
impl Default for CheckerBenchArgs {
    fn default() -> Self {
        CheckerBenchArgs {
            data: None,
            work_dir: None,
            quick: false,
            runs: 5,
            huge: false,
            table: false,
        }
    }
}

/// One timed run of `faultline check`.
pub(super) struct Case {
    name: String,
    args: Vec<String>,
    /// Wall-time and memory targets, and the exit code expected.
    max_ms: Option<f64>,
    max_mb: Option<f64>,
    expect_exit: i32,
    target: String,
    /// Judge the time inside the checker (parse + check) rather than the process's wall time:
    /// for anchors that are Porcupine's own in-process test timings.
    in_process: bool,
    /// Transactional anomalies the check must report (the planted ones).
    pub(super) expect_anomalies: Vec<String>,
    /// Any verdict will do (valid or invalid, exit 0 or 1): for histories whose verdict no
    /// construction fixes (genhist's stale reads over five values).
    any_verdict: bool,
}

struct Measured {
    exit: i32,
    wall_ms: f64,
    /// User + system CPU time: less disturbed than wall time when other processes share the cores.
    cpu_ms: f64,
    rss_mb: f64,
    ops: u64,
    verdict: String,
    /// Parse + prepare + check as the child timed them itself (no process start-up).
    inproc_ms: f64,
    /// The transactional anomalies reported, by name.
    anomalies: Vec<String>,
}

pub fn run(args: CheckerBenchArgs) -> anyhow::Result<Validity> {
    let data = match args.data {
        Some(d) => d,
        None => [
            "tests/data",
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data"),
        ]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("verdicts.tsv").is_file())
        .ok_or_else(|| {
            bad_input("cannot find tests/data: run from the repository or pass --data")
        })?,
    };
    let work = args
        .work_dir
        .unwrap_or_else(|| std::env::temp_dir().join("faultline-bench"));
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let mut cases = Vec::new();
    let mut notes = Vec::new();

    // Porcupine's corpus holds one empty log (etcd_095.log: "etcd cluster failed to start up
    // in test 95"), which its own test skips; `check` refuses an empty file as bad input, and
    // with it in the batch the row's verdict was "error", not the corpus' verdict.
    let etcd: Vec<String> = sorted_files(&data.join("porcupine/jepsen"))?
        .into_iter()
        .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 0))
        .collect();
    cases.push(case(
        &format!("etcd logs ({} files, one process)", etcd.len()),
        etcd,
        Some(70.0),
        None,
        1,
        "< 70 ms (Porcupine ~740 ms)",
    ));
    for (name, ms, exit, porc) in [("c50-ok", 14.0, 0, "140"), ("c50-bad", 3.0, 1, "26")] {
        let mut c = case(
            &format!("kv {name}"),
            vec![path_str(&data.join(format!("porcupine/kv/{name}.txt")))],
            Some(ms),
            None,
            exit,
            &format!("< {ms} ms in-process (Porcupine's test ~{porc} ms)"),
        );
        c.in_process = true;
        cases.push(c);
    }
    // What any check costs before it reads a byte: process start-up, with a two-line history.
    let floor = work.join("two-lines.txt");
    std::fs::write(
        &floor,
        "{:process 0, :type :invoke, :f :get, :key \"k\", :value nil}\n\
         {:process 0, :type :ok, :f :get, :key \"k\", :value \"\"}\n",
    )
    .with_context(|| format!("cannot write {}", floor.display()))?;
    cases.push(case(
        "start-up floor (a two-line kv history)",
        vec![path_str(&floor)],
        None,
        None,
        0,
        "(reference)",
    ));

    match genhist(&work) {
        Some((p20, p50)) => {
            cases.push(case(
                "genhist --procs 20 --ops 10000 --info 0.02",
                vec![p20],
                Some(1000.0),
                Some(200.0),
                0,
                "< 1 s, < 200 MB (Porcupine 19 s, 3 GB)",
            ));
            cases.push(case(
                "genhist --procs 50 --ops 1000 --info 0.02",
                vec![p50],
                Some(5000.0),
                None,
                0,
                "< 5 s (Porcupine: none in 60 s)",
            ));
        }
        None => notes.push(
            "genhist cases skipped: no ../shared/tools/genhist.py or /work/shared/tools/genhist.py (or no python3)"
                .to_string(),
        ),
    }

    let own = [
        (
            "gen 20 procs, 10k ops, 2% crashed",
            GenConfig {
                procs: 20,
                ops: 10_000,
                ..GenConfig::default()
            },
            0,
        ),
        (
            "gen 50 procs, 10k ops, 5% crashed",
            GenConfig {
                procs: 50,
                ops: 10_000,
                crash_rate: 0.05,
                ..GenConfig::default()
            },
            0,
        ),
        (
            "gen 10k ops, unique values, stale reads",
            GenConfig {
                ops: 10_000,
                values: None,
                stale_rate: 0.01,
                ..GenConfig::default()
            },
            1,
        ),
        (
            // Unique values, 30% crashed: the search alone finds no verdict in 60 s (12 GiB);
            // the unique-values path decides it at once.
            "gen 100 procs, 5k ops, 30% crashed, unique values",
            GenConfig {
                procs: 100,
                ops: 5_000,
                crash_rate: 0.3,
                values: None,
                stale_rate: 0.001,
                seed: 2,
                ..GenConfig::default()
            },
            0,
        ),
        (
            // Five values at 100 processes: no verdict in 256 MB while candidates were tried
            // in call order; tens of milliseconds in the deadline order.
            "gen 100 procs, 10k ops, 5% crashed, 5 values",
            GenConfig {
                procs: 100,
                ops: 10_000,
                crash_rate: 0.05,
                seed: 1,
                ..GenConfig::default()
            },
            0,
        ),
    ];
    for (name, cfg, exit) in own {
        let p = generated(&work, &cfg)?;
        cases.push(case(
            name,
            vec![p],
            None,
            None,
            exit,
            "verdict as constructed",
        ));
    }
    // Unique values (every write and cas writes a fresh value): the polynomial path.
    for procs in [100, 1000, 10_000] {
        for stale in [false, true] {
            let cfg = GenConfig {
                procs,
                ops: 100_000,
                crash_rate: 0.05,
                values: None,
                stale_rate: if stale { 0.0002 } else { 0.0 },
                seed: 3,
                ..GenConfig::default()
            };
            let name = format!(
                "unique, 1 key, 100k ops, {procs} procs, 5% crashed{}",
                if stale { ", stale reads" } else { "" }
            );
            let (max_ms, max_mb, target) = if procs == 1000 {
                (Some(1000.0), Some(500.0), "< 1 s, < 500 MB, ")
            } else {
                (None, None, "")
            };
            let exit = i32::from(stale);
            cases.push(case(
                &name,
                vec![generated(&work, &cfg)?],
                max_ms,
                max_mb,
                exit,
                &format!("{target}{}", if stale { "invalid" } else { "valid" }),
            ));
        }
    }
    if args.huge {
        let cfg = GenConfig {
            procs: 1000,
            ops: 10_000_000,
            keys: 10_000,
            values: None,
            ..GenConfig::default()
        };
        cases.push(case(
            "unique, 10,000,000 ops over 10,000 keys",
            vec![generated(&work, &cfg)?],
            Some(30_000.0),
            Some(4096.0),
            0,
            "< 30 s, < 4 GiB",
        ));
    }
    if args.table {
        match genhist_table(&work) {
            Some(rows) => {
                for (name, path, honest) in rows {
                    let mut c = case(
                        &name,
                        vec!["--time-limit".into(), "10s".into(), path.clone()],
                        Some(10_000.0),
                        None,
                        0,
                        if honest {
                            "< 10 s, valid"
                        } else {
                            "< 10 s, a verdict"
                        },
                    );
                    c.any_verdict = !honest;
                    cases.push(c);
                    if name == "genhist --procs 10 --ops 100000 --stale 0.01" {
                        // Still past what the search decides: the memory limit must stop it,
                        // and hold ("256MB" is 256e6 bytes).
                        cases.push(case(
                            &format!("{name}, --memory-limit 256MB"),
                            vec!["--memory-limit".into(), "256MB".into(), path],
                            None,
                            Some(256e6 / f64::from(1 << 20)),
                            2,
                            "exit 2 (memory limit 256MB), peak RSS under it",
                        ));
                    }
                }
            }
            None => notes.push("genhist table skipped: no genhist.py (or no python3)".into()),
        }
    }
    if !args.quick {
        let cfg = GenConfig {
            procs: 100,
            ops: 1_000_000,
            keys: 1000,
            ..GenConfig::default()
        };
        cases.push(case(
            "gen 1,000,000 ops over 1,000 keys",
            vec![generated(&work, &cfg)?],
            Some(10_000.0),
            Some(2048.0),
            0,
            "< 10 s, < 2 GiB",
        ));
    }

    let all_met = run_cases(&cases, args.runs)?;
    for n in notes {
        println!("note: {n}");
    }
    Ok(if all_met {
        Validity::Valid
    } else {
        Validity::Invalid
    })
}

/// Runs each case `runs` times and prints the table; whether every case met its target.
pub(super) fn run_cases(cases: &[Case], runs: usize) -> anyhow::Result<bool> {
    let exe = std::env::current_exe().context("cannot find the faultline executable")?;
    println!(
        "{:<50} {:>9} {:>8} {:>10} {:>9} {:>9} {:>9}  {:<5} target",
        "case", "ops", "verdict", "wall ms", "in-proc", "CPU ms", "RSS MB", "met"
    );
    let mut all_met = true;
    for c in cases {
        let mut all = Vec::new();
        for _ in 0..runs.max(1) {
            all.push(measure(&exe, &c.args)?);
        }
        all.sort_by(|a, b| a.wall_ms.total_cmp(&b.wall_ms));
        let rss = all.iter().map(|m| m.rss_mb).fold(0.0, f64::max);
        let mut m = all.swap_remove(all.len() / 2);
        m.rss_mb = rss;
        let judged = if c.in_process { m.inproc_ms } else { m.wall_ms };
        let exit_ok = if c.any_verdict {
            m.exit == 0 || m.exit == 1
        } else {
            m.exit == c.expect_exit
        };
        let met = exit_ok
            && c.max_ms.is_none_or(|t| judged <= t)
            && c.max_mb.is_none_or(|t| m.rss_mb <= t)
            && c.expect_anomalies.iter().all(|a| m.anomalies.contains(a));
        all_met &= met;
        println!(
            "{:<50} {:>9} {:>8} {:>10.1} {:>9.1} {:>9.1} {:>9.1}  {:<5} {}",
            c.name,
            m.ops,
            m.verdict,
            m.wall_ms,
            m.inproc_ms,
            m.cpu_ms,
            m.rss_mb,
            if met { "yes" } else { "NO" },
            c.target
        );
    }
    println!(
        "(each run is one `faultline check --json --no-counterexample` child process; wall time \
         is the median of {} runs and includes start-up and parsing; in-proc is that run's parse, \
         prepare and check as it timed them itself; CPU is its user+system time (all threads); RSS is the \
         largest peak; `met` judges wall time, or in-proc where the target says so)",
        runs.max(1)
    );
    Ok(all_met)
}

pub(super) fn case(
    name: &str,
    paths: Vec<String>,
    max_ms: Option<f64>,
    max_mb: Option<f64>,
    expect_exit: i32,
    target: &str,
) -> Case {
    Case {
        name: name.to_string(),
        args: paths,
        max_ms,
        max_mb,
        expect_exit,
        target: target.to_string(),
        in_process: false,
        expect_anomalies: Vec::new(),
        any_verdict: false,
    }
}

pub(super) fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn sorted_files(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .map(|p| path_str(&p))
        .collect();
    v.sort();
    Ok(v)
}

/// The genhist.py script, when the shared tools are there.
fn genhist_script() -> Option<PathBuf> {
    [
        "../shared/tools/genhist.py",
        "/work/shared/tools/genhist.py",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

/// Generates (once) and names the genhist table's histories: (row, path, honest).
fn genhist_table(work: &Path) -> Option<Vec<(String, String, bool)>> {
    let script = genhist_script()?;
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let args = |procs: u32, ops: u32, info: &str, stale: bool| {
        let mut a = vec![
            "--keys".to_string(),
            "1".into(),
            "--seed".into(),
            "1".into(),
            "--info".into(),
            info.into(),
            "--procs".into(),
            procs.to_string(),
            "--ops".into(),
            ops.to_string(),
        ];
        if stale {
            a.extend(["--stale".into(), "0.01".into()]);
        }
        a
    };
    for procs in [10, 20, 30, 40, 50, 100, 200] {
        for stale in [false, true] {
            rows.push((
                format!(
                    "genhist --procs {procs} --ops 10000{}",
                    if stale { " --stale 0.01" } else { "" }
                ),
                args(procs, 10_000, "0.02", stale),
            ));
        }
    }
    for info in ["0", "0.1"] {
        rows.push((
            format!("genhist --procs 50 --ops 10000 --info {info}"),
            args(50, 10_000, info, false),
        ));
    }
    for stale in [false, true] {
        rows.push((
            format!(
                "genhist --procs 10 --ops 100000{}",
                if stale { " --stale 0.01" } else { "" }
            ),
            args(10, 100_000, "0.02", stale),
        ));
    }
    let mut out = Vec::new();
    for (name, a) in rows {
        let file = format!("genhist-{}.edn", a.join("").replace("--", "-"));
        let p = work.join(file);
        if !p.is_file() {
            let ok = Command::new("python3")
                .arg(&script)
                .arg(&p)
                .args(&a)
                .status()
                .ok()?
                .success();
            if !ok {
                return None;
            }
        }
        let honest = !a.iter().any(|x| x == "--stale");
        out.push((name, path_str(&p), honest));
    }
    Some(out)
}

/// Generates the two genhist.py files (once) when the shared tools are there.
fn genhist(work: &Path) -> Option<(String, String)> {
    let script = genhist_script()?;
    let mut out = Vec::new();
    for (name, procs, ops) in [
        ("genhist-p20-o10000.edn", "20", "10000"),
        ("genhist-p50-o1000.edn", "50", "1000"),
    ] {
        let p = work.join(name);
        if !p.is_file() {
            let ok = Command::new("python3")
                .arg(&script)
                .arg(&p)
                .args([
                    "--procs", procs, "--ops", ops, "--info", "0.02", "--seed", "1",
                ])
                .status()
                .ok()?
                .success();
            if !ok {
                return None;
            }
        }
        out.push(path_str(&p));
    }
    Some((out[0].clone(), out[1].clone()))
}

/// Writes a generated history (once per configuration) and returns its path. A child
/// `faultline gen-history` does it: Linux carries a process's peak RSS into the children it
/// forks, so the bench process itself must stay small for the children's figures to be theirs.
fn generated(work: &Path, cfg: &GenConfig) -> anyhow::Result<String> {
    let name = format!(
        "gen-s{}-p{}-o{}-k{}-c{}-v{}-st{}.jsonl",
        cfg.seed,
        cfg.procs,
        cfg.ops,
        cfg.keys,
        cfg.crash_rate,
        cfg.values.unwrap_or(0),
        cfg.stale_rate
    );
    let p = work.join(name);
    if !p.is_file() {
        let t = Instant::now();
        let tmp = p.with_extension("tmp");
        let exe = std::env::current_exe().context("cannot find the faultline executable")?;
        let mut cmd = Command::new(exe);
        cmd.arg("gen-history")
            .arg(&tmp)
            .args(["--seed", &cfg.seed.to_string()])
            .args(["--procs", &cfg.procs.to_string()])
            .args(["--ops", &cfg.ops.to_string()])
            .args(["--keys", &cfg.keys.to_string()])
            .args(["--crash", &cfg.crash_rate.to_string()])
            .args(["--fail", &cfg.fail_rate.to_string()])
            .args(["--values", &cfg.values.unwrap_or(0).to_string()])
            .args(["--stale", &cfg.stale_rate.to_string()]);
        if !cfg.cas {
            cmd.arg("--no-cas");
        }
        let status = cmd.status().context("cannot run faultline gen-history")?;
        if !status.success() {
            anyhow::bail!("faultline gen-history for {} failed: {status}", p.display());
        }
        std::fs::rename(&tmp, &p)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), p.display()))?;
        tracing::info!(target: "faultline::bench", "generated {} in {:.1} s", p.display(), t.elapsed().as_secs_f64());
    }
    Ok(path_str(&p))
}

/// Runs `faultline check --json --no-counterexample ARGS` and measures it.
fn measure(exe: &Path, args: &[String]) -> anyhow::Result<Measured> {
    let start = Instant::now();
    let child = Command::new(exe)
        .args(["check", "--json", "--no-counterexample"])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", exe.display()))?;
    let pid = child.id() as libc::pid_t;
    let mut stdout = child.stdout.context("child stdout")?;
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut stdout, &mut out).context("reading the child's output")?;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our child, not yet reaped (we never call `Child::wait`); the pointers
    // are to live locals.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall_ms = start.elapsed().as_secs_f64() * 1e3;
    if r != pid {
        anyhow::bail!(
            "wait4 on the checker process failed: {}",
            std::io::Error::last_os_error()
        );
    }
    let exit = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap_or_default();
    let files = doc["files"].as_array().cloned().unwrap_or_default();
    // Transactional histories count transactions.
    let ops = files
        .iter()
        .filter_map(|f| f["ops"].as_u64().or_else(|| f["elle"]["txns"].as_u64()))
        .sum();
    let inproc_ms = files
        .iter()
        .map(|f| {
            let t = &f["timings"];
            ["parse_ms", "prepare_ms", "check_ms"]
                .iter()
                .map(|k| t[k].as_f64().unwrap_or(0.0))
                .sum::<f64>()
        })
        .sum();
    let anomalies = files
        .iter()
        .filter_map(|f| f["elle"]["counts"].as_object())
        .flat_map(|c| c.keys().cloned())
        .collect();
    let verdict = match &doc["valid"] {
        serde_json::Value::Bool(true) => "valid",
        serde_json::Value::Bool(false) => "invalid",
        serde_json::Value::String(s) if s == "unknown" => "unknown",
        _ => "error",
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 / 1e3;
    Ok(Measured {
        exit,
        wall_ms,
        cpu_ms: tv(usage.ru_utime) + tv(usage.ru_stime),
        // Linux reports ru_maxrss in KiB.
        rss_mb: usage.ru_maxrss as f64 / 1024.0,
        ops,
        verdict: verdict.to_string(),
        inproc_ms,
        anomalies,
    })
}
