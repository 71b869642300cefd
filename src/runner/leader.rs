//! Waiting for a cluster's leader: after setup, after the final heal, and in the recovery check.

use std::time::{Duration, Instant};

use crate::cluster::target::TestTarget;

/// Polls the target until it reports a leader. Gives up early when no node runs at all (every
/// container exited, e.g. a node that cannot start): waiting out the deadline would tell nothing
/// more than the nodes' logs already do.
pub async fn wait_for_leader<T: TestTarget>(
    target: &T,
    within: Duration,
) -> anyhow::Result<String> {
    let start = Instant::now();
    let deadline = start + within;
    let mut last_error = None;
    let mut next_liveness = start + LIVENESS_EVERY;
    loop {
        match target.leader().await {
            Ok(Some(l)) => return Ok(l),
            Ok(None) => {}
            Err(e) => last_error = Some(format!("{e:#}")),
        }
        if Instant::now() >= next_liveness {
            next_liveness = Instant::now() + LIVENESS_EVERY;
            if none_running(target).await {
                anyhow::bail!(
                    "no node is running: every node exited before a leader was elected{}",
                    last_error
                        .map(|e| format!(" (last error: {e})"))
                        .unwrap_or_default()
                );
            }
        }
        if Instant::now() >= deadline {
            anyhow::bail!(
                "no leader elected within {}s{}",
                within.as_secs(),
                last_error
                    .map(|e| format!(" (last error: {e})"))
                    .unwrap_or_default()
            );
        }
        // Poll interval inside the deadline loop above.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How often the leader wait looks whether any node still runs.
const LIVENESS_EVERY: Duration = Duration::from_secs(1);

/// Whether the target says, for every node, that it is not running. An error asking counts as
/// running: only a clear answer ends the wait early.
async fn none_running<T: TestTarget>(target: &T) -> bool {
    for (node, _) in target.nodes() {
        if !matches!(target.is_running(&node).await, Ok(false)) {
            return false;
        }
    }
    true
}
