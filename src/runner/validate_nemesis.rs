//! Validation of the `nemesis` section: fault entries (exactly one kind, a known target or
//! pattern, enough nodes for the pattern) and window timings, into the run's schedule.

use nemesis::{FaultSpec, Pattern, Schedule, ScheduleConfig, Target, Window};

use super::campaign::{Campaign, FaultEntry, TimedFault};
use super::duration::Dur;
use super::validate::Problems;

/// One fault entry (`kill|pause|partition`, exactly one) as a spec; `field` is its path.
fn fault(
    p: &mut Problems,
    field: &str,
    kill: &Option<String>,
    pause: &Option<String>,
    partition: &Option<String>,
    nodes: usize,
) -> Option<FaultSpec> {
    let given: Vec<&str> = [("kill", kill), ("pause", pause), ("partition", partition)]
        .iter()
        .filter(|(_, v)| v.is_some())
        .map(|(k, _)| *k)
        .collect();
    if given.len() != 1 {
        p.add(
            field,
            format!(
                "give exactly one of kill, pause or partition (found {})",
                if given.is_empty() {
                    "none".into()
                } else {
                    given.join(", ")
                }
            ),
        );
        return None;
    }
    let target = |p: &mut Problems, kind: &str, v: &str| match v.parse::<Target>() {
        Ok(t) => Some(t),
        Err(e) => {
            p.add(&format!("{field}.{kind}"), e);
            None
        }
    };
    if let Some(t) = kill {
        return target(p, "kill", t).map(|target| FaultSpec::Kill { target });
    }
    if let Some(t) = pause {
        return target(p, "pause", t).map(|target| FaultSpec::Pause { target });
    }
    let v = partition.as_deref().unwrap_or_default();
    match v.parse::<Pattern>() {
        Ok(pattern) if nodes < pattern.min_nodes() => {
            p.add(
                &format!("{field}.partition"),
                format!(
                    "{pattern} needs at least {} nodes; cluster.nodes is {nodes}",
                    pattern.min_nodes()
                ),
            );
            None
        }
        Ok(pattern) => Some(FaultSpec::Partition { pattern }),
        Err(e) => {
            p.add(&format!("{field}.partition"), e);
            None
        }
    }
}

pub fn schedule(p: &mut Problems, c: &Campaign, nodes: usize, seed: u64) -> Schedule {
    if c.nemesis.schedule.is_empty() {
        generated(p, c, nodes, seed)
    } else {
        explicit(p, c, nodes, seed)
    }
}

/// The campaign's own timed faults, each checked against the run's length.
fn explicit(p: &mut Problems, c: &Campaign, nodes: usize, seed: u64) -> Schedule {
    let mut windows = Vec::new();
    for (i, timed) in c.nemesis.schedule.iter().enumerate() {
        let TimedFault {
            at,
            duration,
            kill,
            pause,
            partition,
        } = timed;
        let field = format!("nemesis.schedule[{i}]");
        if duration.0.is_zero() {
            p.add(&format!("{field}.duration"), "must be more than 0");
        }
        if at.0 + duration.0 > c.duration.0 {
            p.add(
                &format!("{field}.at"),
                format!(
                    "the fault ends at {}, after the run ({})",
                    Dur(at.0 + duration.0),
                    c.duration
                ),
            );
        }
        if let Some(fault) = fault(p, &field, kill, pause, partition, nodes) {
            windows.push((
                i,
                Window {
                    at: at.0,
                    duration: duration.0,
                    fault,
                },
            ));
        }
    }
    refuse_overlaps(p, &windows);
    Schedule::explicit(windows.into_iter().map(|(_, w)| w).collect(), seed)
}

/// Two windows of the same kind may not overlap: each is undone at its own end, and undoing
/// the first would undo the second too (one heal removes every partition rule; a start brings
/// back a node the other window wants down). Windows of different kinds compose.
fn refuse_overlaps(p: &mut Problems, windows: &[(usize, Window)]) {
    for (a, (i, x)) in windows.iter().enumerate() {
        for (j, y) in windows[a + 1..].iter() {
            let overlap = x.at < y.at + y.duration && y.at < x.at + x.duration;
            if overlap && x.fault.kind() == y.fault.kind() {
                let (first, second) = if i < j { (i, j) } else { (j, i) };
                p.add(
                    &format!("nemesis.schedule[{second}]"),
                    format!(
                        "overlaps nemesis.schedule[{first}], another {} window; undoing one \
                         would undo both: move one, or shorten it",
                        x.fault.kind()
                    ),
                );
            }
        }
    }
}

/// Windows drawn from the campaign's fault list, its interval and its duration.
fn generated(p: &mut Problems, c: &Campaign, nodes: usize, seed: u64) -> Schedule {
    let n = &c.nemesis;
    let faults: Vec<FaultSpec> = n
        .faults
        .iter()
        .enumerate()
        .filter_map(|(i, entry)| {
            let FaultEntry {
                kill,
                pause,
                partition,
            } = entry;
            fault(
                p,
                &format!("nemesis.faults[{i}]"),
                kill,
                pause,
                partition,
                nodes,
            )
        })
        .collect();
    if !n.faults.is_empty() {
        if n.interval.0.is_zero() {
            p.add("nemesis.interval", "must be more than 0");
        }
        if n.duration.0.is_zero() {
            p.add("nemesis.duration", "must be more than 0");
        }
        if n.duration.0 >= c.duration.0 {
            p.add(
                "nemesis.duration",
                format!("{} leaves no room in a run of {}", n.duration, c.duration),
            );
        }
        // Each generated window takes at least half an interval plus its duration; past this
        // many a schedule is not a test but a flood, and building it would exhaust memory.
        let shortest = n.interval.0 / 2 + n.duration.0;
        if shortest.is_zero()
            || c.duration.0.as_secs_f64() / shortest.as_secs_f64() > MAX_WINDOWS as f64
        {
            p.add(
                "nemesis.interval",
                format!(
                    "{} between windows of {} over {} makes over {MAX_WINDOWS} fault windows; \
                     lengthen the interval or the window",
                    n.interval, n.duration, c.duration
                ),
            );
            // Nothing is generated for a campaign refused anyway.
            return Schedule::explicit(Vec::new(), seed);
        }
    }
    Schedule::generate(
        &ScheduleConfig {
            faults,
            interval: n.interval.0,
            duration: n.duration.0,
            horizon: c.duration.0,
        },
        seed,
    )
}

/// The most fault windows a generated schedule may hold.
const MAX_WINDOWS: usize = 100_000;

/// The fault kinds the campaign asks for, for coverage.
pub fn fault_kinds(c: &Campaign) -> Vec<String> {
    let mut kinds: Vec<String> = Vec::new();
    let mut add = |kill: bool, pause: bool, partition: bool| {
        for (k, on) in [("kill", kill), ("pause", pause), ("partition", partition)] {
            if on && !kinds.iter().any(|x| x == k) {
                kinds.push(k.to_string());
            }
        }
    };
    if c.nemesis.schedule.is_empty() {
        for f in &c.nemesis.faults {
            add(f.kill.is_some(), f.pause.is_some(), f.partition.is_some());
        }
    } else {
        for f in &c.nemesis.schedule {
            add(f.kill.is_some(), f.pause.is_some(), f.partition.is_some());
        }
    }
    kinds
}
