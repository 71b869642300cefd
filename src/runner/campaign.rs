//! The campaign file: one YAML document that says everything a run needs. Every field but the
//! workload has a default; unknown keys are errors. `validate` turns it into a [`super::plan::Plan`].

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::duration::Dur;
use crate::exit::bad_input;

/// A campaign as written (and as saved next to its results, with the seed filled in).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    /// Names the results directory; defaults to the file's name without `.yaml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Seeds the fault schedule and every process's operations; random when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// What is tested: faultline's own node (the default) or etcd.
    #[serde(default, skip_serializing_if = "SystemSection::is_default")]
    pub system: SystemSection,
    #[serde(default)]
    pub cluster: ClusterSection,
    pub workload: WorkloadSection,
    /// Client processes running at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// Total operations per second over all clients; 0 = as fast as they go.
    #[serde(default)]
    pub rate: u32,
    /// How long the clients and the nemesis run.
    #[serde(default = "default_duration")]
    pub duration: Dur,
    /// Stop after this many operations (0 = only the duration limits the run).
    #[serde(default)]
    pub ops: u64,
    #[serde(default)]
    pub nemesis: NemesisSection,
    /// Healthy time after the final heal, before the final reads.
    #[serde(default = "default_quiet")]
    pub quiet: Dur,
    #[serde(default)]
    pub client: ClientSection,
    #[serde(default)]
    pub checker: CheckerSection,
    /// Results go to `<out>/<name>/<timestamp>/`.
    #[serde(default = "default_out")]
    pub out: PathBuf,
}

/// The system under test as written; `validate` turns it into a [`crate::system::SystemSpec`]
/// (so an unknown kind is reported at its line, like an unknown workload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemSection {
    /// `faultline` (the default) or `etcd`.
    pub kind: String,
    /// etcd: `linearizable` (the default) or `serializable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reads: Option<crate::system::etcd::Reads>,
    /// http: the image the nodes run (it must be in the local Docker, unless `build` makes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// http: a directory with a Dockerfile (relative to the campaign file), built through the
    /// Docker API before each run and tagged `image` (default `faultline/http-<campaign>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<std::path::PathBuf>,
    /// http: replaces the image's entrypoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// http: each node's command, with `{id}`, `{name}`, `{ip}`, `{port}`, `{data_dir}`,
    /// `{peers}`, `{cluster}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// http: one member of `{peers}`, with `{id}`, `{name}`, `{ip}`, `{port}` (default
    /// `{id}={ip}:{port}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// http: between members of `{peers}` (default `,`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_separator: Option<String>,
    /// http: the port clients reach each node on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// http: where each node's volume is mounted (default `/data`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<String>,
    /// http: extra environment, `NAME=value`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// http: what marks a panic or fatal error in a node's log (default: Rust's and Go's panic
    /// lines, `panicked at`, `panic:` and `fatal error:`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub crash_markers: Vec<String>,
    /// http: how to ask a node whom it follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<crate::system::http::LeaderSpec>,
    /// http: the register workload's requests and how to read their answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operations: Option<crate::system::http::Operations>,
}

impl Default for SystemSection {
    fn default() -> Self {
        SystemSection {
            kind: "faultline".into(),
            reads: None,
            image: None,
            build: None,
            entrypoint: None,
            command: None,
            peer: None,
            peer_separator: None,
            port: None,
            crash_markers: Vec::new(),
            data_dir: None,
            env: Vec::new(),
            leader: None,
            operations: None,
        }
    }
}

impl SystemSection {
    fn is_default(&self) -> bool {
        *self == SystemSection::default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    /// Cluster name (container and network prefix); defaults to the campaign's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default = "default_nodes")]
    pub nodes: u32,
    /// Planted bugs every node runs with (`faultline node --unsafe-bug NAME`), to prove the
    /// harness catches them; empty (the default) runs the correct node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unsafe_bugs: Vec<String>,
    /// faultline's node builds a snapshot (and purges its log before it) every this many
    /// applied entries (`--snapshot-every`; default 5000): short, so that a node that joins
    /// empty catches up from a snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_every: Option<u64>,
    /// Log entries kept behind a snapshot (`--snapshot-keep`; default 1000); 0 sends every
    /// joining node a snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_keep: Option<u64>,
}

impl Default for ClusterSection {
    fn default() -> Self {
        ClusterSection {
            name: None,
            nodes: default_nodes(),
            unsafe_bugs: Vec::new(),
            snapshot_every: None,
            snapshot_keep: None,
        }
    }
}

/// The workload and its settings; which settings apply depends on `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSection {
    /// `register`, `set` or `list-append`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<u32>,
    /// Relative weights (register: read/write/cas; list-append: read/append).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cas: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub append: Option<u32>,
    /// list-append: micro-operations per transaction, at most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_txn_len: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NemesisSection {
    /// Faults drawn at random for generated windows, each `{kill|pause: TARGET}`,
    /// `{partition: PATTERN}`, or a link fault (`loss`, `slow`, `delay`).
    #[serde(default = "default_faults")]
    pub faults: Vec<FaultEntry>,
    /// Mean healthy gap before each generated window.
    #[serde(default = "default_interval")]
    pub interval: Dur,
    /// Length of each generated window.
    #[serde(default = "default_fault_duration")]
    pub duration: Dur,
    /// Explicit timed faults; when given, no windows are generated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedule: Vec<TimedFault>,
    /// Modes the run must cover (apply and observe at least once) besides every kind listed:
    /// `kill-leader`, `partition-leader-minority`, `partition-halves`, ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub require: Vec<String>,
}

impl Default for NemesisSection {
    fn default() -> Self {
        NemesisSection {
            faults: default_faults(),
            interval: default_interval(),
            duration: default_fault_duration(),
            schedule: Vec::new(),
            require: Vec::new(),
        }
    }
}

/// One fault: exactly one of the fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// `{pattern: halves, percent: 30}`: drop that share of the packets on the links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<LossEntry>,
    /// `{pattern: halves, rate: 1mbit}`: limit the links' bandwidth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow: Option<SlowEntry>,
    /// `{pattern: all, ms: 100, jitter_ms: 20}`: delay the links' packets (needs netem).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<DelayEntry>,
    /// `{target: leader, offset: +30s}`, `{target: leader, rate: 0.5}`: move the targets' clocks,
    /// or make them run fast or slow (faultline's node only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<ClockEntry>,
    /// `random-node`: take the target out of the Raft configuration for the window, then add it
    /// back (faultline's node only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove: Option<String>,
    /// `random-node`: replace the target by a new node with an empty volume that joins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace: Option<String>,
}

/// A clock fault as written: a target and a signed whole number of seconds, minutes or hours,
/// or a rate, or both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockEntry {
    pub target: String,
    /// `+30s`, `-2m`, `1h` (a bare duration moves the clock ahead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<String>,
    /// How fast the clock runs from then on: `1.5` fast, `0.5` slow (0.1 to 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Back and forth between the offset and real time every this long (at least 2s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strobe: Option<Dur>,
}

/// A lossy-links fault as written; `pattern` defaults to `all`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LossEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Share of packets dropped, more than 0 and at most 100.
    pub percent: f64,
}

/// A slow-links fault as written; `pattern` defaults to `all`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlowEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// `1mbit`, `500kbit`, ...
    pub rate: String,
}

/// A delayed-links fault as written; `pattern` defaults to `all`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelayEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    pub ms: u32,
    #[serde(default)]
    pub jitter_ms: u32,
}

/// A fault at a fixed offset from the start of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimedFault {
    pub at: Dur,
    pub duration: Dur,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<LossEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow: Option<SlowEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<DelayEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<ClockEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace: Option<String>,
}

impl TimedFault {
    /// The fault itself, without its timing.
    pub fn entry(&self) -> FaultEntry {
        FaultEntry {
            kill: self.kill.clone(),
            pause: self.pause.clone(),
            partition: self.partition.clone(),
            loss: self.loss.clone(),
            slow: self.slow.clone(),
            delay: self.delay.clone(),
            clock: self.clock.clone(),
            remove: self.remove.clone(),
            replace: self.replace.clone(),
        }
    }
}

impl FaultEntry {
    /// The kinds given (exactly one in a valid entry), as recorded in coverage.
    pub fn kinds(&self) -> Vec<&'static str> {
        [
            ("kill", self.kill.is_some()),
            ("pause", self.pause.is_some()),
            ("partition", self.partition.is_some()),
            ("loss", self.loss.is_some()),
            ("slow", self.slow.is_some()),
            ("delay", self.delay.is_some()),
            ("clock", self.clock.is_some()),
            ("remove", self.remove.is_some()),
            ("replace", self.replace.is_some()),
        ]
        .into_iter()
        .filter(|(_, on)| *on)
        .map(|(k, _)| k)
        .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSection {
    /// Per-request timeout; a request that times out is recorded as `info`.
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
}

impl Default for ClientSection {
    fn default() -> Self {
        ClientSection {
            timeout: default_timeout(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckerSection {
    /// Past this the checker answers `unknown`.
    #[serde(default = "default_time_limit")]
    pub time_limit: Dur,
    #[serde(default = "default_memory_mb")]
    pub memory_limit_mb: u64,
    /// The crash checker: a node that exits by itself, or a panic or fatal line in a node's
    /// log, makes the run invalid. On by default.
    #[serde(default = "default_true")]
    pub crash: bool,
    /// Check for linearizability while the run goes (register workloads; see
    /// `runner::online`). On by default.
    #[serde(default = "default_true")]
    pub online: bool,
    /// End the run (healed, results written) once the online check finds a violation.
    #[serde(default)]
    pub stop_on_violation: bool,
}

impl Default for CheckerSection {
    fn default() -> Self {
        CheckerSection {
            time_limit: default_time_limit(),
            memory_limit_mb: default_memory_mb(),
            crash: true,
            online: true,
            stop_on_violation: false,
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_concurrency() -> u32 {
    5
}
fn default_nodes() -> u32 {
    3
}
fn default_duration() -> Dur {
    Dur(std::time::Duration::from_secs(30))
}
fn default_quiet() -> Dur {
    Dur(std::time::Duration::from_secs(3))
}
fn default_interval() -> Dur {
    Dur(std::time::Duration::from_secs(5))
}
fn default_fault_duration() -> Dur {
    Dur(std::time::Duration::from_secs(5))
}
fn default_timeout() -> Dur {
    Dur(std::time::Duration::from_secs(2))
}
fn default_time_limit() -> Dur {
    Dur(std::time::Duration::from_secs(60))
}
fn default_memory_mb() -> u64 {
    4096
}
fn default_out() -> PathBuf {
    PathBuf::from("results")
}
fn default_faults() -> Vec<FaultEntry> {
    vec![
        FaultEntry {
            kill: Some("random-node".into()),
            ..FaultEntry::default()
        },
        FaultEntry {
            partition: Some("halves".into()),
            ..FaultEntry::default()
        },
    ]
}

/// Reads and parses a campaign file. Syntax and type errors are bad input naming the file,
/// line, column and field (serde_yaml's path and location).
pub fn load(path: &Path) -> anyhow::Result<(Campaign, String)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading campaign {}", path.display()))
        .map_err(|e| bad_input(format!("{e:#}")))?;
    let campaign = parse(&text, path)?;
    Ok((campaign, text))
}

/// Parses campaign text; `path` only names the file in errors.
pub fn parse(text: &str, path: &Path) -> anyhow::Result<Campaign> {
    serde_yaml::from_str(text).map_err(|e| {
        let message = e.to_string();
        // serde_yaml appends " at line L column C"; we lead with it instead, compiler-style.
        let message = match message.rsplit_once(" at line ") {
            Some((head, _)) if e.location().is_some() => head.to_string(),
            _ => message,
        };
        match (e.location(), second_document(text)) {
            (Some(loc), _) => bad_input(format!(
                "{}:{}:{}: {message}",
                path.display(),
                loc.line(),
                loc.column()
            )),
            // serde_yaml says only that there is more than one document, not where.
            (None, Some(line)) if message.contains("more than one document") => bad_input(format!(
                "{}:{line}:1: a second YAML document starts here; a campaign is one \
                     document (remove this `---` or `...`, or what follows it)",
                path.display()
            )),
            (None, _) => bad_input(format!("{}: {message}", path.display())),
        }
    })
}

/// The line where a second YAML document starts, if one does: a `---` or a directive after
/// content or after a `...`, or content after a `...` (which ended the first).
fn second_document(text: &str) -> Option<usize> {
    let (mut content, mut ended) = (false, false);
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_end();
        let start = t == "---" || t.starts_with("--- ") || t.starts_with("---\t");
        let end = t == "..." || t.starts_with("... ") || t.starts_with("...\t");
        let blank = t.trim_start().is_empty() || t.trim_start().starts_with('#');
        if start || end {
            if content && start || ended {
                return Some(i + 1);
            }
            ended |= end;
            content |= t.len() > 3 && !t[3..].trim_start().starts_with('#');
        } else if !blank {
            // A directive (`%YAML`) after content begins the next document too.
            if ended || content && t.starts_with('%') {
                return Some(i + 1);
            }
            content |= !t.starts_with('%');
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::{code_for, BAD_INPUT};

    fn err(text: &str) -> String {
        let e = parse(text, Path::new("c.yaml")).unwrap_err();
        assert_eq!(code_for(&e), BAD_INPUT);
        e.to_string()
    }

    #[test]
    fn only_the_workload_is_required() {
        let c = parse("workload: {kind: register}\n", Path::new("c.yaml")).unwrap();
        assert_eq!(c.cluster.nodes, 3);
        assert_eq!(c.concurrency, 5);
        assert_eq!(c.nemesis.faults.len(), 2);
        assert!(err("concurrency: 3\n").contains("missing field `workload`"));
    }

    /// Found by fuzzing (tests/data/fuzz/campaigns/second-document*.yaml): serde_yaml names no
    /// position for a second document; the error does.
    #[test]
    fn a_second_document_is_named_by_its_line() {
        for (text, line) in [
            ("workload: {kind: set}\n---\nquiet: 1s\n", 2),
            ("---\nworkload: {kind: set}\n--- # again\nquiet: 1s\n", 3),
            ("# c\nworkload: {kind: set}\n...\nquiet: 1s\n", 4),
            ("workload: {kind: set}\n...\n---\nquiet: 1s\n", 3),
            (
                "%YAML 1.2\n---\nworkload: {kind: set}\n%YAML 1.2\nquiet: 1s\n",
                4,
            ),
        ] {
            let e = err(text);
            assert!(
                e.starts_with(&format!("c.yaml:{line}:1: a second YAML document")),
                "{text:?}: {e}"
            );
        }
    }

    #[test]
    fn syntax_errors_name_file_line_and_column() {
        let e = err("workload:\n  kind: register\n  keys: [1\n");
        assert!(e.starts_with("c.yaml:"), "{e}");
        assert!(!e.contains(" at line "), "{e}");
    }

    #[test]
    fn unknown_keys_name_their_line_and_field() {
        let e = err("workload:\n  kind: register\nnemesis:\n  faults:\n    - kil: leader\n");
        assert!(
            e.starts_with("c.yaml:5:7: nemesis.faults[0]: unknown field `kil`"),
            "{e}"
        );
    }

    #[test]
    fn type_errors_name_the_field() {
        let e = err("workload:\n  kind: register\nconcurrency: lots\n");
        assert!(e.starts_with("c.yaml:3:"), "{e}");
        assert!(e.contains("concurrency"), "{e}");
        let e = err("workload:\n  kind: register\nduration: 5 fortnights\n");
        assert!(e.starts_with("c.yaml:3:"), "{e}");
        assert!(e.contains("duration"), "{e}");
    }
}
