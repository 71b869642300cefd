//! Counters shared by clients, the nemesis and the progress line.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Default)]
pub struct Live {
    pub ops: AtomicU64,
    pub ok: AtomicU64,
    pub fail: AtomicU64,
    pub info: AtomicU64,
    pub processes: AtomicU64,
    /// Faults in effect now, e.g. `kill n2`.
    active: Mutex<Vec<String>>,
    /// Nodes the nemesis is killing or has killed and not yet started again: down on purpose,
    /// so not crashes.
    down_on_purpose: Mutex<BTreeSet<String>>,
    /// The violation the online checker found, as the progress line shows it.
    violation: Mutex<Option<String>>,
}

impl Live {
    pub fn add_active(&self, fault: String) {
        self.active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(fault);
    }

    pub fn remove_active(&self, fault: &str) {
        let mut active = self.active.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = active.iter().position(|f| f == fault) {
            active.remove(i);
        }
    }

    pub fn clear_active(&self) {
        self.active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    pub fn active(&self) -> Vec<String> {
        self.active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Marks nodes as taken down on purpose, before the kill is sent.
    pub fn taking_down(&self, nodes: &[String]) {
        let mut down = self
            .down_on_purpose
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        down.extend(nodes.iter().cloned());
    }

    /// Unmarks nodes once they have been started again.
    pub fn brought_back(&self, nodes: &[String]) {
        let mut down = self
            .down_on_purpose
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for n in nodes {
            down.remove(n);
        }
    }

    pub fn down_on_purpose(&self) -> BTreeSet<String> {
        self.down_on_purpose
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Records what the online checker found (the first violation).
    pub fn set_violation(&self, line: String) {
        *self.violation.lock().unwrap_or_else(|p| p.into_inner()) = Some(line);
    }

    pub fn violation(&self) -> Option<String> {
        self.violation
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
