//! The cleanup guard: once a run has touched the cluster, it ends healed (the network healed,
//! every node resumed and started) and, unless kept, torn down, on success, error and Ctrl-C
//! alike. The phases release it explicitly, in order; if the future running them is dropped or
//! panics first, `Drop` does the same on the runtime, as far as the runtime still runs.

use std::sync::Arc;

use crate::cluster::target::TestTarget;

pub struct Cleanup<T: TestTarget> {
    target: Arc<T>,
    keep_cluster: bool,
    /// Whether faults may be in effect (the run phase started) and no heal has run since.
    needs_heal: bool,
    torn_down: bool,
}

impl<T: TestTarget> Cleanup<T> {
    pub fn new(target: Arc<T>, keep_cluster: bool) -> Cleanup<T> {
        Cleanup {
            target,
            keep_cluster,
            needs_heal: false,
            torn_down: false,
        }
    }

    /// From now on faults may be in effect.
    pub fn arm_heal(&mut self) {
        self.needs_heal = true;
    }

    /// Heals everything (every node's name in `names`).
    pub async fn heal(&mut self, names: &[String]) -> Result<(), String> {
        self.needs_heal = false;
        nemesis::heal_all(&*self.target, names)
            .await
            .map_err(|e| e.to_string())
    }

    /// Removes the cluster, unless it is to be kept. `Ok(false)` when it was kept.
    pub async fn teardown(&mut self) -> anyhow::Result<bool> {
        self.torn_down = true;
        if self.keep_cluster {
            return Ok(false);
        }
        self.target.teardown().await.map(|()| true)
    }
}

impl<T: TestTarget> Drop for Cleanup<T> {
    fn drop(&mut self) {
        if self.torn_down || (self.keep_cluster && !self.needs_heal) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!(target: "faultline::runner", "the run ended without cleaning up, outside any runtime: the cluster may still run");
            return;
        };
        tracing::warn!(target: "faultline::runner", "the run ended early: healing and tearing down");
        let target = self.target.clone();
        let (heal, teardown) = (self.needs_heal, !self.keep_cluster);
        runtime.spawn(async move {
            if heal {
                let names: Vec<String> = target.nodes().into_iter().map(|(n, _)| n).collect();
                if let Err(e) = nemesis::heal_all(&*target, &names).await {
                    tracing::error!(target: "faultline::runner", "heal after an early end: {e}");
                }
            }
            if teardown {
                if let Err(e) = target.teardown().await {
                    tracing::error!(target: "faultline::runner", "teardown after an early end: {e:#}");
                }
            }
        });
    }
}
