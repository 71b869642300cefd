//! The nemesis task: walks the schedule's timeline, resolves each window's targets, applies the
//! fault through the target, records it in the history, and watches for its effect (coverage).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use checkers::history::{EventType, NemesisTag, Process};
use futures::future::join_all;
use nemesis::{Action, ClockShift, FaultSpec, Schedule};
use serde_json::{json, Value};
use tokio::sync::watch;

use super::coverage;
use super::leader;
use super::live::Live;
use super::membership;
use super::recorder::Recorder;
use super::strobe::{self, note_strobe, Strobe};
use crate::cluster::client::{Client, NodeStatus};
use crate::cluster::clock::ClockSetting;
use crate::cluster::target::TestTarget;
use crate::report::results::{FaultRecord, FaultStatus};

/// How far a shifted node's reported time may be from the asked offset (libfaketime rereads its
/// control file once a second; the status request takes some time too).
const CLOCK_TOLERANCE_MS: i64 = 1500;

/// The harness's wall clock in ms since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// How long to wait for a fault's effect at most (and never past its window).
const OBSERVE_FOR: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(100);

pub struct Nemesis<T, C> {
    pub target: Arc<T>,
    pub client: C,
    pub recorder: Recorder,
    pub live: Arc<Live>,
}

pub const NEMESIS: Process = Process::Nemesis(NemesisTag::Nemesis);

impl<T: TestTarget, C: Client> Nemesis<T, C> {
    /// Runs the schedule until its end or until `stop` turns true. Windows still open at the end
    /// are left for the final heal (strobes stop first, so they never fight it).
    pub async fn run(
        &self,
        schedule: &Schedule,
        mut stop: watch::Receiver<bool>,
    ) -> Vec<FaultRecord> {
        let mut records: Vec<FaultRecord> = schedule
            .windows
            .iter()
            .enumerate()
            .map(|(i, w)| FaultRecord {
                window: i,
                kind: w.fault.kind().into(),
                at_ms: w.at.as_millis() as u64,
                duration_ms: w.duration.as_millis() as u64,
                start_ns: None,
                end_ns: None,
                action: None,
                status: FaultStatus::NotReached,
                observed: None,
                effect: None,
                error: None,
                modes: Vec::new(),
            })
            .collect();
        let mut before: BTreeMap<usize, Before> = BTreeMap::new();
        let mut strobes: BTreeMap<usize, Strobe> = BTreeMap::new();
        let t0 = tokio::time::Instant::from_std(self.recorder.start());
        for step in schedule.timeline() {
            if *stop.borrow() {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(t0 + step.at) => {}
                _ = stop.wait_for(|s| *s) => break,
            }
            let window = &schedule.windows[step.window];
            let record = &mut records[step.window];
            if step.start {
                let deadline = Instant::now() + window.duration.min(OBSERVE_FOR);
                let opened = tokio::time::Instant::now();
                if let Some(snapshot) = self
                    .start_window(schedule, step.window, &window.fault, record, deadline)
                    .await
                {
                    before.insert(step.window, snapshot);
                }
                if let Some(strobe) = strobe::start(&self.target, record, opened) {
                    strobes.insert(step.window, strobe);
                }
            } else if record.status == FaultStatus::Applied {
                let strobed = match strobes.remove(&step.window) {
                    Some(s) => Some(s.stop().await),
                    None => None,
                };
                self.end_window(record, before.remove(&step.window)).await;
                if let Some(result) = strobed {
                    note_strobe(record, result);
                }
            }
        }
        // Strobes of windows still open stop here, before the final heal puts the clocks back.
        for (window, strobe) in std::mem::take(&mut strobes) {
            note_strobe(&mut records[window], strobe.stop().await);
        }
        records
    }

    async fn start_window(
        &self,
        schedule: &Schedule,
        index: usize,
        spec: &FaultSpec,
        record: &mut FaultRecord,
        deadline: Instant,
    ) -> Option<Before> {
        let names: Vec<String> = self.target.nodes().into_iter().map(|(n, _)| n).collect();
        // The leader now: the target of `kill: leader` and the like, and what says a window's
        // mode (leader or follower hit; which side of a partition the leader ends on).
        let leader = match self.target.leader().await {
            Ok(Some(l)) => Some(l),
            // A window that targets the leader opened during an election (right after a loss or
            // a kill window, say): it waits for the next leader, inside its own observe deadline,
            // before it is skipped. Skipping at once made such windows a coin toss.
            Ok(None) | Err(_) if spec.needs_leader() => {
                let within = deadline.saturating_duration_since(Instant::now());
                match leader::wait_for_leader(&*self.target, within).await {
                    Ok(l) => Some(l),
                    Err(e) => {
                        tracing::warn!(target: "faultline::nemesis", error = %format!("{e:#}"), "finding the leader");
                        None
                    }
                }
            }
            Ok(None) | Err(_) => None,
        };
        let action = match spec.resolve(&names, leader.as_ref(), &mut schedule.target_rng(index)) {
            Ok(a) => a,
            Err(e) => {
                record.status = FaultStatus::Skipped;
                record.error = Some(e.to_string());
                self.event(
                    &record.kind,
                    json!({"window": index, "phase": "skipped"}),
                    Some(e.to_string()),
                );
                tracing::warn!(target: "faultline::nemesis", window = index, error = %e, "fault skipped");
                return None;
            }
        };
        let mut snapshot = match action {
            Action::Partition { .. } => Some(Before::Statuses(self.statuses().await)),
            _ => None,
        };
        self.event(&record.kind, describe(index, "start", &action), None);
        record.start_ns = Some(self.recorder.now());
        record.action = Some(action.clone());
        record.modes = coverage::modes_of(spec, &action, leader.as_ref(), &names);
        if let Action::Kill { nodes } | Action::Replace { nodes } = &action {
            // Before the kill is sent (a replacement removes its node's container): the crash
            // watcher must never take it for a crash.
            self.live.taking_down(nodes);
        }
        // The rate's anchor, as the executor takes it (within the apply's tenth of a second).
        let applied_ms = now_ms();
        let applied = action.apply(&*self.target).await;
        if let (Action::Replace { nodes }, Ok(())) = (&action, &applied) {
            self.live.brought_back(nodes);
        }
        if let Err(e) = applied {
            let error = format!("{e}");
            tracing::error!(target: "faultline::nemesis", window = index, error = %error, "fault failed");
            record.status = FaultStatus::Failed;
            record.error = Some(error.clone());
            record.end_ns = Some(self.recorder.now());
            self.event(&record.kind, describe(index, "end", &action), Some(error));
            return None;
        }
        record.status = FaultStatus::Applied;
        self.live.add_active(label(&action));
        let (observed, effect) = match &action {
            Action::Kill { nodes } => self.observe_down(nodes, deadline).await,
            Action::Pause { nodes } => self.observe_silent(nodes, deadline).await,
            Action::Clock {
                nodes,
                offset_secs,
                rate,
                ..
            } => {
                let setting = ClockSetting {
                    shift: ClockShift {
                        offset_secs: *offset_secs,
                        rate: *rate,
                    },
                    anchor_ms: applied_ms,
                };
                let seen = self.observe_clock(nodes, setting, deadline).await;
                if rate.is_some() {
                    // How fast the clocks run is measured over the window, at its end.
                    snapshot = Some(Before::Rate {
                        setting,
                        first: self.clock_readings(nodes).await,
                    });
                }
                seen
            }
            Action::Remove { nodes } => {
                self.observe_config(deadline, |s, _| membership::removed(s, nodes))
                    .await
            }
            Action::Replace { nodes } => {
                self.observe_config(deadline, |s, names| {
                    membership::voting(s, names, nodes, true)
                })
                .await
            }
            _ => (None, None),
        };
        record.observed = observed;
        record.effect = effect;
        snapshot
    }

    async fn end_window(&self, record: &mut FaultRecord, before: Option<Before>) {
        let Some(action) = record.action.clone() else {
            return;
        };
        match before {
            Some(Before::Statuses(before)) => {
                let after = self.statuses().await;
                let (observed, effect) = partition_effect(&self.names(), &before, &after);
                record.observed = Some(observed);
                record.effect = Some(effect);
            }
            Some(Before::Rate { setting, first }) => {
                let nodes: Vec<String> = first.iter().map(|(n, _)| n.clone()).collect();
                let last = self.clock_readings(&nodes).await;
                let (observed, effect) = rate_effect(&setting, &first, &last);
                record.observed = Some(observed);
                record.effect = Some(effect);
            }
            None => {}
        }
        // A link fault took effect when its rules or qdiscs are still in place at the end of
        // its window and dropped (loss) or carried (slow, delay) some of the cluster's traffic.
        if let Some(fault) = action.link_fault() {
            let (observed, effect) = match self.target.observe_links(fault.shape.kind()).await {
                Ok(o) => o,
                Err(e) => (false, format!("reading the link faults back: {e:#}")),
            };
            record.observed = Some(observed);
            record.effect = Some(effect);
        }
        let undo = action.inverse();
        let result = undo.apply(&*self.target).await;
        if let (Action::Kill { nodes }, Ok(())) = (&action, &result) {
            self.live.brought_back(nodes);
        }
        if let (Action::Remove { nodes }, Ok(())) = (&action, &result) {
            // A removal was observed when the configuration changed and changed back.
            let deadline = Instant::now() + OBSERVE_FOR;
            let (back, effect) = self
                .observe_config(deadline, |s, names| {
                    membership::voting(s, names, nodes, false)
                })
                .await;
            record.observed = Some(record.observed == Some(true) && back == Some(true));
            record.effect = Some(match record.effect.take() {
                Some(before) => format!("{before}; then {}", effect.unwrap_or_default()),
                None => effect.unwrap_or_default(),
            });
        }
        self.live.remove_active(&label(&action));
        record.end_ns = Some(self.recorder.now());
        let error = result
            .err()
            .map(|e| format!("undoing with {}: {e}", undo.name()));
        if let Some(e) = &error {
            tracing::error!(target: "faultline::nemesis", window = record.window, error = %e, "undo failed; the final heal retries");
            record.error = Some(e.clone());
        }
        self.event(&record.kind, describe(record.window, "end", &action), error);
    }

    /// The names and addresses of `nodes`, in the target's order.
    fn addrs_of(&self, nodes: &[String]) -> Vec<(String, std::net::SocketAddr)> {
        self.target
            .nodes()
            .into_iter()
            .filter(|(n, _)| nodes.contains(n))
            .collect()
    }

    fn names(&self) -> Vec<String> {
        self.target.nodes().into_iter().map(|(n, _)| n).collect()
    }

    /// Every node's status (None where it does not answer).
    async fn statuses(&self) -> Vec<Option<NodeStatus>> {
        let nodes = self.target.nodes();
        join_all(nodes.iter().map(|(_, addr)| self.client.status(*addr)))
            .await
            .into_iter()
            .map(Result::ok)
            .collect()
    }

    /// Polls the nodes' statuses until `seen` says the configuration is as the fault wants it,
    /// or the deadline passes; `seen` gets the statuses and the node names, in the same order.
    async fn observe_config(
        &self,
        deadline: Instant,
        seen: impl Fn(&[Option<NodeStatus>], &[String]) -> (bool, String),
    ) -> (Option<bool>, Option<String>) {
        let names = self.names();
        loop {
            let (ok, effect) = seen(&self.statuses().await, &names);
            if ok || Instant::now() >= deadline {
                return (Some(ok), Some(effect));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// A kill took effect when every killed node's process is gone.
    async fn observe_down(
        &self,
        nodes: &[String],
        deadline: Instant,
    ) -> (Option<bool>, Option<String>) {
        loop {
            let mut down = Vec::new();
            for n in nodes {
                match self.target.is_running(n).await {
                    Ok(false) => down.push(n.clone()),
                    Ok(true) => {}
                    Err(e) => {
                        tracing::warn!(target: "faultline::nemesis", node = %n, error = %format!("{e:#}"), "probing node")
                    }
                }
            }
            if down.len() == nodes.len() {
                return (Some(true), Some(format!("{} down", down.join(","))));
            }
            if Instant::now() >= deadline {
                return (
                    Some(false),
                    Some(format!(
                        "still running: {}",
                        nodes
                            .iter()
                            .filter(|n| !down.contains(n))
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(",")
                    )),
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// A pause took effect when every paused node stops answering its status endpoint.
    async fn observe_silent(
        &self,
        nodes: &[String],
        deadline: Instant,
    ) -> (Option<bool>, Option<String>) {
        let addrs = self.addrs_of(nodes);
        loop {
            let answers = join_all(addrs.iter().map(|(_, a)| self.client.status(*a))).await;
            let answering: Vec<String> = addrs
                .iter()
                .zip(&answers)
                .filter(|(_, r)| r.is_ok())
                .map(|((n, _), _)| n.clone())
                .collect();
            if answering.is_empty() {
                return (
                    Some(true),
                    Some(format!("{} stopped answering", nodes.join(","))),
                );
            }
            if Instant::now() >= deadline {
                return (
                    Some(false),
                    Some(format!("still answering: {}", answering.join(","))),
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// A clock fault took effect when every shifted node reports a time as far from the
    /// harness's own clock (the nodes share the host's kernel clock) as the fault says by now,
    /// within a second and a half.
    async fn observe_clock(
        &self,
        nodes: &[String],
        setting: ClockSetting,
        deadline: Instant,
    ) -> (Option<bool>, Option<String>) {
        loop {
            let readings = self.clock_readings(nodes).await;
            let shifted = readings.iter().all(|(_, r)| {
                r.is_some_and(|(node, harness)| {
                    (node as f64 - harness as f64 - setting.skew_ms_at(harness)).abs()
                        <= CLOCK_TOLERANCE_MS as f64
                })
            });
            let said = readings
                .iter()
                .map(|(n, r)| match r {
                    Some((node, harness)) => format!(
                        "{n} reads {:+.1}s",
                        (*node as f64 - *harness as f64) / 1000.0
                    ),
                    None => format!("{n} reports no time"),
                })
                .collect::<Vec<_>>()
                .join(", ");
            if shifted {
                return (Some(true), Some(said));
            }
            if Instant::now() >= deadline {
                return (
                    Some(false),
                    Some(format!("asked {}; {said}", setting.shift)),
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Each node's reported time and the harness's clock when it answered (the middle of the
    /// request), in ms since the epoch; `None` where the node did not say.
    async fn clock_readings(&self, nodes: &[String]) -> Vec<(String, Option<(u64, u64)>)> {
        let addrs = self.addrs_of(nodes);
        join_all(addrs.iter().map(|(n, a)| async move {
            let before = now_ms();
            let status = self.client.status(*a).await;
            let after = now_ms();
            let time = status.ok().and_then(|s| s.time_ms);
            (n.clone(), time.map(|t| (t, before + (after - before) / 2)))
        }))
        .await
    }

    fn event(&self, f: &str, value: Value, error: Option<String>) {
        self.recorder
            .record(NEMESIS, EventType::Info, f, None, value, error);
    }
}

/// The history value of a nemesis event: window, phase, targets and (for partitions) the grudge.
pub fn describe(window: usize, phase: &str, action: &Action) -> Value {
    let mut v = json!({"window": window, "phase": phase, "targets": action.nodes()});
    match action {
        Action::Partition { grudge } => v["grudge"] = json!(grudge),
        Action::Loss { links, percent } => {
            v["links"] = json!(links);
            v["percent"] = json!(percent);
        }
        Action::Slow { links, rate } => {
            v["links"] = json!(links);
            v["rate"] = json!(rate);
        }
        Action::Delay { links, delay } => {
            v["links"] = json!(links);
            v["delay"] = json!(delay);
        }
        Action::Clock {
            offset_secs,
            rate,
            strobe_ms,
            ..
        } => {
            v["offset_secs"] = json!(offset_secs);
            if let Some(r) = rate {
                v["rate"] = json!(r);
            }
            if let Some(ms) = strobe_ms {
                v["strobe_ms"] = json!(ms);
            }
        }
        _ => {}
    }
    v
}

/// `kill n1,n2` for the progress line.
fn label(action: &Action) -> String {
    format!("{} {}", action.name(), action.nodes().join(","))
}

/// What a window's start left for its end to compare with.
pub enum Before {
    /// Every node's status before a partition.
    Statuses(Vec<Option<NodeStatus>>),
    /// The first clock readings of a rate window.
    Rate {
        setting: ClockSetting,
        first: Vec<(String, Option<(u64, u64)>)>,
    },
}

/// Whether a rate window's clocks ran at its rate: at the window's end each node must read what
/// the rate says by then (the offset plus `(rate - 1)` times the time since the fault), within
/// the tolerance, and that must differ from the offset alone by more than the tolerance
/// (otherwise the window was too short to tell a skewed clock from a bumped one). How fast each
/// clock went between the two readings is said too.
pub fn rate_effect(
    setting: &ClockSetting,
    first: &[(String, Option<(u64, u64)>)],
    last: &[(String, Option<(u64, u64)>)],
) -> (bool, String) {
    let mut observed = true;
    let mut said = Vec::new();
    for (n, end) in last {
        let Some((node, harness)) = *end else {
            observed = false;
            said.push(format!("{n} reports no time at the end"));
            continue;
        };
        let skew = node as f64 - harness as f64;
        let want = setting.skew_ms_at(harness);
        let drift = want - setting.shift.offset_secs as f64 * 1000.0;
        let close = (skew - want).abs() <= CLOCK_TOLERANCE_MS as f64;
        let telling = drift.abs() > CLOCK_TOLERANCE_MS as f64;
        observed &= close && telling;
        let mut line = format!(
            "{n} reads {:+.1}s, expected {:+.1}s",
            skew / 1000.0,
            want / 1000.0
        );
        if let Some((_, Some((node0, harness0)))) = first.iter().find(|(m, _)| m == n) {
            let real = harness.saturating_sub(*harness0);
            if real > 0 {
                line.push_str(&format!(
                    " (ran {:.1} s in {:.1} s, x{:.2})",
                    node.saturating_sub(*node0) as f64 / 1000.0,
                    real as f64 / 1000.0,
                    node.saturating_sub(*node0) as f64 / real as f64
                ));
            }
        }
        if !telling {
            line.push_str("; too short a window to tell the rate");
        }
        said.push(line);
    }
    (observed, said.join(", "))
}

/// What a partition did to leadership: compares statuses before it and at its end.
pub fn partition_effect(
    names: &[String],
    before: &[Option<NodeStatus>],
    after: &[Option<NodeStatus>],
) -> (bool, String) {
    let leader_of = |s: &[Option<NodeStatus>]| {
        s.iter()
            .flatten()
            .find(|st| st.role == "leader")
            .map(|st| st.id)
    };
    let mut changes = Vec::new();
    for ((name, b), a) in names.iter().zip(before).zip(after) {
        match (b, a) {
            (Some(b), Some(a)) if a.term > b.term || a.role != b.role => changes.push(format!(
                "{name} {}@{} -> {}@{}",
                b.role, b.term, a.role, a.term
            )),
            (Some(_), None) => changes.push(format!("{name} stopped answering")),
            _ => {}
        }
    }
    let (lb, la) = (leader_of(before), leader_of(after));
    let leadership = match (lb, la) {
        (Some(b), Some(a)) if a == b => format!("leader {b} kept leadership"),
        (Some(b), Some(a)) => format!("leader {b} lost leadership to {a}"),
        (Some(b), None) => format!("leader {b} lost leadership, no leader seen"),
        (None, Some(a)) => format!("{a} became leader"),
        (None, None) => "no leader seen".into(),
    };
    let observed = !changes.is_empty() || lb != la;
    let effect = if changes.is_empty() {
        leadership
    } else {
        format!("{leadership}; {}", changes.join(", "))
    };
    (observed, effect)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(id: u64, role: &str, term: u64) -> Option<NodeStatus> {
        Some(NodeStatus {
            id,
            role: role.into(),
            term,
            leader: None,
            ..NodeStatus::default()
        })
    }

    #[test]
    fn a_partition_that_moved_leadership_is_observed() {
        let names = vec!["n1".to_string(), "n2".into(), "n3".into()];
        let before = vec![
            st(1, "leader", 2),
            st(2, "follower", 2),
            st(3, "follower", 2),
        ];
        let after = vec![
            st(1, "candidate", 5),
            st(2, "leader", 3),
            st(3, "follower", 3),
        ];
        let (observed, effect) = partition_effect(&names, &before, &after);
        assert!(observed);
        assert!(
            effect.starts_with("leader 1 lost leadership to 2"),
            "{effect}"
        );
    }

    #[test]
    fn a_rate_is_observed_when_the_clock_drifted_as_it_says() {
        let setting = ClockSetting {
            shift: ClockShift {
                offset_secs: 0,
                rate: nemesis::ClockRate::new(1.5).ok(),
            },
            anchor_ms: 1_001_000,
        };
        let first = vec![("n1".to_string(), Some((1_001_000, 1_001_000)))];
        // 10 s later n1 is 5 s ahead: x1.5.
        let last = vec![("n1".to_string(), Some((1_016_000, 1_011_000)))];
        let (observed, effect) = rate_effect(&setting, &first, &last);
        assert!(observed, "{effect}");
        assert_eq!(
            effect,
            "n1 reads +5.0s, expected +5.0s (ran 15.0 s in 10.0 s, x1.50)"
        );
        // A clock that kept real time did not take the rate.
        let still = vec![("n1".to_string(), Some((1_011_000, 1_011_000)))];
        assert!(!rate_effect(&setting, &first, &still).0);
        // Too short a window cannot tell.
        let soon = vec![("n1".to_string(), Some((1_002_500, 1_002_000)))];
        let (observed, effect) = rate_effect(&setting, &first, &soon);
        assert!(!observed && effect.contains("too short"), "{effect}");
    }

    #[test]
    fn a_partition_with_no_change_is_not_observed() {
        let names = vec!["n1".to_string(), "n2".into()];
        let before = vec![st(1, "leader", 2), st(2, "follower", 2)];
        let (observed, effect) = partition_effect(&names, &before, &before);
        assert!(!observed);
        assert_eq!(effect, "leader 1 kept leadership");
    }
}
