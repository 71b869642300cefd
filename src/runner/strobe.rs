//! Clock strobes: while a clock window with `strobe` is open, a task moves its nodes' clocks
//! back to real time and to the offset again every period (through [`nemesis::strobe`]); the
//! nemesis stops it at the window's end, and stops every strobe still running before the final
//! heal, so none fights it.

use std::sync::Arc;
use std::time::Duration;

use nemesis::Action;
use tokio::sync::watch;

use crate::cluster::target::TestTarget;
use crate::report::results::{FaultRecord, FaultStatus};

/// Starts toggling the clocks of an applied clock window with `strobe_ms`, every period from
/// `opened` (when the window started, before its effect was awaited).
pub fn start<T: TestTarget>(
    target: &Arc<T>,
    record: &FaultRecord,
    opened: tokio::time::Instant,
) -> Option<Strobe> {
    if record.status != FaultStatus::Applied {
        return None;
    }
    let Some(Action::Clock {
        nodes,
        offset_secs,
        strobe_ms: Some(ms),
        ..
    }) = record.action.clone()
    else {
        return None;
    };
    let (stop, rx) = watch::channel(false);
    let target = target.clone();
    let task = tokio::spawn(async move {
        let mut next = opened;
        let wait = move |period: Duration| {
            next += period;
            let at = next;
            let mut rx = rx.clone();
            async move {
                tokio::select! {
                    biased;
                    // A stop (or the nemesis gone) ends the strobe; a period passed goes on.
                    _ = rx.wait_for(|s| *s) => false,
                    _ = tokio::time::sleep_until(at) => true,
                }
            }
        };
        nemesis::strobe(
            &*target,
            &nodes,
            offset_secs,
            Duration::from_millis(ms),
            wait,
        )
        .await
        .map_err(|e| e.to_string())
    });
    Some(Strobe {
        stop,
        task: AbortOnDrop(Some(task)),
    })
}

/// A clock strobe running for an open window.
pub struct Strobe {
    stop: watch::Sender<bool>,
    task: AbortOnDrop,
}

/// Aborts the task if it is dropped unawaited (the nemesis itself failed), so a strobe never
/// outlives the nemesis.
struct AbortOnDrop(Option<tokio::task::JoinHandle<Result<u64, String>>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

impl Strobe {
    /// Stops the strobe and says how many times it toggled, or why it failed.
    pub async fn stop(mut self) -> Result<u64, String> {
        let _ = self.stop.send(true);
        match self.task.0.take() {
            Some(task) => task
                .await
                .unwrap_or_else(|e| Err(format!("the strobe task failed: {e}"))),
            None => Err("the strobe task was already gone".into()),
        }
    }
}

/// A strobe's outcome in its window's record: how often it toggled, or the failure (which makes
/// the window failed: its clocks did not do what was asked).
pub fn note_strobe(record: &mut FaultRecord, result: Result<u64, String>) {
    match result {
        Ok(toggles) => {
            let effect = record.effect.take().unwrap_or_default();
            record.effect = Some(format!("{effect}; strobed {toggles} times"));
        }
        Err(e) => {
            tracing::error!(target: "faultline::nemesis", window = record.window, error = %e, "clock strobe failed");
            record.status = FaultStatus::Failed;
            record.error = Some(format!("strobing the clock: {e}"));
        }
    }
}
