//! Concrete faults, in inverse pairs, and the final "heal everything" step.

use serde::{Deserialize, Serialize};

use crate::clock::{ClockRate, ClockShift};
use crate::fault::{FaultExecutor, Grudge, NodeName};
use crate::link::{Delay, LinkFault, LinkKind, Percent, Rate, Shape};

/// One concrete step the nemesis takes against the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "f")]
pub enum Action {
    Kill {
        nodes: Vec<NodeName>,
    },
    Start {
        nodes: Vec<NodeName>,
    },
    Pause {
        nodes: Vec<NodeName>,
    },
    Resume {
        nodes: Vec<NodeName>,
    },
    Partition {
        grudge: Grudge,
    },
    Heal,
    /// Drop a share of the packets on these links (receiver -> senders).
    Loss {
        links: Grudge,
        percent: Percent,
    },
    /// Limit the bandwidth of these links.
    Slow {
        links: Grudge,
        rate: Rate,
    },
    /// Delay the packets on these links.
    Delay {
        links: Grudge,
        delay: Delay,
    },
    /// Undo every link fault of one kind.
    Restore {
        link: LinkKind,
    },
    /// Move these nodes' clocks by `offset_secs` (negative: back), and with `rate` make them run
    /// that much faster or slower from then on. With `strobe_ms` the clocks go back and forth
    /// between the offset and real time every `strobe_ms` for the window: applying the step sets
    /// the offset, and the nemesis toggles (see [`strobe`]).
    Clock {
        nodes: Vec<NodeName>,
        offset_secs: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rate: Option<ClockRate>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        strobe_ms: Option<u64>,
    },
    /// Put these nodes' clocks back to real time.
    ResetClocks {
        nodes: Vec<NodeName>,
    },
    /// Take these nodes out of the Raft configuration; they keep running.
    Remove {
        nodes: Vec<NodeName>,
    },
    /// Make these nodes voters again (learner first); a no-op for nodes that are voters.
    Add {
        nodes: Vec<NodeName>,
    },
    /// Replace these nodes, one at a time, by new nodes with empty volumes that join.
    Replace {
        nodes: Vec<NodeName>,
    },
}

impl Action {
    /// The step that undoes this one.
    pub fn inverse(&self) -> Action {
        match self {
            Action::Kill { nodes } => Action::Start {
                nodes: nodes.clone(),
            },
            Action::Start { nodes } => Action::Kill {
                nodes: nodes.clone(),
            },
            Action::Pause { nodes } => Action::Resume {
                nodes: nodes.clone(),
            },
            Action::Resume { nodes } => Action::Pause {
                nodes: nodes.clone(),
            },
            // Healing removes every rule, so a heal has no single inverse: re-partitioning would
            // need the grudge, which only the partition knows. Heal inverts to itself.
            Action::Partition { .. } | Action::Heal => Action::Heal,
            // Likewise a link fault is undone by restoring its kind, which restores to itself.
            Action::Loss { .. } | Action::Slow { .. } | Action::Delay { .. } => Action::Restore {
                link: self.link_fault().expect("a link action").shape.kind(),
            },
            Action::Restore { link } => Action::Restore { link: *link },
            Action::Clock { nodes, .. } | Action::ResetClocks { nodes } => Action::ResetClocks {
                nodes: nodes.clone(),
            },
            Action::Remove { nodes } => Action::Add {
                nodes: nodes.clone(),
            },
            Action::Add { nodes } => Action::Remove {
                nodes: nodes.clone(),
            },
            // A replacement is done when its new node is a voter; its window's end makes sure.
            Action::Replace { nodes } => Action::Add {
                nodes: nodes.clone(),
            },
        }
    }

    /// The link fault a loss, slow or delay step applies.
    pub fn link_fault(&self) -> Option<LinkFault> {
        let (links, shape) = match self {
            Action::Loss { links, percent } => (links, Shape::Loss(*percent)),
            Action::Slow { links, rate } => (links, Shape::Slow(*rate)),
            Action::Delay { links, delay } => (links, Shape::Delay(*delay)),
            _ => return None,
        };
        Some(LinkFault {
            links: links.clone(),
            shape,
        })
    }

    /// The step that applies a link fault.
    pub fn from_link_fault(fault: LinkFault) -> Action {
        let links = fault.links;
        match fault.shape {
            Shape::Loss(percent) => Action::Loss { links, percent },
            Shape::Slow(rate) => Action::Slow { links, rate },
            Shape::Delay(delay) => Action::Delay { links, delay },
        }
    }

    /// The name recorded as the nemesis event's `f`.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Kill { .. } => "kill",
            Action::Start { .. } => "start",
            Action::Pause { .. } => "pause",
            Action::Resume { .. } => "resume",
            Action::Partition { .. } => "partition",
            Action::Heal => "heal",
            Action::Loss { .. } => "loss",
            Action::Slow { .. } => "slow",
            Action::Delay { .. } => "delay",
            Action::Restore { link } => match link {
                LinkKind::Loss => "heal-loss",
                LinkKind::Slow => "heal-slow",
                LinkKind::Delay => "heal-delay",
            },
            Action::Clock { .. } => "clock",
            Action::ResetClocks { .. } => "reset-clock",
            Action::Remove { .. } => "remove",
            Action::Add { .. } => "add",
            Action::Replace { .. } => "replace",
        }
    }

    /// The nodes the step names (every node in a grudge, for partitions).
    pub fn nodes(&self) -> Vec<NodeName> {
        match self {
            Action::Kill { nodes }
            | Action::Start { nodes }
            | Action::Pause { nodes }
            | Action::Resume { nodes }
            | Action::Clock { nodes, .. }
            | Action::ResetClocks { nodes }
            | Action::Remove { nodes }
            | Action::Add { nodes }
            | Action::Replace { nodes } => nodes.clone(),
            Action::Loss { links, .. }
            | Action::Slow { links, .. }
            | Action::Delay { links, .. } => {
                // Both ends of every degraded link.
                let all: std::collections::BTreeSet<NodeName> = links
                    .0
                    .iter()
                    .filter(|(_, senders)| !senders.is_empty())
                    .flat_map(|(n, senders)| std::iter::once(n).chain(senders))
                    .cloned()
                    .collect();
                all.into_iter().collect()
            }
            Action::Partition { grudge } => {
                let mut all: Vec<NodeName> = grudge
                    .0
                    .iter()
                    .filter(|(_, dropped)| !dropped.is_empty())
                    .map(|(n, _)| n.clone())
                    .collect();
                all.sort();
                all
            }
            Action::Heal | Action::Restore { .. } => Vec::new(),
        }
    }

    /// Runs the step through the executor.
    pub async fn apply<E: FaultExecutor>(&self, exec: &E) -> Result<(), E::Error> {
        tracing::info!(target: "faultline::nemesis", action = self.name(), nodes = ?self.nodes(), "applying");
        match self {
            Action::Kill { nodes } => exec.kill(nodes).await,
            Action::Start { nodes } => exec.start(nodes).await,
            Action::Pause { nodes } => exec.pause(nodes).await,
            Action::Resume { nodes } => exec.resume(nodes).await,
            Action::Partition { grudge } => exec.partition(grudge).await,
            Action::Heal => exec.heal().await,
            Action::Loss { .. } | Action::Slow { .. } | Action::Delay { .. } => {
                let fault = self.link_fault().expect("a link action");
                exec.degrade(&fault).await
            }
            Action::Restore { link } => exec.restore(*link).await,
            Action::Clock {
                nodes,
                offset_secs,
                rate,
                ..
            } => {
                let shift = ClockShift {
                    offset_secs: *offset_secs,
                    rate: *rate,
                };
                exec.bump_clock(nodes, shift).await
            }
            Action::ResetClocks { nodes } => exec.reset_clocks(nodes).await,
            Action::Remove { nodes } => exec.remove_members(nodes).await,
            Action::Add { nodes } => exec.add_members(nodes).await,
            Action::Replace { nodes } => exec.replace_members(nodes).await,
        }
    }
}

/// Strobes the clocks of a [`Action::Clock`] step with `strobe_ms`, already set to
/// `offset_secs`: back to real time, then to the offset again, and so on, once per `wait`.
/// `wait(period)` waits one period and answers whether to go on (false ends the strobe, e.g. at
/// the end of the window). Returns how many times it toggled, or the first toggle that failed.
/// The caller resets the clocks afterwards, as for any clock step.
pub async fn strobe<E, W, F>(
    exec: &E,
    nodes: &[NodeName],
    offset_secs: i64,
    period: std::time::Duration,
    mut wait: W,
) -> Result<u64, E::Error>
where
    E: FaultExecutor,
    W: FnMut(std::time::Duration) -> F,
    F: std::future::Future<Output = bool>,
{
    let mut toggles = 0;
    let mut shifted = true;
    while wait(period).await {
        if shifted {
            exec.reset_clocks(nodes).await?;
        } else {
            let shift = ClockShift {
                offset_secs,
                rate: None,
            };
            exec.bump_clock(nodes, shift).await?;
        }
        shifted = !shifted;
        toggles += 1;
    }
    Ok(toggles)
}

/// Every step of the final heal that failed. The other steps still ran.
#[derive(Debug, thiserror::Error)]
#[error("final heal failed: {}", .failures.iter().map(|(step, e)| format!("{step}: {e}")).collect::<Vec<_>>().join("; "))]
pub struct HealError<E: std::error::Error + 'static> {
    pub failures: Vec<(&'static str, E)>,
}

/// Brings the cluster back to health: heal partitions, restore every kind of degraded link, put
/// every clock back, resume paused nodes, start killed ones, and make every node a voter again
/// (last: a node must run to rejoin).
/// Every step runs even when an earlier one fails, since a half-healed cluster is worse than a
/// reported error. Executors must treat these on healthy nodes as no-ops.
pub async fn heal_all<E: FaultExecutor>(
    exec: &E,
    nodes: &[NodeName],
) -> Result<(), HealError<E::Error>> {
    let steps = [
        Action::Heal,
        Action::Restore {
            link: LinkKind::Loss,
        },
        Action::Restore {
            link: LinkKind::Slow,
        },
        Action::Restore {
            link: LinkKind::Delay,
        },
        Action::ResetClocks {
            nodes: nodes.to_vec(),
        },
        Action::Resume {
            nodes: nodes.to_vec(),
        },
        Action::Start {
            nodes: nodes.to_vec(),
        },
        Action::Add {
            nodes: nodes.to_vec(),
        },
    ];
    let mut failures = Vec::new();
    for step in &steps {
        if let Err(e) = step.apply(exec).await {
            tracing::error!(target: "faultline::nemesis", step = step.name(), error = %e, "final heal step failed");
            failures.push((step.name(), e));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(HealError { failures })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::sync::Mutex;
    use std::task::{Context, Poll, Waker};

    #[derive(Debug, thiserror::Error)]
    #[error("boom")]
    struct Boom;

    #[derive(Default)]
    struct Log {
        calls: Mutex<Vec<String>>,
        fail_resume: bool,
    }

    impl FaultExecutor for Log {
        type Error = Boom;
        async fn kill(&self, n: &[NodeName]) -> Result<(), Boom> {
            self.calls.lock().unwrap().push(format!("kill {n:?}"));
            Ok(())
        }
        async fn start(&self, n: &[NodeName]) -> Result<(), Boom> {
            self.calls.lock().unwrap().push(format!("start {n:?}"));
            Ok(())
        }
        async fn pause(&self, n: &[NodeName]) -> Result<(), Boom> {
            self.calls.lock().unwrap().push(format!("pause {n:?}"));
            Ok(())
        }
        async fn resume(&self, n: &[NodeName]) -> Result<(), Boom> {
            self.calls.lock().unwrap().push(format!("resume {n:?}"));
            if self.fail_resume {
                Err(Boom)
            } else {
                Ok(())
            }
        }
        async fn partition(&self, _g: &Grudge) -> Result<(), Boom> {
            self.calls.lock().unwrap().push("partition".into());
            Ok(())
        }
        async fn heal(&self) -> Result<(), Boom> {
            self.calls.lock().unwrap().push("heal".into());
            Ok(())
        }
        async fn degrade(&self, f: &LinkFault) -> Result<(), Boom> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("degrade {}", f.shape));
            Ok(())
        }
        async fn restore(&self, kind: LinkKind) -> Result<(), Boom> {
            self.calls.lock().unwrap().push(format!("restore {kind}"));
            Ok(())
        }
        async fn bump_clock(&self, n: &[NodeName], shift: ClockShift) -> Result<(), Boom> {
            let offset = shift.offset_secs;
            let rate = shift.rate.map(|r| format!(" {r}")).unwrap_or_default();
            self.calls
                .lock()
                .unwrap()
                .push(format!("clock {n:?} {offset:+}{rate}"));
            Ok(())
        }
        async fn reset_clocks(&self, n: &[NodeName]) -> Result<(), Boom> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("reset-clock {n:?}"));
            Ok(())
        }
        async fn remove_members(&self, n: &[NodeName]) -> Result<(), Boom> {
            self.calls.lock().unwrap().push(format!("remove {n:?}"));
            Ok(())
        }
        async fn add_members(&self, n: &[NodeName]) -> Result<(), Boom> {
            self.calls.lock().unwrap().push(format!("add {n:?}"));
            Ok(())
        }
        async fn replace_members(&self, n: &[NodeName]) -> Result<(), Boom> {
            self.calls.lock().unwrap().push(format!("replace {n:?}"));
            Ok(())
        }
    }

    /// The executor above never awaits anything, so one poll finishes the future.
    fn block_on<F: Future>(f: F) -> F::Output {
        let mut f = pin!(f);
        match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("test executor futures never pend"),
        }
    }

    #[test]
    fn inverses_pair_up() {
        let kill = Action::Kill {
            nodes: vec!["n1".into()],
        };
        assert_eq!(kill.inverse().inverse(), kill);
        assert_eq!(kill.inverse().name(), "start");
        let pause = Action::Pause {
            nodes: vec!["n2".into()],
        };
        assert_eq!(pause.inverse().name(), "resume");
        let part = Action::Partition {
            grudge: Grudge::default(),
        };
        assert_eq!(part.inverse(), Action::Heal);
    }

    #[test]
    fn a_clock_bump_is_undone_by_resetting_the_same_nodes() {
        let bump = Action::Clock {
            nodes: vec!["n2".into()],
            offset_secs: -30,
            rate: None,
            strobe_ms: None,
        };
        assert_eq!(
            bump.inverse(),
            Action::ResetClocks {
                nodes: vec!["n2".into()]
            }
        );
        assert_eq!(
            (bump.name(), bump.inverse().name()),
            ("clock", "reset-clock")
        );
        let exec = Log::default();
        block_on(bump.apply(&exec)).unwrap();
        block_on(bump.inverse().apply(&exec)).unwrap();
        assert_eq!(
            exec.calls.lock().unwrap().clone(),
            vec![
                "clock [\"n2\"] -30".to_string(),
                "reset-clock [\"n2\"]".into()
            ]
        );
    }

    #[test]
    fn a_rate_skew_is_applied_with_its_offset_and_undone_by_a_reset() {
        let skew = Action::Clock {
            nodes: vec!["n1".into()],
            offset_secs: 0,
            rate: ClockRate::new(1.5).ok(),
            strobe_ms: None,
        };
        let json = serde_json::to_value(&skew).unwrap();
        assert_eq!(json["rate"], 1.5);
        assert_eq!(serde_json::from_value::<Action>(json).unwrap(), skew);
        let exec = Log::default();
        block_on(skew.apply(&exec)).unwrap();
        block_on(skew.inverse().apply(&exec)).unwrap();
        assert_eq!(
            exec.calls.lock().unwrap().clone(),
            vec![
                "clock [\"n1\"] +0 x1.5".to_string(),
                "reset-clock [\"n1\"]".into()
            ]
        );
    }

    #[test]
    fn a_strobe_toggles_between_real_time_and_the_offset_until_told_to_stop() {
        let exec = Log::default();
        let nodes = vec!["n1".to_string()];
        let mut waits = 0;
        let toggles = block_on(strobe(
            &exec,
            &nodes,
            5,
            std::time::Duration::from_secs(2),
            |period| {
                assert_eq!(period.as_secs(), 2);
                waits += 1;
                std::future::ready(waits <= 3)
            },
        ))
        .unwrap();
        assert_eq!(toggles, 3);
        assert_eq!(
            exec.calls.lock().unwrap().clone(),
            vec![
                "reset-clock [\"n1\"]".to_string(),
                "clock [\"n1\"] +5".into(),
                "reset-clock [\"n1\"]".into()
            ]
        );
    }

    #[test]
    fn link_faults_are_undone_by_restoring_their_kind_only() {
        let mut links = Grudge::default();
        links
            .0
            .insert("n1".into(), ["n2".to_string()].into_iter().collect());
        let loss = Action::Loss {
            links: links.clone(),
            percent: Percent::new(30.0).unwrap(),
        };
        assert_eq!(
            loss.inverse(),
            Action::Restore {
                link: LinkKind::Loss
            }
        );
        assert_eq!(loss.inverse().name(), "heal-loss");
        assert_eq!(loss.nodes(), vec!["n1".to_string(), "n2".into()]);
        let slow = Action::Slow {
            links,
            rate: "1mbit".parse().unwrap(),
        };
        assert_eq!(slow.inverse().name(), "heal-slow");
        assert_eq!(
            Action::from_link_fault(slow.link_fault().unwrap()),
            slow.clone()
        );
        let exec = Log::default();
        block_on(loss.apply(&exec)).unwrap();
        block_on(loss.inverse().apply(&exec)).unwrap();
        assert_eq!(
            exec.calls.lock().unwrap().clone(),
            vec!["degrade loss 30%".to_string(), "restore loss".into()]
        );
        let json = serde_json::to_value(&slow).unwrap();
        assert_eq!(json["f"], "slow");
        assert_eq!(json["rate"], "1mbit");
    }

    #[test]
    fn heal_all_runs_every_step_even_after_a_failure() {
        let exec = Log {
            fail_resume: true,
            ..Log::default()
        };
        let nodes = vec!["n1".to_string(), "n2".to_string()];
        let err = block_on(heal_all(&exec, &nodes)).unwrap_err();
        assert_eq!(err.failures.len(), 1);
        assert_eq!(err.failures[0].0, "resume");
        let calls = exec.calls.lock().unwrap().clone();
        assert_eq!(
            calls,
            vec![
                "heal".to_string(),
                "restore loss".into(),
                "restore slow".into(),
                "restore delay".into(),
                "reset-clock [\"n1\", \"n2\"]".into(),
                "resume [\"n1\", \"n2\"]".into(),
                "start [\"n1\", \"n2\"]".into(),
                "add [\"n1\", \"n2\"]".into()
            ]
        );
    }

    #[test]
    fn a_removal_is_undone_by_adding_the_same_nodes_and_a_replacement_ends_as_a_voter() {
        let remove = Action::Remove {
            nodes: vec!["n2".into()],
        };
        assert_eq!((remove.name(), remove.inverse().name()), ("remove", "add"));
        assert_eq!(remove.inverse().inverse(), remove);
        let replace = Action::Replace {
            nodes: vec!["n3".into()],
        };
        assert_eq!(
            replace.inverse(),
            Action::Add {
                nodes: vec!["n3".into()]
            }
        );
        let exec = Log::default();
        block_on(remove.apply(&exec)).unwrap();
        block_on(remove.inverse().apply(&exec)).unwrap();
        block_on(replace.apply(&exec)).unwrap();
        assert_eq!(
            exec.calls.lock().unwrap().clone(),
            vec![
                "remove [\"n2\"]".to_string(),
                "add [\"n2\"]".into(),
                "replace [\"n3\"]".into()
            ]
        );
        let json = serde_json::to_value(&replace).unwrap();
        assert_eq!(json["f"], "replace");
    }
}
