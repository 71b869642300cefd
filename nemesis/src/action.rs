//! Concrete faults, in inverse pairs, and the final "heal everything" step.

use serde::{Deserialize, Serialize};

use crate::fault::{FaultExecutor, Grudge, NodeName};

/// One concrete step the nemesis takes against the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "f")]
pub enum Action {
    Kill { nodes: Vec<NodeName> },
    Start { nodes: Vec<NodeName> },
    Pause { nodes: Vec<NodeName> },
    Resume { nodes: Vec<NodeName> },
    Partition { grudge: Grudge },
    Heal,
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
        }
    }

    /// The nodes the step names (every node in a grudge, for partitions).
    pub fn nodes(&self) -> Vec<NodeName> {
        match self {
            Action::Kill { nodes }
            | Action::Start { nodes }
            | Action::Pause { nodes }
            | Action::Resume { nodes } => nodes.clone(),
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
            Action::Heal => Vec::new(),
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
        }
    }
}

/// Every step of the final heal that failed. The other steps still ran.
#[derive(Debug, thiserror::Error)]
#[error("final heal failed: {}", .failures.iter().map(|(step, e)| format!("{step}: {e}")).collect::<Vec<_>>().join("; "))]
pub struct HealError<E: std::error::Error + 'static> {
    pub failures: Vec<(&'static str, E)>,
}

/// Brings the cluster back to health: heal the network, resume paused nodes, start killed ones.
/// Every step runs even when an earlier one fails, since a half-healed cluster is worse than a
/// reported error. Executors must treat these on healthy nodes as no-ops.
pub async fn heal_all<E: FaultExecutor>(
    exec: &E,
    nodes: &[NodeName],
) -> Result<(), HealError<E::Error>> {
    let steps = [
        Action::Heal,
        Action::Resume {
            nodes: nodes.to_vec(),
        },
        Action::Start {
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
                "resume [\"n1\", \"n2\"]".into(),
                "start [\"n1\", \"n2\"]".into()
            ]
        );
    }
}
