//! The time and memory a check may use. Hitting either stops the check, which then reports
//! unknown and says what was and was not searched.

use std::time::{Duration, Instant};

/// Why a check stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    Time(Duration),
    Memory { needed: usize, limit: usize },
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::Time(d) => write!(f, "the time limit ({:.1} s) was reached", d.as_secs_f64()),
            Stop::Memory { needed, limit } => write!(
                f,
                "the memory limit ({} MB) would be passed ({} MB needed)",
                limit >> 20,
                needed >> 20
            ),
        }
    }
}

/// A deadline and a memory limit, checked at the checker's phases and inside its loops.
#[derive(Debug, Clone)]
pub struct Budget {
    deadline: Option<(Instant, Duration)>,
    memory: Option<usize>,
}

impl Budget {
    pub fn new(time: Option<Duration>, memory: Option<usize>) -> Budget {
        Budget {
            deadline: time.map(|d| (Instant::now() + d, d)),
            memory,
        }
    }

    pub fn unlimited() -> Budget {
        Budget::new(None, None)
    }

    /// Stops once the deadline has passed, or the process's resident set (sampled, see
    /// [`crate::memory`]) has passed the memory limit.
    pub fn check(&self) -> Result<(), Stop> {
        match self.deadline {
            Some((at, d)) if Instant::now() >= at => return Err(Stop::Time(d)),
            _ => {}
        }
        if let Some(limit) = self.memory {
            if let Some(rss) = crate::memory::over(limit, 0) {
                return Err(Stop::Memory { needed: rss, limit });
            }
        }
        Ok(())
    }

    /// Stops when `bytes` more than the process holds now would pass the memory limit.
    pub fn memory(&self, bytes: usize) -> Result<(), Stop> {
        match self.memory {
            Some(limit) => {
                let held = crate::memory::rss_sampled().unwrap_or(0);
                let needed = held.saturating_add(bytes);
                if needed > limit {
                    Err(Stop::Memory { needed, limit })
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }
}
