//! Fault windows over the run: generated from a seed (a random fault every so often), or given
//! explicitly. Targets are resolved per window from their own RNG stream, so the same seed gives
//! the same faults on the same nodes whatever the clients do (only `leader` depends on the run).

use std::time::Duration;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::action::Action;
use crate::clock::ClockRate;
use crate::fault::NodeName;
use crate::link::{Delay, LinkPattern, Percent, Rate};
use crate::partition::Pattern;
use crate::target::Target;
use crate::Error;

/// A fault as the campaign names it: which kind, aimed at what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "fault")]
pub enum FaultSpec {
    Kill {
        target: Target,
    },
    Pause {
        target: Target,
    },
    Partition {
        pattern: Pattern,
    },
    Loss {
        pattern: LinkPattern,
        percent: Percent,
    },
    Slow {
        pattern: LinkPattern,
        rate: Rate,
    },
    Delay {
        pattern: LinkPattern,
        delay: Delay,
    },
    /// Move the targets' clocks by `offset_secs` (negative: back) for the window, and with
    /// `rate` make them run that much faster or slower; with `strobe_ms`, back and forth between
    /// the offset and real time every `strobe_ms`.
    Clock {
        target: Target,
        offset_secs: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rate: Option<ClockRate>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        strobe_ms: Option<u64>,
    },
    /// Take the targets out of the Raft configuration for the window (they keep running), then
    /// add them back: a learner first, a voter once caught up.
    Remove {
        target: Target,
    },
    /// Replace the targets, one at a time: each is taken out of the configuration, its volume is
    /// wiped, and a new node with an empty volume (same name and address) joins as a learner,
    /// catches up (from a snapshot when the log is compacted) and becomes a voter.
    Replace {
        target: Target,
    },
}

impl FaultSpec {
    /// Every fault kind, as [`FaultSpec::kind`] names them, in the order people read them.
    pub const KINDS: &'static [&'static str] = &[
        "kill",
        "pause",
        "partition",
        "loss",
        "slow",
        "delay",
        "clock",
        "remove",
        "replace",
    ];

    /// The fault kind, as recorded in histories and coverage (`kill`, `pause`, `partition`,
    /// `loss`, `slow`, `delay`).
    pub fn kind(&self) -> &'static str {
        match self {
            FaultSpec::Kill { .. } => "kill",
            FaultSpec::Pause { .. } => "pause",
            FaultSpec::Partition { .. } => "partition",
            FaultSpec::Loss { .. } => "loss",
            FaultSpec::Slow { .. } => "slow",
            FaultSpec::Delay { .. } => "delay",
            FaultSpec::Clock { .. } => "clock",
            FaultSpec::Remove { .. } => "remove",
            FaultSpec::Replace { .. } => "replace",
        }
    }

    /// Whether the fault changes the cluster's Raft configuration.
    pub fn is_membership(&self) -> bool {
        matches!(self, FaultSpec::Remove { .. } | FaultSpec::Replace { .. })
    }

    /// Whether resolving the fault needs the current leader.
    pub fn needs_leader(&self) -> bool {
        match self {
            FaultSpec::Kill { target }
            | FaultSpec::Pause { target }
            | FaultSpec::Clock { target, .. }
            | FaultSpec::Remove { target }
            | FaultSpec::Replace { target } => *target == Target::Leader,
            FaultSpec::Partition { pattern } => *pattern == Pattern::IsolateLeader,
            FaultSpec::Loss { pattern, .. }
            | FaultSpec::Slow { pattern, .. }
            | FaultSpec::Delay { pattern, .. } => pattern.needs_leader(),
        }
    }

    /// `kill leader`, `loss 30% halves`, ... for people.
    pub fn describe(&self) -> String {
        match self {
            FaultSpec::Kill { target } => format!("kill {target}"),
            FaultSpec::Pause { target } => format!("pause {target}"),
            FaultSpec::Partition { pattern } => format!("partition {pattern}"),
            FaultSpec::Loss { pattern, percent } => format!("loss {percent} {pattern}"),
            FaultSpec::Slow { pattern, rate } => format!("slow {rate} {pattern}"),
            FaultSpec::Delay { pattern, delay } => format!("delay {delay} {pattern}"),
            FaultSpec::Clock {
                target,
                offset_secs,
                rate: Some(rate),
                ..
            } if *offset_secs == 0 => format!("clock {rate} {target}"),
            FaultSpec::Clock {
                target,
                offset_secs,
                rate: Some(rate),
                ..
            } => format!("clock {offset_secs:+}s {rate} {target}"),
            FaultSpec::Clock {
                target,
                offset_secs,
                rate: None,
                strobe_ms: None,
            } => format!("clock {offset_secs:+}s {target}"),
            FaultSpec::Clock {
                target,
                offset_secs,
                rate: None,
                strobe_ms: Some(ms),
            } => format!("clock {offset_secs:+}s {target} strobed every {ms}ms"),
            FaultSpec::Remove { target } => format!("remove {target} from the configuration"),
            FaultSpec::Replace { target } => format!("replace {target} by an empty node"),
        }
    }

    /// The concrete step that starts this fault now.
    pub fn resolve<R: Rng>(
        &self,
        nodes: &[NodeName],
        leader: Option<&NodeName>,
        rng: &mut R,
    ) -> Result<Action, Error> {
        Ok(match self {
            FaultSpec::Kill { target } => Action::Kill {
                nodes: target.resolve(nodes, leader, rng)?,
            },
            FaultSpec::Pause { target } => Action::Pause {
                nodes: target.resolve(nodes, leader, rng)?,
            },
            FaultSpec::Partition { pattern } => Action::Partition {
                grudge: pattern.grudge(nodes, leader, rng)?,
            },
            FaultSpec::Loss { pattern, percent } => Action::Loss {
                links: pattern.links(nodes, leader, rng)?,
                percent: *percent,
            },
            FaultSpec::Slow { pattern, rate } => Action::Slow {
                links: pattern.links(nodes, leader, rng)?,
                rate: *rate,
            },
            FaultSpec::Delay { pattern, delay } => Action::Delay {
                links: pattern.links(nodes, leader, rng)?,
                delay: *delay,
            },
            FaultSpec::Clock {
                target,
                offset_secs,
                rate,
                strobe_ms,
            } => Action::Clock {
                nodes: target.resolve(nodes, leader, rng)?,
                offset_secs: *offset_secs,
                rate: *rate,
                strobe_ms: *strobe_ms,
            },
            FaultSpec::Remove { target } => Action::Remove {
                nodes: target.resolve(nodes, leader, rng)?,
            },
            FaultSpec::Replace { target } => Action::Replace {
                nodes: target.resolve(nodes, leader, rng)?,
            },
        })
    }

    /// The spec that repeats exactly this action (for `--replay`).
    pub fn exact(action: &Action) -> Option<FaultSpec> {
        match action {
            Action::Kill { nodes } => Some(FaultSpec::Kill {
                target: Target::Nodes(nodes.clone()),
            }),
            Action::Pause { nodes } => Some(FaultSpec::Pause {
                target: Target::Nodes(nodes.clone()),
            }),
            Action::Partition { grudge } => Some(FaultSpec::Partition {
                pattern: Pattern::Grudge(grudge.clone()),
            }),
            Action::Loss { links, percent } => Some(FaultSpec::Loss {
                pattern: LinkPattern::Cut(Pattern::Grudge(links.clone())),
                percent: *percent,
            }),
            Action::Slow { links, rate } => Some(FaultSpec::Slow {
                pattern: LinkPattern::Cut(Pattern::Grudge(links.clone())),
                rate: *rate,
            }),
            Action::Delay { links, delay } => Some(FaultSpec::Delay {
                pattern: LinkPattern::Cut(Pattern::Grudge(links.clone())),
                delay: *delay,
            }),
            Action::Clock {
                nodes,
                offset_secs,
                rate,
                strobe_ms,
            } => Some(FaultSpec::Clock {
                target: Target::Nodes(nodes.clone()),
                offset_secs: *offset_secs,
                rate: *rate,
                strobe_ms: *strobe_ms,
            }),
            Action::Remove { nodes } => Some(FaultSpec::Remove {
                target: Target::Nodes(nodes.clone()),
            }),
            Action::Replace { nodes } => Some(FaultSpec::Replace {
                target: Target::Nodes(nodes.clone()),
            }),
            Action::Start { .. }
            | Action::Add { .. }
            | Action::Resume { .. }
            | Action::Heal
            | Action::Restore { .. }
            | Action::ResetClocks { .. } => None,
        }
    }
}

/// One fault window: the fault starts `at` after the run began and is undone `duration` later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    #[serde(with = "millis")]
    pub at: Duration,
    #[serde(with = "millis")]
    pub duration: Duration,
    #[serde(flatten)]
    pub fault: FaultSpec,
}

/// How to generate a schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleConfig {
    /// Faults to draw from, uniformly.
    pub faults: Vec<FaultSpec>,
    /// Mean healthy gap before each window (each gap is drawn from 0.5x to 1.5x of it).
    pub interval: Duration,
    /// How long each fault lasts.
    pub duration: Duration,
    /// No window may end after this offset (the run's length).
    pub horizon: Duration,
}

/// Draws faults in shuffled rounds: each round takes every kind listed once, in a random
/// order; within a kind, its faults too come in shuffled rounds. So `k` kinds are all drawn by
/// the `k`th window, and a kind with several faults (`kill: leader`, `kill: random-node`) cycles
/// through them, as a deck is dealt before it is shuffled again.
struct Rounds<'a> {
    kinds: Vec<Vec<&'a FaultSpec>>,
    kind_bag: Vec<usize>,
    spec_bags: Vec<Vec<usize>>,
}

impl<'a> Rounds<'a> {
    fn new(faults: &'a [FaultSpec]) -> Rounds<'a> {
        let mut kinds: Vec<Vec<&FaultSpec>> = Vec::new();
        let mut names: Vec<&str> = Vec::new();
        for f in faults {
            match names.iter().position(|n| *n == f.kind()) {
                Some(i) => kinds[i].push(f),
                None => {
                    names.push(f.kind());
                    kinds.push(vec![f]);
                }
            }
        }
        let spec_bags = vec![Vec::new(); kinds.len()];
        Rounds {
            kinds,
            kind_bag: Vec::new(),
            spec_bags,
        }
    }

    fn next(&mut self, rng: &mut ChaCha8Rng) -> &'a FaultSpec {
        if self.kind_bag.is_empty() {
            self.kind_bag = (0..self.kinds.len()).collect();
            self.kind_bag.shuffle(rng);
        }
        let kind = self.kind_bag.pop().expect("refilled above");
        let bag = &mut self.spec_bags[kind];
        if bag.is_empty() {
            *bag = (0..self.kinds[kind].len()).collect();
            bag.shuffle(rng);
        }
        self.kinds[kind][bag.pop().expect("refilled above")]
    }
}

/// The fault windows of a run, ordered by start time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub seed: u64,
    pub windows: Vec<Window>,
}

impl Schedule {
    /// Random windows from the seed: a healthy gap, then a fault, until the horizon. Faults are
    /// drawn in shuffled rounds (see [`Rounds`]), so that every kind listed appears within the
    /// first windows instead of whenever chance allows.
    pub fn generate(config: &ScheduleConfig, seed: u64) -> Schedule {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // Stream 0 draws timings and kinds; streams 1.. resolve each window's targets.
        rng.set_stream(0);
        let mut windows = Vec::new();
        let mut t = Duration::ZERO;
        if config.faults.is_empty() || config.duration.is_zero() {
            return Schedule { seed, windows };
        }
        let mut rounds = Rounds::new(&config.faults);
        loop {
            let gap = config.interval.mul_f64(rng.gen_range(0.5..1.5));
            let at = t + gap;
            if at + config.duration > config.horizon {
                break;
            }
            let fault = rounds.next(&mut rng).clone();
            windows.push(Window {
                at,
                duration: config.duration,
                fault,
            });
            t = at + config.duration;
        }
        Schedule { seed, windows }
    }

    /// Windows given by hand, sorted by start time.
    pub fn explicit(mut windows: Vec<Window>, seed: u64) -> Schedule {
        windows.sort_by_key(|w| w.at);
        Schedule { seed, windows }
    }

    /// The RNG that resolves window `index`'s targets: independent of everything else in the run.
    pub fn target_rng(&self, index: usize) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(index as u64 + 1);
        rng
    }

    /// The moments the nemesis acts, in order: each window's start and its end.
    pub fn timeline(&self) -> Vec<Step> {
        let mut steps: Vec<Step> = self
            .windows
            .iter()
            .enumerate()
            .flat_map(|(i, w)| {
                [
                    Step {
                        at: w.at,
                        window: i,
                        start: true,
                    },
                    Step {
                        at: w.at + w.duration,
                        window: i,
                        start: false,
                    },
                ]
            })
            .collect();
        // Ends before starts at the same instant, so back-to-back windows do not overlap.
        steps.sort_by_key(|s| (s.at, s.start, s.window));
        steps
    }
}

/// One moment in the timeline: window `window` starts (or ends) at `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub at: Duration,
    pub window: usize,
    pub start: bool,
}

/// Durations as integer milliseconds in JSON.
pub mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ScheduleConfig {
        ScheduleConfig {
            faults: vec![
                FaultSpec::Kill {
                    target: Target::RandomNode,
                },
                FaultSpec::Pause {
                    target: Target::Minority,
                },
                FaultSpec::Partition {
                    pattern: Pattern::MajoritiesRing,
                },
            ],
            interval: Duration::from_secs(5),
            duration: Duration::from_secs(3),
            horizon: Duration::from_secs(120),
        }
    }

    fn nodes() -> Vec<NodeName> {
        (1..=5).map(|i| format!("n{i}")).collect()
    }

    fn resolved(s: &Schedule) -> Vec<Action> {
        s.windows
            .iter()
            .enumerate()
            .map(|(i, w)| {
                w.fault
                    .resolve(&nodes(), None, &mut s.target_rng(i))
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn same_seed_same_schedule_and_targets() {
        let a = Schedule::generate(&config(), 42);
        let b = Schedule::generate(&config(), 42);
        assert_eq!(a, b);
        assert_eq!(resolved(&a), resolved(&b));
        assert!(a.windows.len() >= 10, "{} windows", a.windows.len());
    }

    #[test]
    fn different_seeds_differ() {
        let a = Schedule::generate(&config(), 1);
        let b = Schedule::generate(&config(), 2);
        assert_ne!(a.windows, b.windows);
    }

    #[test]
    fn windows_do_not_overlap_and_end_before_the_horizon() {
        let s = Schedule::generate(&config(), 9);
        for pair in s.windows.windows(2) {
            assert!(pair[0].at + pair[0].duration <= pair[1].at);
        }
        let last = s.windows.last().unwrap();
        assert!(last.at + last.duration <= config().horizon);
        // Every kind appears over 120 s with ~20 windows.
        for kind in ["kill", "pause", "partition"] {
            assert!(s.windows.iter().any(|w| w.fault.kind() == kind), "{kind}");
        }
    }

    /// Rounds: every kind within the first `k` windows (`k` kinds), and each kind's faults in
    /// turn, for every seed.
    #[test]
    fn every_kind_is_drawn_in_the_first_round_and_each_fault_in_turn() {
        let kill = |target| FaultSpec::Kill { target };
        let partition = |pattern| FaultSpec::Partition { pattern };
        let faults = vec![
            kill(Target::RandomNode),
            kill(Target::Leader),
            FaultSpec::Pause {
                target: Target::Minority,
            },
            partition(Pattern::Halves),
            partition(Pattern::MajoritiesRing),
            partition(Pattern::Bridge),
        ];
        let config = ScheduleConfig {
            faults: faults.clone(),
            interval: Duration::from_secs(1),
            duration: Duration::from_secs(1),
            horizon: Duration::from_secs(200),
        };
        for seed in 0..200 {
            let s = Schedule::generate(&config, seed);
            let first: std::collections::BTreeSet<&str> =
                s.windows[..3].iter().map(|w| w.fault.kind()).collect();
            assert_eq!(first.len(), 3, "seed {seed}: {:?}", s.windows);
            // Within 3 rounds of kinds, the three partitions have each come once.
            let partitions: Vec<&FaultSpec> = s
                .windows
                .iter()
                .filter(|w| w.fault.kind() == "partition")
                .map(|w| &w.fault)
                .take(3)
                .collect();
            for p in &faults[3..] {
                assert!(
                    partitions.contains(&p),
                    "seed {seed}: {p:?} not among {partitions:?}"
                );
            }
        }
    }

    #[test]
    fn timeline_ends_a_window_before_the_next_starts() {
        let s = Schedule::explicit(
            vec![
                Window {
                    at: Duration::from_secs(2),
                    duration: Duration::from_secs(1),
                    fault: FaultSpec::Kill {
                        target: Target::Leader,
                    },
                },
                Window {
                    at: Duration::from_secs(1),
                    duration: Duration::from_secs(1),
                    fault: FaultSpec::Pause {
                        target: Target::All,
                    },
                },
            ],
            0,
        );
        let steps: Vec<(u64, usize, bool)> = s
            .timeline()
            .iter()
            .map(|st| (st.at.as_secs(), st.window, st.start))
            .collect();
        assert_eq!(
            steps,
            vec![(1, 0, true), (2, 0, false), (2, 1, true), (3, 1, false)]
        );
    }

    #[test]
    fn exact_specs_replay_the_same_action() {
        for action in resolved(&Schedule::generate(&config(), 5)) {
            let spec = FaultSpec::exact(&action).unwrap();
            let again = spec
                .resolve(&nodes(), None, &mut ChaCha8Rng::seed_from_u64(99))
                .unwrap();
            assert_eq!(again, action);
        }
    }

    #[test]
    fn link_faults_are_drawn_resolved_and_replayed_exactly() {
        let mut c = config();
        c.faults = vec![
            FaultSpec::Loss {
                pattern: LinkPattern::All,
                percent: Percent::new(30.0).unwrap(),
            },
            FaultSpec::Slow {
                pattern: "halves".parse().unwrap(),
                rate: "1mbit".parse().unwrap(),
            },
            FaultSpec::Delay {
                pattern: "isolate-one".parse().unwrap(),
                delay: Delay {
                    ms: 100,
                    jitter_ms: 20,
                },
            },
        ];
        let s = Schedule::generate(&c, 3);
        for kind in ["loss", "slow", "delay"] {
            assert!(s.windows.iter().any(|w| w.fault.kind() == kind), "{kind}");
        }
        for (i, w) in s.windows.iter().enumerate() {
            let action = w
                .fault
                .resolve(&nodes(), None, &mut s.target_rng(i))
                .unwrap();
            assert_eq!(action.name(), w.fault.kind());
            let links = action.link_fault().unwrap().links;
            assert!(!links.0.is_empty());
            let again = FaultSpec::exact(&action)
                .unwrap()
                .resolve(&nodes(), None, &mut ChaCha8Rng::seed_from_u64(99))
                .unwrap();
            assert_eq!(again, action);
        }
    }

    #[test]
    fn clock_windows_resolve_serialize_and_replay() {
        let w = Window {
            at: Duration::from_secs(1),
            duration: Duration::from_secs(2),
            fault: FaultSpec::Clock {
                target: Target::RandomNode,
                offset_secs: -90,
                rate: None,
                strobe_ms: None,
            },
        };
        let json = serde_json::to_value(&w).unwrap();
        assert_eq!(json["fault"], "clock");
        assert_eq!(json["offset_secs"], -90);
        assert_eq!(serde_json::from_value::<Window>(json).unwrap(), w);
        assert_eq!(w.fault.describe(), "clock -90s random-node");
        let action = w
            .fault
            .resolve(&nodes(), None, &mut ChaCha8Rng::seed_from_u64(1))
            .unwrap();
        assert_eq!(action.nodes().len(), 1);
        let again = FaultSpec::exact(&action)
            .unwrap()
            .resolve(&nodes(), None, &mut ChaCha8Rng::seed_from_u64(2))
            .unwrap();
        assert_eq!(again, action);
        let skew = FaultSpec::Clock {
            target: Target::Leader,
            offset_secs: 0,
            rate: ClockRate::new(0.5).ok(),
            strobe_ms: None,
        };
        assert_eq!(skew.describe(), "clock x0.5 leader");
        let json = serde_json::to_value(&skew).unwrap();
        assert_eq!(json["rate"], 0.5);
        assert_eq!(serde_json::from_value::<FaultSpec>(json).unwrap(), skew);
    }

    #[test]
    fn link_windows_serialize_and_read_back() {
        let w = Window {
            at: Duration::from_secs(1),
            duration: Duration::from_secs(2),
            fault: FaultSpec::Loss {
                pattern: "halves".parse().unwrap(),
                percent: Percent::new(30.0).unwrap(),
            },
        };
        let json = serde_json::to_value(&w).unwrap();
        assert_eq!(json["fault"], "loss");
        assert_eq!(json["percent"], 30.0);
        assert_eq!(serde_json::from_value::<Window>(json).unwrap(), w);
        assert_eq!(w.fault.describe(), "loss 30% halves");
        assert!(!w.fault.needs_leader());
    }

    #[test]
    fn windows_serialize_as_flat_json() {
        let w = Window {
            at: Duration::from_millis(1500),
            duration: Duration::from_secs(2),
            fault: FaultSpec::Kill {
                target: Target::Leader,
            },
        };
        let json = serde_json::to_value(&w).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"at":1500,"duration":2000,"fault":"kill","target":"leader"})
        );
        assert_eq!(serde_json::from_value::<Window>(json).unwrap(), w);
    }
}
