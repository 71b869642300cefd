//! The limits a search runs under: a deadline, cancellation, a step budget and the process's
//! real memory, checked every 1,024 steps.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use super::{Frame, Search};
use crate::model::Model;

/// Shared limits for every search of one check.
#[derive(Debug)]
pub struct Budget {
    pub deadline: Option<Instant>,
    pub memory_limit: Option<usize>,
    /// Bytes held by all running searches' caches.
    pub memory_used: AtomicUsize,
    /// Set to stop every search (cancellation).
    pub cancel: AtomicBool,
    /// Stop a single search after this many steps (used while shrinking counterexamples).
    pub max_steps: Option<u64>,
}

impl Budget {
    pub fn unlimited() -> Self {
        Budget {
            deadline: None,
            memory_limit: None,
            memory_used: AtomicUsize::new(0),
            cancel: AtomicBool::new(false),
            max_steps: None,
        }
    }
}

/// Insertions a search may make between two samples of the resident set (1,024 steps, each
/// at most one memo entry, with room to spare).
const GROWTH_MARGIN: usize = 4096;

impl<M: Model> Search<'_, M> {
    /// The process's resident set, plus what a table about to double would allocate before
    /// the next sample, against the memory limit (see `crate::memory`).
    pub(super) fn over_memory(&mut self, budget: &Budget) -> Option<String> {
        let limit = budget.memory_limit?;
        let frame = std::mem::size_of::<Frame<M::State>>();
        let growth = |cap: usize, len: usize, size: usize| {
            if cap - len < GROWTH_MARGIN {
                2 * cap.max(GROWTH_MARGIN) * size
            } else {
                0
            }
        };
        let pending = self.cache.pending_growth(GROWTH_MARGIN)
            + growth(self.stack.capacity(), self.stack.len(), frame)
            + growth(self.cands.capacity(), self.cands.len(), 4);
        match crate::memory::over(limit, pending) {
            Some(rss) => Some(crate::memory::reason(limit, rss)),
            None if crate::memory::rss_sampled().is_none() => {
                // No /proc: account the memos' capacity instead.
                let bytes =
                    self.cache.bytes() + self.stack.capacity() * frame + self.cands.capacity() * 4;
                if bytes > self.reported_bytes {
                    budget
                        .memory_used
                        .fetch_add(bytes - self.reported_bytes, Ordering::Relaxed);
                    self.reported_bytes = bytes;
                }
                (budget.memory_used.load(Ordering::Relaxed) > limit)
                    .then(|| format!("memory limit {} MB reached", limit / (1 << 20)))
            }
            None => None,
        }
    }
}

pub(super) fn over_budget(budget: &Budget) -> Option<String> {
    if budget.cancel.load(Ordering::Relaxed) {
        return Some("cancelled".into());
    }
    if let Some(d) = budget.deadline {
        if Instant::now() >= d {
            return Some("time limit reached".into());
        }
    }
    None
}
