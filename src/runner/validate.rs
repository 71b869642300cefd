//! Semantic checks of a parsed campaign (ranges, names, fault vocabulary) and its conversion
//! into a [`Plan`]. Every error names file, line, column and field; all errors are reported at once.

use std::path::{Path, PathBuf};
use std::time::Duration;

use workloads::list_append::ListAppendConfig;
use workloads::register::RegisterConfig;
use workloads::rw_register::RwRegisterConfig;
use workloads::set::SetConfig;
use workloads::WorkloadConfig;

use super::campaign::Campaign;
use super::plan::Plan;
use super::validate_nemesis::{fault_kinds, schedule, Host};
use super::validate_system::system;
use super::yaml_pos::Positions;
use crate::exit::bad_input;
use crate::node::bugs::UnsafeBug;
use crate::system::SystemSpec;

/// Command-line values that override the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub seed: Option<u64>,
    pub out: Option<PathBuf>,
    /// The run goes to local node processes (`--local`), which cannot be partitioned.
    pub local: bool,
    /// Whether the host can delay packets (netem): `Err(why)` when it cannot, `None` when it
    /// was not probed (then a campaign with `delay` is refused). See
    /// [`crate::cluster::links::probe_netem`].
    pub netem: Option<Result<(), String>>,
}

/// Collects errors with the field they concern.
pub struct Problems<'a> {
    text: &'a str,
    path: &'a Path,
    /// Every field's position, indexed on the first error: a valid campaign costs no pass, and
    /// each error after the first is a lookup, not a scan of the whole text.
    positions: Option<Positions>,
    found: Vec<String>,
}

impl Problems<'_> {
    /// The campaign file's path (relative paths in it are relative to its directory).
    pub fn path(&self) -> &Path {
        self.path
    }

    pub fn add(&mut self, field: &str, message: impl std::fmt::Display) {
        let text = self.text;
        let positions = self.positions.get_or_insert_with(|| Positions::index(text));
        let at = match positions.locate(field) {
            Some((line, col)) => format!("{}:{line}:{col}", self.path.display()),
            None => self.path.display().to_string(),
        };
        self.found.push(format!("{at}: {field}: {message}"));
    }

    pub fn range<T: PartialOrd + std::fmt::Display>(&mut self, field: &str, v: T, min: T, max: T) {
        if v < min || v > max {
            self.add(field, format!("{v} is out of range ({min} to {max})"));
        }
    }
}

/// Checks the campaign and builds the plan of the run. `text` is the file's text, for positions.
pub fn validate(
    campaign: &Campaign,
    text: &str,
    path: &Path,
    overrides: &Overrides,
) -> anyhow::Result<Plan> {
    let mut p = Problems {
        text,
        path,
        positions: None,
        found: Vec::new(),
    };
    let name = campaign_name(campaign, path);
    check_name(&mut p, "name", &name);
    let cluster_name = campaign
        .cluster
        .name
        .clone()
        .unwrap_or_else(|| name.clone());
    check_name(&mut p, "cluster.name", &cluster_name);
    let nodes = campaign.cluster.nodes;
    p.range("cluster.nodes", nodes, 1, 9);
    let mut node_args = unsafe_bugs(&mut p, &campaign.cluster.unsafe_bugs);
    node_args.extend(snapshot_args(&mut p, &campaign.cluster));
    let workload = workload(&mut p, campaign);
    bounds(&mut p, campaign);
    let online_check = online_check(&mut p, campaign, workload.as_ref());

    let seed = overrides
        .seed
        .or(campaign.seed)
        .unwrap_or_else(rand::random::<u64>);
    let system = system(&mut p, campaign, overrides);
    let host = Host {
        clocks: system.clock_faults(),
        membership: crate::system::membership_changes(system.kind()),
        nodes: nodes as usize,
        netem: overrides.netem.as_ref(),
        local: overrides.local,
    };
    let schedule = schedule(&mut p, campaign, &host, seed);
    if overrides.local {
        refuse_partitions(&mut p, campaign);
    }

    if !p.found.is_empty() {
        return Err(bad_input(p.found.join("\n")));
    }
    let mut as_run = campaign.clone();
    as_run.seed = Some(seed);
    // The run directory keeps the campaign; a replay reads it from there, so a build
    // directory is kept by its absolute path.
    if let SystemSpec::Http(h) = &system {
        as_run.system.build = h.build.clone();
    }
    let fault_kinds = fault_kinds(campaign);
    let required_coverage = required_coverage(&mut p, campaign, &fault_kinds);
    let crash_markers = system.crash_markers();
    Ok(Plan {
        name,
        system,
        cluster_name,
        nodes,
        node_args,
        workload: workload.expect("no problems means the workload was built"),
        concurrency: campaign.concurrency,
        rate: campaign.rate,
        duration: campaign.duration.0,
        ops: (campaign.ops > 0).then_some(campaign.ops),
        schedule,
        fault_kinds,
        required_coverage,
        quiet: campaign.quiet.0,
        client_timeout: campaign.client.timeout.0,
        checker_time_limit: campaign.checker.time_limit.0,
        checker_memory_mb: campaign.checker.memory_limit_mb,
        crash_check: campaign.checker.crash,
        online_check,
        stop_on_violation: campaign.checker.stop_on_violation,
        crash_markers,
        seed,
        out: overrides
            .out
            .clone()
            .unwrap_or_else(|| campaign.out.clone()),
        campaign: as_run,
    })
}

/// Every kind the campaign asks for, then the modes of `nemesis.require`, each checked: a known
/// mode, of a kind the campaign has.
fn required_coverage(p: &mut Problems, c: &Campaign, kinds: &[String]) -> Vec<String> {
    let mut required = kinds.to_vec();
    for (i, mode) in c.nemesis.require.iter().enumerate() {
        let field = format!("nemesis.require[{i}]");
        let kind = if kinds.contains(mode) {
            Some(mode.as_str())
        } else {
            crate::runner::coverage::kind_of_mode(mode)
        };
        match kind {
            None => p.add(
                &field,
                format!(
                    "unknown mode {mode:?}; expected a fault kind, one of {}, or partition-<pattern> \
                     with a pattern of {}",
                    crate::runner::coverage::MODES.join(", "),
                    crate::runner::coverage::PATTERNS.join(", ")
                ),
            ),
            Some(kind) if !kinds.iter().any(|k| k == kind) => p.add(
                &field,
                format!("{mode} can never be covered: the campaign has no {kind} fault"),
            ),
            Some(_) if !required.contains(mode) => required.push(mode.clone()),
            Some(_) => {}
        }
    }
    required
}

/// The campaign's `name`, else its file's stem.
pub fn campaign_name(campaign: &Campaign, path: &Path) -> String {
    campaign.name.clone().unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "campaign".into())
    })
}

/// Local node processes share one network namespace: a campaign that partitions them or
/// degrades their links is refused before anything starts, never run with those faults failing.
fn refuse_partitions(p: &mut Problems, c: &Campaign) {
    let why = |kind: &str| {
        if kind == "partition" {
            "--local runs the nodes as processes on 127.0.0.1, which cannot be partitioned: \
             use the Docker target, or drop partitions from the campaign"
                .to_string()
        } else if kind == "remove" || kind == "replace" {
            format!(
                "--local runs the nodes as processes on 127.0.0.1, which faultline does not \
                 remove, replace or re-add: use the Docker target, or drop {kind} from the campaign"
            )
        } else if kind == "clock" {
            "--local runs the nodes as processes on 127.0.0.1 without libfaketime: use the \
             Docker target, or drop clock faults from the campaign"
                .to_string()
        } else {
            format!(
                "--local runs the nodes as processes on 127.0.0.1, whose links cannot be \
                 degraded: use the Docker target, or drop {kind} from the campaign"
            )
        }
    };
    let n = &c.nemesis;
    // Every kind but kill and pause needs what only the Docker target has.
    let networked: Vec<&str> = nemesis::FaultSpec::KINDS
        .iter()
        .copied()
        .filter(|k| !["kill", "pause"].contains(k))
        .collect();
    if n.schedule.is_empty() {
        for (i, f) in n.faults.iter().enumerate() {
            for kind in f.kinds().into_iter().filter(|k| networked.contains(k)) {
                p.add(&format!("nemesis.faults[{i}].{kind}"), why(kind));
            }
        }
    }
    for (i, f) in n.schedule.iter().enumerate() {
        for kind in f
            .entry()
            .kinds()
            .into_iter()
            .filter(|k| networked.contains(k))
        {
            p.add(&format!("nemesis.schedule[{i}].{kind}"), why(kind));
        }
    }
}

/// The ranges of the run's counts and durations.
fn bounds(p: &mut Problems, campaign: &Campaign) {
    p.range("concurrency", campaign.concurrency, 1, 1000);
    p.range("rate", campaign.rate, 0, 1_000_000);
    let duration = campaign.duration.0;
    if duration.is_zero() || duration > Duration::from_secs(24 * 3600) {
        p.add(
            "duration",
            format!("{} is out of range (over 0 to 24h)", campaign.duration),
        );
    }
    if campaign.quiet.0 > Duration::from_secs(600) {
        p.add(
            "quiet",
            format!("{} is out of range (0 to 10m)", campaign.quiet),
        );
    }
    let timeout = campaign.client.timeout.0;
    if timeout < Duration::from_millis(10) || timeout > Duration::from_secs(60) {
        p.add(
            "client.timeout",
            format!("{} is out of range (10ms to 60s)", campaign.client.timeout),
        );
    }
    if campaign.checker.time_limit.0.is_zero() {
        p.add("checker.time_limit", "must be more than 0");
    }
    p.range(
        "checker.memory_limit_mb",
        campaign.checker.memory_limit_mb,
        64,
        1 << 20,
    );
}

/// Whether the run checks while it goes: only workloads checked per key for linearizability
/// can be (the others' checkers need the whole history), and only when `checker.online` is on.
/// `checker.stop_on_violation` needs it.
fn online_check(p: &mut Problems, c: &Campaign, workload: Option<&WorkloadConfig>) -> bool {
    let applies = workload.is_some_and(|w| {
        w.checkers()
            .contains(&checkers::analysis::Checker::Linearizability)
    });
    if c.checker.stop_on_violation {
        if !c.checker.online {
            p.add(
                "checker.stop_on_violation",
                "needs the online check, which checker.online: false turns off",
            );
        } else if workload.is_some() && !applies {
            p.add(
                "checker.stop_on_violation",
                format!(
                    "the {} workload is not checked while the run goes (only register is: \
                     its checkers need the whole history)",
                    c.workload.kind
                ),
            );
        }
    }
    c.checker.online && applies
}

/// Planted bugs become `--unsafe-bug NAME` on every node's command line.
fn unsafe_bugs(p: &mut Problems, bugs: &[String]) -> Vec<String> {
    let known = UnsafeBug::names();
    let mut args = Vec::new();
    for (i, bug) in bugs.iter().enumerate() {
        if known.contains(&bug.as_str()) {
            args.extend(["--unsafe-bug".to_string(), bug.clone()]);
        } else {
            p.add(
                &format!("cluster.unsafe_bugs[{i}]"),
                format!(
                    "unknown planted bug {bug:?}; expected one of {}",
                    known.join(", ")
                ),
            );
        }
    }
    args
}

/// The node's snapshot settings, as `faultline node` arguments.
fn snapshot_args(p: &mut Problems, c: &super::campaign::ClusterSection) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(every) = c.snapshot_every {
        p.range("cluster.snapshot_every", every, 1, 10_000_000);
        args.extend(["--snapshot-every".to_string(), every.to_string()]);
    }
    if let Some(keep) = c.snapshot_keep {
        p.range("cluster.snapshot_keep", keep, 0, 10_000_000);
        args.extend(["--snapshot-keep".to_string(), keep.to_string()]);
    }
    args
}

/// Names become directory and container names.
fn check_name(p: &mut Problems, field: &str, name: &str) {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        p.add(
            field,
            format!("{name:?} is not a valid name: use 1 to 40 letters, digits, '-' or '_'"),
        );
    }
}

fn workload(p: &mut Problems, c: &Campaign) -> Option<WorkloadConfig> {
    let w = &c.workload;
    let not_for = |p: &mut Problems, field: &str, set: bool| {
        if set {
            p.add(
                &format!("workload.{field}"),
                format!("does not apply to the {} workload", w.kind),
            );
        }
    };
    if let Some(keys) = w.keys {
        p.range("workload.keys", keys, 1, 10_000);
    }
    let config = match w.kind.as_str() {
        "register" => {
            not_for(p, "append", w.append.is_some());
            not_for(p, "max_txn_len", w.max_txn_len.is_some());
            let d = RegisterConfig::default();
            WorkloadConfig::Register(RegisterConfig {
                keys: w.keys.unwrap_or(d.keys),
                read: w.read.unwrap_or(d.read),
                write: w.write.unwrap_or(d.write),
                cas: w.cas.unwrap_or(d.cas),
            })
        }
        "set" => {
            for (field, set) in [
                ("read", w.read.is_some()),
                ("write", w.write.is_some()),
                ("cas", w.cas.is_some()),
                ("append", w.append.is_some()),
                ("max_txn_len", w.max_txn_len.is_some()),
            ] {
                not_for(p, field, set);
            }
            WorkloadConfig::Set(SetConfig {
                keys: w.keys.unwrap_or(SetConfig::default().keys),
            })
        }
        "list-append" => {
            not_for(p, "write", w.write.is_some());
            not_for(p, "cas", w.cas.is_some());
            if let Some(len) = w.max_txn_len {
                p.range("workload.max_txn_len", len, 1, 64);
            }
            let d = ListAppendConfig::default();
            WorkloadConfig::ListAppend(ListAppendConfig {
                keys: w.keys.unwrap_or(d.keys),
                max_txn_len: w.max_txn_len.unwrap_or(d.max_txn_len),
                read: w.read.unwrap_or(d.read),
                append: w.append.unwrap_or(d.append),
            })
        }
        "rw-register" => {
            not_for(p, "append", w.append.is_some());
            not_for(p, "cas", w.cas.is_some());
            if let Some(len) = w.max_txn_len {
                p.range("workload.max_txn_len", len, 1, 64);
            }
            let d = RwRegisterConfig::default();
            WorkloadConfig::RwRegister(RwRegisterConfig {
                keys: w.keys.unwrap_or(d.keys),
                max_txn_len: w.max_txn_len.unwrap_or(d.max_txn_len),
                read: w.read.unwrap_or(d.read),
                write: w.write.unwrap_or(d.write),
            })
        }
        other => {
            p.add(
                "workload.kind",
                format!(
                    "unknown workload {other:?}; expected one of {}",
                    WorkloadConfig::NAMES.join(", ")
                ),
            );
            return None;
        }
    };
    if let Err(e) = config.validate() {
        p.add("workload", e);
    }
    Some(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::{code_for, BAD_INPUT};
    use crate::runner::campaign::parse;

    fn plan(text: &str) -> anyhow::Result<Plan> {
        let path = Path::new("c.yaml");
        let c = parse(text, path)?;
        validate(&c, text, path, &Overrides::default())
    }

    fn err(text: &str) -> String {
        let e = plan(text).unwrap_err();
        assert_eq!(code_for(&e), BAD_INPUT);
        e.to_string()
    }

    fn with_netem(text: &str, netem: Option<Result<(), String>>) -> anyhow::Result<Plan> {
        let path = Path::new("c.yaml");
        let c = parse(text, path)?;
        let o = Overrides {
            netem,
            ..Overrides::default()
        };
        validate(&c, text, path, &o)
    }

    #[test]
    fn link_faults_become_specs_with_all_as_the_default_pattern() {
        let text = "workload: {kind: register}\nnemesis:\n  schedule:\n    - {at: 1s, duration: 1s, loss: {pattern: halves, percent: 30}}\n    - {at: 3s, duration: 1s, slow: {rate: 1mbit}}\n    - {at: 5s, duration: 1s, loss: {percent: 2.5}}\n";
        let p = plan(text).unwrap();
        assert_eq!(p.fault_kinds, vec!["loss", "slow"]);
        let generated = plan("workload: {kind: register}\nnemesis:\n  faults:\n    - loss: {pattern: halves, percent: 30}\n    - slow: {rate: 1mbit}\n").unwrap();
        assert_eq!(generated.fault_kinds, vec!["loss", "slow"]);
        let specs: Vec<String> = p
            .schedule
            .windows
            .iter()
            .map(|w| w.fault.describe())
            .collect();
        for want in ["loss 30% halves", "slow 1mbit all", "loss 2.5% all"] {
            assert!(specs.iter().any(|s| s == want), "{want}: {specs:?}");
        }
        // The campaign as run keeps the entries as written.
        let again = serde_yaml::to_string(&p.campaign).unwrap();
        assert!(again.contains("percent: 30"), "{again}");
    }

    #[test]
    fn bad_link_faults_name_line_and_field() {
        let e = err("workload: {kind: register}\nnemesis:\n  faults:\n    - loss: {pattern: halves, percent: 150}\n    - slow: {rate: fast}\n    - slow: {rate: 0mbit}\n    - loss: {pattern: everywhere, percent: 3}\n");
        assert!(
            e.contains("c.yaml:4:7: nemesis.faults[0].loss.percent: 150 is out of range"),
            "{e}"
        );
        assert!(
            e.contains("c.yaml:5:7: nemesis.faults[1].slow.rate: \"fast\" is not a rate"),
            "{e}"
        );
        assert!(
            e.contains("nemesis.faults[2].slow.rate: \"0mbit\": a rate must be more than 0"),
            "{e}"
        );
        assert!(
            e.contains("nemesis.faults[3].loss.pattern: unknown link pattern \"everywhere\""),
            "{e}"
        );
        let e = err("workload: {kind: register}\nnemesis:\n  faults:\n    - loss: {percent: 30, pattern: halves}\n    - kill: leader\n    - {loss: {percent: 3}, slow: {rate: 1mbit}}\n");
        assert!(
            e.contains("nemesis.faults[2]: give exactly one of kill, pause, partition, loss, slow, delay, clock, remove or replace (found loss, slow)"),
            "{e}"
        );
    }

    #[test]
    fn link_faults_on_a_one_node_cluster_are_refused() {
        let e = err("workload: {kind: register}\ncluster: {nodes: 1}\nnemesis:\n  schedule:\n    - {at: 1s, duration: 1s, loss: {percent: 30}}\n    - {at: 3s, duration: 1s, slow: {pattern: halves, rate: 1mbit}}\n");
        assert!(
            e.contains("c.yaml:5:5: nemesis.schedule[0].loss: loss over all needs at least 2 nodes (a link has two ends); cluster.nodes is 1"),
            "{e}"
        );
        assert!(
            e.contains("nemesis.schedule[1].slow.pattern: slow over halves needs at least 2 nodes"),
            "{e}"
        );
    }

    #[test]
    fn delay_is_refused_on_a_host_without_netem_and_when_not_probed() {
        let text = "workload: {kind: register}\nnemesis:\n  faults:\n    - kill: leader\n    - delay: {ms: 100, jitter_ms: 20}\n";
        let e = with_netem(text, Some(Err("its kernel has no netem qdisc".into()))).unwrap_err();
        assert_eq!(code_for(&e), BAD_INPUT);
        let e = e.to_string();
        assert!(
            e.starts_with("c.yaml:5:7: nemesis.faults[1].delay: this host cannot delay packets: its kernel has no netem qdisc"),
            "{e}"
        );
        let e = with_netem(text, None).unwrap_err().to_string();
        assert!(e.contains("nemesis.faults[1].delay: whether this host can delay packets (the netem qdisc) was not probed"), "{e}");
        // Where netem exists the same campaign is accepted.
        let p = with_netem(text, Some(Ok(()))).unwrap();
        assert_eq!(p.fault_kinds, vec!["kill", "delay"]);
        let e = with_netem(
            "workload: {kind: register}\nnemesis:\n  faults:\n    - delay: {ms: 0}\n",
            Some(Ok(())),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("nemesis.faults[0].delay.ms: 0 is out of range (1 to 10000)"),
            "{e}"
        );
    }

    #[test]
    fn local_runs_refuse_link_faults() {
        let text = "workload: {kind: register}\nnemesis:\n  faults:\n    - kill: leader\n    - loss: {percent: 30}\n    - delay: {ms: 100}\n";
        let c = parse(text, Path::new("c.yaml")).unwrap();
        let local = Overrides {
            local: true,
            ..Overrides::default()
        };
        let e = validate(&c, text, Path::new("c.yaml"), &local)
            .unwrap_err()
            .to_string();
        assert!(e.contains("c.yaml:5:7: nemesis.faults[1].loss: --local runs the nodes as processes on 127.0.0.1, whose links cannot be degraded"), "{e}");
        assert!(e.contains("nemesis.faults[2].delay: --local"), "{e}");
        // Refused for being local, not for netem (which a local run never probes).
        assert!(!e.contains("netem"), "{e}");
    }

    #[test]
    fn clock_faults_are_for_systems_that_take_a_preload() {
        let text = "workload: {kind: register}\nnemesis:\n  faults:\n    - clock: {target: leader, offset: +30s}\n    - clock: {target: random-node, offset: -2m}\n";
        let p = plan(text).unwrap();
        assert_eq!(p.fault_kinds, vec!["clock"]);
        let specs: Vec<String> = p
            .schedule
            .windows
            .iter()
            .map(|w| w.fault.describe())
            .collect();
        assert!(specs.iter().any(|s| s == "clock +30s leader"), "{specs:?}");
        // etcd is a Go binary: refused before anything starts, naming the field and why.
        let e = err("system: {kind: etcd}\nworkload: {kind: register}\nnemesis:\n  faults:\n    - clock: {target: leader, offset: +30s}\n");
        assert!(
            e.contains("c.yaml:5:7: nemesis.faults[0].clock: this system cannot take clock faults: etcd is a Go binary"),
            "{e}"
        );
        let e = err("workload: {kind: register}\nnemesis:\n  faults:\n    - clock: {target: everyone, offset: 1.5s}\n");
        assert!(
            e.contains("nemesis.faults[0].clock.target: unknown target \"everyone\""),
            "{e}"
        );
        assert!(
            e.contains(
                "nemesis.faults[0].clock.offset: \"1.5s\": an offset is a whole number of seconds"
            ),
            "{e}"
        );
        let e = err("workload: {kind: register}\nnemesis:\n  faults:\n    - clock: {target: leader, offset: +5s, strobe: 500ms}\n");
        assert!(
            e.contains("nemesis.faults[0].clock.strobe: 500ms is too quick"),
            "{e}"
        );
        let p = plan("workload: {kind: register}\nnemesis:\n  schedule:\n    - {at: 1s, duration: 9s, clock: {target: leader, offset: +5s, strobe: 2s}}\n").unwrap();
        assert_eq!(
            p.schedule.windows[0].fault.describe(),
            "clock +5s leader strobed every 2000ms"
        );
        let c = parse(text, Path::new("c.yaml")).unwrap();
        let local = Overrides {
            local: true,
            ..Overrides::default()
        };
        let e = validate(&c, text, Path::new("c.yaml"), &local)
            .unwrap_err()
            .to_string();
        assert!(e.contains("nemesis.faults[0].clock: --local runs the nodes as processes on 127.0.0.1 without libfaketime"), "{e}");
    }

    #[test]
    fn membership_faults_need_two_nodes_a_voter_left_and_faultlines_node() {
        let p = plan("cluster: {snapshot_every: 50, snapshot_keep: 0}\nworkload: {kind: register}\nnemesis:\n  faults:\n    - remove: leader\n    - replace: random-node\n").unwrap();
        assert_eq!(p.fault_kinds, vec!["remove", "replace"]);
        assert!(
            p.node_args
                .join(" ")
                .contains("--snapshot-every 50 --snapshot-keep 0"),
            "{:?}",
            p.node_args
        );
        let e = err("cluster: {nodes: 1}\nworkload: {kind: register}\nnemesis:\n  faults:\n    - remove: random-node\n");
        assert!(
            e.contains(
                "c.yaml:5:7: nemesis.faults[0].remove: a membership change needs at least 2 nodes"
            ),
            "{e}"
        );
        let e = err("workload: {kind: register}\nnemesis:\n  faults:\n    - remove: all\n");
        assert!(
            e.contains("nemesis.faults[0].remove: removing every node would leave no voter"),
            "{e}"
        );
        let e = err("workload: {kind: register}\nnemesis:\n  faults:\n    - replace: everyone\n");
        assert!(
            e.contains("nemesis.faults[0].replace: unknown target \"everyone\""),
            "{e}"
        );
        let e = err("system: {kind: etcd}\ncluster: {snapshot_every: 10}\nworkload: {kind: register}\nnemesis:\n  faults:\n    - replace: leader\n");
        assert!(
            e.contains("nemesis.faults[0].replace: this system cannot change its membership"),
            "{e}"
        );
        assert!(
            e.contains("cluster.snapshot_every: a setting of faultline's own node, not of etcd"),
            "{e}"
        );
        let text = "workload: {kind: register}\nnemesis:\n  faults:\n    - remove: leader\n";
        let c = parse(text, Path::new("c.yaml")).unwrap();
        let local = Overrides {
            local: true,
            ..Overrides::default()
        };
        let e = validate(&c, text, Path::new("c.yaml"), &local)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("nemesis.faults[0].remove: --local runs the nodes as processes"),
            "{e}"
        );
    }

    #[test]
    fn clock_rates_are_bounded_and_named_by_line_and_field() {
        let p = plan("workload: {kind: register}\nnemesis:\n  schedule:\n    - {at: 1s, duration: 9s, clock: {target: leader, rate: 0.5}}\n    - {at: 12s, duration: 5s, clock: {target: random-node, offset: -5s, rate: 2}}\n").unwrap();
        let specs: Vec<String> = p
            .schedule
            .windows
            .iter()
            .map(|w| w.fault.describe())
            .collect();
        assert_eq!(specs, vec!["clock x0.5 leader", "clock -5s x2 random-node"]);
        for (rate, why) in [
            ("0", "a rate is more than 0"),
            ("-1.5", "a rate is more than 0"),
            ("0.01", "out of range: a clock rate is from 0.1 to 10"),
            ("50", "out of range: a clock rate is from 0.1 to 10"),
            ("1", "a rate of 1 skews nothing"),
        ] {
            let e = err(&format!("workload: {{kind: register}}\nnemesis:\n  faults:\n    - clock: {{target: leader, rate: {rate}}}\n"));
            assert!(
                e.contains("c.yaml:4:7: nemesis.faults[0].clock.rate: "),
                "{e}"
            );
            assert!(e.contains(why), "{rate}: {e}");
        }
        let e =
            err("workload: {kind: register}\nnemesis:\n  faults:\n    - clock: {target: leader}\n");
        assert!(e.contains("nemesis.faults[0].clock: give an offset"), "{e}");
        let e = err("workload: {kind: register}\nnemesis:\n  faults:\n    - clock: {target: leader, rate: 2, offset: +5s, strobe: 2s}\n");
        assert!(
            e.contains("nemesis.faults[0].clock.strobe: a strobe toggles an offset"),
            "{e}"
        );
        let e = err("workload: {kind: register}\nnemesis:\n  faults:\n    - clock: {target: leader, rate: fast}\n");
        assert!(e.contains("nemesis.faults[0]"), "{e}");
    }

    #[test]
    fn rw_register_is_a_workload_of_faultlines_node_only() {
        let p = plan("workload:\n  kind: rw-register\n  keys: 2\n  write: 3\n").unwrap();
        assert_eq!(
            p.workload,
            WorkloadConfig::RwRegister(RwRegisterConfig {
                keys: 2,
                write: 3,
                ..RwRegisterConfig::default()
            })
        );
        let e = err("workload:\n  kind: rw-register\n  append: 1\n");
        assert!(e.contains("append"), "{e}");
        let e = err("system:\n  kind: etcd\nworkload:\n  kind: rw-register\n");
        assert!(
            e.contains("rw-register runs on faultline's own node"),
            "{e}"
        );
    }

    #[test]
    fn planted_bugs_become_node_arguments_and_unknown_ones_are_refused() {
        let p =
            plan("cluster:\n  unsafe_bugs: [racy-cas, lazy-fsync]\nworkload:\n  kind: register\n")
                .unwrap();
        assert_eq!(
            p.node_args,
            ["--unsafe-bug", "racy-cas", "--unsafe-bug", "lazy-fsync"]
        );
        assert!(plan("workload:\n  kind: register\n")
            .unwrap()
            .node_args
            .is_empty());
        let e = err("cluster:\n  unsafe_bugs:\n    - stale-read\n    - slow-read\nworkload:\n  kind: register\n");
        assert!(
            e.starts_with("c.yaml:4:")
                && e.contains("cluster.unsafe_bugs[1]: unknown planted bug \"slow-read\""),
            "{e}"
        );
        assert!(e.contains("stale-read, early-ack"), "{e}");
    }

    #[test]
    fn a_minimal_campaign_gets_defaults() {
        let p = plan("workload:\n  kind: register\n").unwrap();
        assert_eq!(p.name, "c");
        assert_eq!(p.nodes, 3);
        assert!(!p.schedule.windows.is_empty());
        assert_eq!(p.fault_kinds, vec!["kill", "partition"]);
        assert_eq!(p.campaign.seed, Some(p.seed));
    }

    #[test]
    fn unknown_workload_names_line_and_field() {
        let e = err("name: x\nworkload:\n  kind: bank\n");
        assert!(
            e.starts_with("c.yaml:3:3: workload.kind: unknown workload \"bank\""),
            "{e}"
        );
    }

    #[test]
    fn out_of_range_values_name_line_and_field() {
        let e = err("workload:\n  kind: register\ncluster:\n  nodes: 12\n");
        assert!(
            e.starts_with("c.yaml:4:3: cluster.nodes: 12 is out of range (1 to 9)"),
            "{e}"
        );
        let e = err("workload:\n  kind: register\nconcurrency: 0\n");
        assert!(e.starts_with("c.yaml:3:1: concurrency:"), "{e}");
    }

    #[test]
    fn unknown_targets_and_patterns_name_their_item() {
        let text = "workload:\n  kind: register\nnemesis:\n  faults:\n    - kill: leader\n    - pause: everyone\n    - partition: halfs\n";
        let e = err(text);
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(lines.len(), 2, "{e}");
        assert!(
            lines[0]
                .starts_with("c.yaml:6:7: nemesis.faults[1].pause: unknown target \"everyone\""),
            "{e}"
        );
        assert!(
            lines[1]
                .starts_with("c.yaml:7:7: nemesis.faults[2].partition: unknown partition pattern"),
            "{e}"
        );
    }

    #[test]
    fn a_fault_needs_exactly_one_kind() {
        let e = err("workload: {kind: register}\nnemesis:\n  faults:\n    - kill: leader\n      pause: leader\n");
        assert!(
            e.starts_with("c.yaml:4:5: nemesis.faults[0]: give exactly one"),
            "{e}"
        );
    }

    #[test]
    fn settings_of_another_workload_are_rejected() {
        let e = err("workload:\n  kind: set\n  cas: 2\n");
        assert!(
            e.starts_with("c.yaml:3:3: workload.cas: does not apply to the set workload"),
            "{e}"
        );
    }

    #[test]
    fn patterns_need_enough_nodes() {
        let e = err("workload: {kind: register}\ncluster: {nodes: 2}\nnemesis:\n  faults:\n    - partition: bridge\n");
        assert!(
            e.contains("nemesis.faults[0].partition: bridge needs at least 3 nodes"),
            "{e}"
        );
    }

    #[test]
    fn explicit_faults_must_end_within_the_run() {
        let text = "workload: {kind: register}\nduration: 10s\nnemesis:\n  schedule:\n    - at: 8s\n      duration: 5s\n      kill: leader\n";
        let e = err(text);
        assert!(
            e.starts_with("c.yaml:5:7: nemesis.schedule[0].at: the fault ends at 13s"),
            "{e}"
        );
    }

    #[test]
    fn local_runs_refuse_partitions_before_anything_starts() {
        let text = "workload: {kind: register}\nnemesis:\n  schedule:\n    - {at: 1s, duration: 1s, kill: leader}\n    - {at: 3s, duration: 1s, partition: halves}\n";
        let c = parse(text, Path::new("c.yaml")).unwrap();
        let local = Overrides {
            local: true,
            ..Overrides::default()
        };
        let e = validate(&c, text, Path::new("c.yaml"), &local).unwrap_err();
        assert_eq!(code_for(&e), BAD_INPUT);
        assert!(
            e.to_string()
                .starts_with("c.yaml:5:5: nemesis.schedule[1].partition: --local runs the nodes"),
            "{e}"
        );
        // The same campaign is fine for Docker, and kills alone are fine locally.
        assert!(validate(&c, text, Path::new("c.yaml"), &Overrides::default()).is_ok());
        let kills = "workload: {kind: register}\nnemesis:\n  faults: [{kill: leader}]\n";
        let c = parse(kills, Path::new("c.yaml")).unwrap();
        assert!(validate(&c, kills, Path::new("c.yaml"), &local).is_ok());
    }

    /// A 1 ms window every 1 ms over a day would be 43 million windows: refused at once,
    /// naming the field, without building any of them.
    #[test]
    fn schedules_of_absurd_size_are_refused_before_they_are_built() {
        let text = "workload: {kind: register}\nduration: 24h\nnemesis:\n  faults: [{kill: leader}]\n  interval: 1ms\n  duration: 1ms\n";
        let started = std::time::Instant::now();
        let e = err(text);
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(
            e.contains("c.yaml:5:3: nemesis.interval: 1ms between windows of 1ms over 86400s makes over 100000 fault windows"),
            "{e}"
        );
    }

    #[test]
    fn explicit_schedules_are_used_as_given() {
        let text = "workload: {kind: register}\nnemesis:\n  schedule:\n    - {at: 3s, duration: 2s, pause: leader}\n    - {at: 1s, duration: 1s, partition: halves}\n";
        let p = plan(text).unwrap();
        let kinds: Vec<_> = p.schedule.windows.iter().map(|w| w.fault.kind()).collect();
        assert_eq!(kinds, vec!["partition", "pause"]);
    }

    #[test]
    fn the_command_line_overrides_seed_and_out() {
        let text = "workload: {kind: set}\nseed: 5\nout: a\n";
        let c = parse(text, Path::new("c.yaml")).unwrap();
        let p = validate(&c, text, Path::new("c.yaml"), &Overrides::default()).unwrap();
        assert_eq!((p.seed, p.out.clone()), (5, PathBuf::from("a")));
        let o = Overrides {
            local: false,
            seed: Some(9),
            out: Some("b".into()),
            netem: None,
        };
        let p2 = validate(&c, text, Path::new("c.yaml"), &o).unwrap();
        assert_eq!((p2.seed, p2.out), (9, PathBuf::from("b")));
        // Same seed, same schedule.
        let p3 = validate(&c, text, Path::new("c.yaml"), &Overrides::default()).unwrap();
        assert_eq!(p.schedule, p3.schedule);
    }
}
