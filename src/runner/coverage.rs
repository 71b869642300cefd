//! Fault coverage: per fault kind, how often it was scheduled, applied and seen to take effect,
//! and per mode (whom a kill, pause, removal or replacement hit, the leader or a follower; on which side of a partition
//! the leader was left, and which pattern cut it). What a campaign requires (every kind it lists,
//! and the modes in `nemesis.require`) must be applied and observed, or the run cannot pass.

use std::collections::{BTreeMap, BTreeSet};

use nemesis::fault::NodeName;
use nemesis::{Action, FaultSpec};

use crate::report::results::{Coverage, FaultRecord, FaultStatus, ModeCoverage};

/// Modes a campaign may require, besides its kinds; `partition-<pattern>` for each pattern too.
pub const MODES: &[&str] = &[
    "kill-leader",
    "kill-follower",
    "pause-leader",
    "pause-follower",
    "partition-leader-majority",
    "partition-leader-minority",
    "remove-leader",
    "remove-follower",
    "replace-leader",
    "replace-follower",
];

/// The partition patterns a mode can name (`partition-halves`, ...).
pub const PATTERNS: &[&str] = &[
    "isolate-one",
    "isolate-leader",
    "halves",
    "majorities-ring",
    "bridge",
];

/// Whether `mode` is one a campaign can require, and the fault kind it belongs to.
pub fn kind_of_mode(mode: &str) -> Option<&'static str> {
    let known = MODES.contains(&mode)
        || mode
            .strip_prefix("partition-")
            .is_some_and(|p| PATTERNS.contains(&p));
    if !known {
        return None;
    }
    ["kill", "pause", "partition", "remove", "replace"]
        .into_iter()
        .find(|k| mode.starts_with(&format!("{k}-")))
}

/// The modes of an applied fault: whom it hit, given the leader when it started, and the
/// pattern it was asked for.
pub fn modes_of(
    spec: &FaultSpec,
    action: &Action,
    leader: Option<&NodeName>,
    names: &[NodeName],
) -> Vec<String> {
    let mut modes = Vec::new();
    let role = |nodes: &[NodeName]| match leader {
        Some(l) if nodes.contains(l) => Some("leader"),
        Some(_) => Some("follower"),
        None => None,
    };
    match action {
        Action::Kill { nodes } => modes.extend(role(nodes).map(|r| format!("kill-{r}"))),
        Action::Pause { nodes } => modes.extend(role(nodes).map(|r| format!("pause-{r}"))),
        Action::Remove { nodes } => modes.extend(role(nodes).map(|r| format!("remove-{r}"))),
        Action::Replace { nodes } => modes.extend(role(nodes).map(|r| format!("replace-{r}"))),
        Action::Partition { grudge } => {
            if let Some(l) = leader {
                // The leader's side: the nodes it still exchanges packets with, both ways.
                let dropped = |a: &NodeName, b: &NodeName| {
                    grudge
                        .0
                        .get(a)
                        .is_some_and(|d: &BTreeSet<NodeName>| d.contains(b))
                };
                let side = names
                    .iter()
                    .filter(|n| *n == l || (!dropped(l, n) && !dropped(n, l)))
                    .count();
                let where_ = if 2 * side > names.len() {
                    "majority"
                } else {
                    "minority"
                };
                modes.push(format!("partition-leader-{where_}"));
            }
            if let FaultSpec::Partition { pattern } = spec {
                if PATTERNS.contains(&pattern.name()) {
                    modes.push(format!("partition-{}", pattern.name()));
                }
            }
        }
        _ => {}
    }
    modes
}

/// Coverage per mode: how many windows of each mode were applied, and observed in effect.
pub fn mode_coverage(faults: &[FaultRecord]) -> BTreeMap<String, ModeCoverage> {
    let mut map: BTreeMap<String, ModeCoverage> = BTreeMap::new();
    for f in faults.iter().filter(|f| f.status == FaultStatus::Applied) {
        for m in &f.modes {
            let c = map.entry(m.clone()).or_default();
            c.applied += 1;
            if f.observed == Some(true) {
                c.observed += 1;
            }
        }
    }
    map
}

/// What the campaign required and the run did not cover (applied and observed at least once):
/// each kind it lists, and each mode of `nemesis.require`.
pub fn missing(
    required: &[String],
    kinds: &BTreeMap<String, Coverage>,
    modes: &BTreeMap<String, ModeCoverage>,
) -> Vec<String> {
    required
        .iter()
        .filter(|r| {
            let (applied, observed) = match kinds.get(*r) {
                Some(c) => (c.applied, c.observed),
                None => modes.get(*r).map_or((0, 0), |c| (c.applied, c.observed)),
            };
            applied == 0 || observed == 0
        })
        .map(|r| {
            let (applied, observed) = kinds
                .get(r)
                .map(|c| (c.applied, c.observed))
                .or_else(|| modes.get(r).map(|c| (c.applied, c.observed)))
                .unwrap_or((0, 0));
            format!("{r} (applied {applied}, observed {observed})")
        })
        .collect()
}

/// Coverage per kind from the fault records; kinds the campaign asked for appear even at zero.
pub fn coverage(kinds: &[String], faults: &[FaultRecord]) -> BTreeMap<String, Coverage> {
    let mut map: BTreeMap<String, Coverage> = kinds
        .iter()
        .map(|k| (k.clone(), Coverage::default()))
        .collect();
    for f in faults {
        let c = map.entry(f.kind.clone()).or_default();
        c.scheduled += 1;
        match f.status {
            FaultStatus::Applied => c.applied += 1,
            FaultStatus::Skipped => c.skipped += 1,
            FaultStatus::Failed => c.failed += 1,
            FaultStatus::NotReached => {}
        }
        if f.observed == Some(true) {
            c.observed += 1;
        }
    }
    map
}

/// Notes that keep a run whose faults did not take effect from passing silently: a kind
/// applied but never observed, or failing, makes the verdict at best unknown.
pub fn coverage_notes(coverage: &BTreeMap<String, Coverage>) -> (Vec<String>, bool) {
    let mut notes = Vec::new();
    let mut undermined = false;
    for (kind, c) in coverage {
        if c.failed > 0 {
            undermined = true;
            notes.push(format!(
                "{kind}: {} of {} windows failed to apply",
                c.failed, c.scheduled
            ));
        }
        if c.applied > 0 && c.observed == 0 {
            undermined = true;
            notes.push(format!(
                "{kind}: applied {} times but its effect was never observed",
                c.applied
            ));
        }
        if c.scheduled == 0 {
            notes.push(format!(
                "{kind}: asked for but never scheduled in this run (try a longer duration)"
            ));
        } else if c.applied == 0 && c.failed == 0 {
            notes.push(format!(
                "{kind}: scheduled {} times, never applied",
                c.scheduled
            ));
        }
    }
    (notes, undermined)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: &str, status: FaultStatus, observed: Option<bool>) -> FaultRecord {
        FaultRecord {
            window: 0,
            kind: kind.into(),
            at_ms: 0,
            duration_ms: 0,
            start_ns: None,
            end_ns: None,
            action: None,
            status,
            observed,
            effect: None,
            error: None,
            modes: Vec::new(),
        }
    }

    fn names(n: usize) -> Vec<NodeName> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    fn grudge(pairs: &[(&str, &[&str])]) -> nemesis::fault::Grudge {
        nemesis::fault::Grudge(
            pairs
                .iter()
                .map(|(a, bs)| (a.to_string(), bs.iter().map(|b| b.to_string()).collect()))
                .collect(),
        )
    }

    /// Whom a fault hit and where a partition left the leader, from the action and the leader
    /// when it started; the pattern it was asked for.
    #[test]
    fn modes_say_whom_a_fault_hit_and_where_the_leader_ended() {
        use nemesis::partition::Pattern;
        use nemesis::target::Target;
        let n = names(5);
        let leader = "n1".to_string();
        let kill = FaultSpec::Kill {
            target: Target::RandomNode,
        };
        let hit = |nodes: &[&str]| Action::Kill {
            nodes: nodes.iter().map(|s| s.to_string()).collect(),
        };
        assert_eq!(
            modes_of(&kill, &hit(&["n1"]), Some(&leader), &n),
            ["kill-leader"]
        );
        assert_eq!(
            modes_of(&kill, &hit(&["n3"]), Some(&leader), &n),
            ["kill-follower"]
        );
        assert!(modes_of(&kill, &hit(&["n3"]), None, &n).is_empty());
        let halves = FaultSpec::Partition {
            pattern: Pattern::Halves,
        };
        // n1, n2 | n3, n4, n5: the leader is in the minority.
        let minority = Action::Partition {
            grudge: grudge(&[
                ("n1", &["n3", "n4", "n5"]),
                ("n2", &["n3", "n4", "n5"]),
                ("n3", &["n1", "n2"]),
                ("n4", &["n1", "n2"]),
                ("n5", &["n1", "n2"]),
            ]),
        };
        assert_eq!(
            modes_of(&halves, &minority, Some(&leader), &n),
            ["partition-leader-minority", "partition-halves"]
        );
        let three = "n3".to_string();
        assert_eq!(
            modes_of(&halves, &minority, Some(&three), &n),
            ["partition-leader-majority", "partition-halves"]
        );
    }

    /// Every kind listed and every required mode must be applied and observed at least once.
    #[test]
    fn required_coverage_names_what_is_missing() {
        let mut kill = record("kill", FaultStatus::Applied, Some(true));
        kill.modes = vec!["kill-follower".into()];
        let mut pause = record("pause", FaultStatus::Applied, Some(false));
        pause.modes = vec!["pause-leader".into()];
        let faults = [kill, pause];
        let kinds = coverage(&["kill".into(), "pause".into()], &faults);
        let modes = mode_coverage(&faults);
        assert_eq!(
            modes["kill-follower"],
            ModeCoverage {
                applied: 1,
                observed: 1
            }
        );
        let required: Vec<String> = ["kill", "pause", "kill-leader", "kill-follower"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            missing(&required, &kinds, &modes),
            [
                "pause (applied 1, observed 0)",
                "kill-leader (applied 0, observed 0)"
            ]
        );
        assert_eq!(kind_of_mode("partition-leader-minority"), Some("partition"));
        assert_eq!(kind_of_mode("partition-bridge"), Some("partition"));
        assert_eq!(kind_of_mode("kill-everyone"), None);
    }

    #[test]
    fn faults_that_never_took_effect_are_reported() {
        let faults = vec![
            record("kill", FaultStatus::Applied, Some(true)),
            record("pause", FaultStatus::Applied, Some(false)),
        ];
        let cov = coverage(
            &["kill".into(), "pause".into(), "partition".into()],
            &faults,
        );
        assert_eq!(cov["kill"].observed, 1);
        let (notes, undermined) = coverage_notes(&cov);
        assert!(undermined);
        assert!(
            notes
                .iter()
                .any(|n| n.starts_with("pause: applied 1 times")),
            "{notes:?}"
        );
        assert!(
            notes.iter().any(|n| n.starts_with("partition: asked for")),
            "{notes:?}"
        );
    }

    #[test]
    fn observed_faults_do_not_undermine() {
        let cov = coverage(
            &["kill".into()],
            &[record("kill", FaultStatus::Applied, Some(true))],
        );
        assert_eq!(coverage_notes(&cov), (vec![], false));
    }
}
