//! The progress line: elapsed time, ops/s, ok/fail/info counts and the faults in effect.

use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::live::Live;

pub struct Progress {
    bar: ProgressBar,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// Draws on stderr when it is a terminal (indicatif hides itself otherwise); `enabled: false`
    /// draws nothing at all.
    pub fn start(live: Arc<Live>, start: Instant, enabled: bool) -> Progress {
        let target = if enabled {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        let ticker = enabled.then(|| {
            let bar = bar.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(250));
                loop {
                    tick.tick().await;
                    bar.set_message(line(&live, start.elapsed()));
                    bar.tick();
                }
            })
        });
        Progress { bar, ticker }
    }

    pub fn finish(self) {
        if let Some(t) = self.ticker {
            t.abort();
        }
        self.bar.finish_and_clear();
    }
}

/// `12s | 340 ops/s | ok 3000 fail 12 info 3 | faults: kill n2`, then, once the online
/// checker found one, ` | VIOLATION on key k1 at 3.2s: read 5 by p3`.
pub fn line(live: &Live, elapsed: Duration) -> String {
    let ok = Live::get(&live.ok);
    let fail = Live::get(&live.fail);
    let info = Live::get(&live.info);
    let secs = elapsed.as_secs_f64().max(0.001);
    let active = live.active();
    let violation = live
        .violation()
        .map(|v| format!(" | {v}"))
        .unwrap_or_default();
    format!(
        "{}s | {:.0} ops/s | ok {ok} fail {fail} info {info} | faults: {}{violation}",
        elapsed.as_secs(),
        (ok + fail + info) as f64 / secs,
        if active.is_empty() {
            "none".to_string()
        } else {
            active.join("; ")
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_counts_rate_and_faults() {
        let live = Live::default();
        for _ in 0..10 {
            Live::bump(&live.ok);
        }
        Live::bump(&live.info);
        live.add_active("kill n2".into());
        let l = line(&live, Duration::from_secs(2));
        assert_eq!(l, "2s | 6 ops/s | ok 10 fail 0 info 1 | faults: kill n2");
        live.remove_active("kill n2");
        assert!(line(&live, Duration::from_secs(2)).ends_with("faults: none"));
        live.set_violation("VIOLATION on key k1 at 1.5s: read 5 by p3".into());
        assert!(line(&live, Duration::from_secs(2))
            .ends_with("faults: none | VIOLATION on key k1 at 1.5s: read 5 by p3"));
    }
}
