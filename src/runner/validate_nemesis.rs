//! Validation of the `nemesis` section: fault entries (exactly one kind, a known target or
//! pattern, enough nodes for the pattern) and window timings, into the run's schedule.

use nemesis::{
    ClockRate, Delay, FaultSpec, LinkPattern, Pattern, Percent, Rate, Schedule, ScheduleConfig,
    Target, Window,
};

use super::campaign::{Campaign, FaultEntry};
use super::duration::Dur;
use super::validate::Problems;

/// What fault entries are checked against: the cluster's size and whether this host can delay
/// packets (netem; `None` when it was not probed).
pub struct Host<'a> {
    pub nodes: usize,
    /// Whether the system's nodes take clock faults, or why not.
    pub clocks: Result<(), String>,
    /// Whether the system's nodes change membership at run time, or why not.
    pub membership: Result<(), String>,
    pub netem: Option<&'a Result<(), String>>,
    /// A local run refuses every link fault on its own (see `validate`).
    pub local: bool,
}

/// One fault entry (exactly one kind) as a spec; `field` is its path.
fn fault(p: &mut Problems, field: &str, entry: &FaultEntry, host: &Host) -> Option<FaultSpec> {
    let nodes = host.nodes;
    let given = entry.kinds();
    if given.len() != 1 {
        p.add(
            field,
            format!(
                "give exactly one of kill, pause, partition, loss, slow, delay, clock, remove or replace (found {})",
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
    if let Some(t) = &entry.kill {
        return target(p, "kill", t).map(|target| FaultSpec::Kill { target });
    }
    if let Some(t) = &entry.pause {
        return target(p, "pause", t).map(|target| FaultSpec::Pause { target });
    }
    for (kind, given) in [("remove", &entry.remove), ("replace", &entry.replace)] {
        let Some(t) = given else { continue };
        let t = target(p, kind, t);
        let mut ok = true;
        if nodes < 2 {
            p.add(
                &format!("{field}.{kind}"),
                format!(
                    "a membership change needs at least 2 nodes (one must stay in the \
                     configuration); cluster.nodes is {nodes}"
                ),
            );
            ok = false;
        }
        if kind == "remove" && t == Some(Target::All) {
            p.add(
                &format!("{field}.remove"),
                "removing every node would leave no voter: use random-node, leader, minority \
                 or majority",
            );
            ok = false;
        }
        if let Err(why) = &host.membership {
            if !host.local {
                p.add(
                    &format!("{field}.{kind}"),
                    format!("this system cannot change its membership: {why}"),
                );
                ok = false;
            }
        }
        let target = t?;
        return ok.then_some(if kind == "remove" {
            FaultSpec::Remove { target }
        } else {
            FaultSpec::Replace { target }
        });
    }
    if let Some(c) = &entry.clock {
        let t = target(p, "clock.target", &c.target);
        let mut ok = true;
        let offset = match &c.offset {
            Some(o) => match parse_offset(o) {
                Ok(o) => Some(o),
                Err(e) => {
                    p.add(&format!("{field}.clock.offset"), e);
                    None
                }
            },
            None => Some(0),
        };
        let rate = match c.rate.map(ClockRate::new) {
            Some(Ok(r)) => Some(r),
            Some(Err(e)) => {
                p.add(&format!("{field}.clock.rate"), e);
                ok = false;
                None
            }
            None => None,
        };
        if c.offset.is_none() && c.rate.is_none() {
            p.add(
                &format!("{field}.clock"),
                "give an offset (e.g. offset: -30s), a rate (e.g. rate: 0.5), or both",
            );
            ok = false;
        }
        if let Some(strobe) = &c.strobe {
            if c.rate.is_some() {
                p.add(
                    &format!("{field}.clock.strobe"),
                    "a strobe toggles an offset; it cannot be combined with a rate",
                );
                ok = false;
            } else if strobe.0 < MIN_STROBE {
                p.add(
                    &format!("{field}.clock.strobe"),
                    format!(
                        "{strobe} is too quick: the node rereads its clock's control file once a \
                         second, so strobe at least every {}",
                        Dur(MIN_STROBE)
                    ),
                );
                ok = false;
            }
        }
        if let Err(why) = &host.clocks {
            if !host.local {
                p.add(
                    &format!("{field}.clock"),
                    format!("this system cannot take clock faults: {why}"),
                );
                ok = false;
            }
        }
        let (target, offset_secs) = (t?, offset?);
        return ok.then_some(FaultSpec::Clock {
            target,
            offset_secs,
            rate,
            strobe_ms: c.strobe.map(|d| d.0.as_millis() as u64),
        });
    }
    // The links a link fault degrades: `all` unless the entry names a pattern.
    let links = |p: &mut Problems, kind: &str, pattern: &Option<String>| {
        let v = pattern.as_deref().unwrap_or("all");
        let at = if pattern.is_some() {
            format!("{field}.{kind}.pattern")
        } else {
            format!("{field}.{kind}")
        };
        match v.parse::<LinkPattern>() {
            Ok(pattern) if nodes < pattern.min_nodes() => {
                p.add(
                    &at,
                    format!(
                        "{kind} over {pattern} needs at least {} nodes (a link has two ends); \
                         cluster.nodes is {nodes}",
                        pattern.min_nodes()
                    ),
                );
                None
            }
            Ok(pattern) => Some(pattern),
            Err(e) => {
                p.add(&at, e);
                None
            }
        }
    };
    if let Some(l) = &entry.loss {
        let pattern = links(p, "loss", &l.pattern);
        let percent = match Percent::new(l.percent) {
            Ok(percent) => Some(percent),
            Err(e) => {
                p.add(&format!("{field}.loss.percent"), e);
                None
            }
        };
        return Some(FaultSpec::Loss {
            pattern: pattern?,
            percent: percent?,
        });
    }
    if let Some(sl) = &entry.slow {
        let pattern = links(p, "slow", &sl.pattern);
        let rate = match sl.rate.parse::<Rate>() {
            Ok(rate) => Some(rate),
            Err(e) => {
                p.add(&format!("{field}.slow.rate"), e);
                None
            }
        };
        return Some(FaultSpec::Slow {
            pattern: pattern?,
            rate: rate?,
        });
    }
    if let Some(d) = &entry.delay {
        let pattern = links(p, "delay", &d.pattern);
        let mut ok = true;
        if d.ms == 0 || d.ms > MAX_DELAY_MS {
            p.add(
                &format!("{field}.delay.ms"),
                format!("{} is out of range (1 to {MAX_DELAY_MS})", d.ms),
            );
            ok = false;
        }
        if d.jitter_ms > MAX_DELAY_MS {
            p.add(
                &format!("{field}.delay.jitter_ms"),
                format!("{} is out of range (0 to {MAX_DELAY_MS})", d.jitter_ms),
            );
            ok = false;
        }
        // Never run a campaign without the delay it asks for.
        let why = match host.netem {
            _ if host.local => None,
            Some(Ok(())) => None,
            Some(Err(why)) => Some(format!(
                "this host cannot delay packets: {why}; drop delay from the campaign or run \
                 on a host whose kernel has the netem qdisc (CONFIG_NET_SCH_NETEM)"
            )),
            None => Some(
                "whether this host can delay packets (the netem qdisc) was not probed; \
                 `faultline test` probes it through Docker"
                    .to_string(),
            ),
        };
        if let Some(why) = why {
            p.add(&format!("{field}.delay"), why);
            ok = false;
        }
        let pattern = pattern?;
        return ok.then_some(FaultSpec::Delay {
            pattern,
            delay: Delay {
                ms: d.ms,
                jitter_ms: d.jitter_ms,
            },
        });
    }
    let v = entry.partition.as_deref().unwrap_or_default();
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

/// A clock offset: `+30s`, `-2m`, `1h` (ahead when unsigned), a whole number of seconds, not 0,
/// at most ten years either way.
pub fn parse_offset(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let (sign, rest) = match t.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, t.strip_prefix('+').unwrap_or(t)),
    };
    let d: Dur = rest
        .parse()
        .map_err(|e| format!("{text:?} is not an offset ({e}); write e.g. +30s, -2m or 1h"))?;
    if d.0.subsec_nanos() != 0 {
        return Err(format!("{text:?}: an offset is a whole number of seconds"));
    }
    let secs = d.0.as_secs() as i64;
    if secs == 0 {
        return Err(format!("{text:?}: an offset of 0 moves nothing"));
    }
    if secs > 10 * 365 * 86_400 {
        return Err(format!("{text:?} is more than ten years"));
    }
    Ok(sign * secs)
}

/// The quickest clock strobe: libfaketime rereads its control file once a second.
const MIN_STROBE: std::time::Duration = std::time::Duration::from_secs(2);

/// The longest delay (and jitter) a campaign may ask for, in ms.
const MAX_DELAY_MS: u32 = 10_000;

pub fn schedule(p: &mut Problems, c: &Campaign, host: &Host, seed: u64) -> Schedule {
    if c.nemesis.schedule.is_empty() {
        generated(p, c, host, seed)
    } else {
        explicit(p, c, host, seed)
    }
}

/// The campaign's own timed faults, each checked against the run's length.
fn explicit(p: &mut Problems, c: &Campaign, host: &Host, seed: u64) -> Schedule {
    let mut windows = Vec::new();
    for (i, timed) in c.nemesis.schedule.iter().enumerate() {
        let (at, duration) = (&timed.at, &timed.duration);
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
        if let Some(fault) = fault(p, &field, &timed.entry(), host) {
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
fn generated(p: &mut Problems, c: &Campaign, host: &Host, seed: u64) -> Schedule {
    let n = &c.nemesis;
    let faults: Vec<FaultSpec> = n
        .faults
        .iter()
        .enumerate()
        .filter_map(|(i, entry)| fault(p, &format!("nemesis.faults[{i}]"), entry, host))
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
    let entries: Vec<FaultEntry> = if c.nemesis.schedule.is_empty() {
        c.nemesis.faults.clone()
    } else {
        c.nemesis.schedule.iter().map(|t| t.entry()).collect()
    };
    let mut kinds: Vec<String> = Vec::new();
    for kind in entries.iter().flat_map(FaultEntry::kinds) {
        if !kinds.iter().any(|x| x == kind) {
            kinds.push(kind.to_string());
        }
    }
    kinds
}

/// Whether the campaign asks for delayed links anywhere (so the host must be probed for netem).
pub fn asks_for_delay(c: &Campaign) -> bool {
    c.nemesis.faults.iter().any(|f| f.delay.is_some())
        || c.nemesis.schedule.iter().any(|f| f.delay.is_some())
}

#[cfg(test)]
mod tests {
    use super::parse_offset;

    #[test]
    fn offsets_are_signed_whole_seconds() {
        assert_eq!(parse_offset("+30s"), Ok(30));
        assert_eq!(parse_offset("-2m"), Ok(-120));
        assert_eq!(parse_offset("1h"), Ok(3600));
        for bad in ["0s", "1.5s", "soon", "+", "20y"] {
            assert!(parse_offset(bad).is_err(), "{bad}");
        }
    }
}
