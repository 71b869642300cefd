//! Fault coverage: per fault kind, how often it was scheduled, applied and seen to take effect;
//! a kind that never took effect keeps a run from passing silently.

use std::collections::BTreeMap;

use crate::report::results::{Coverage, FaultRecord, FaultStatus};

/// Coverage per kind from the fault records; kinds the campaign asked for appear even at zero.
pub fn coverage(kinds: &[String], faults: &[FaultRecord]) -> BTreeMap<String, Coverage> {
    let mut map: BTreeMap<String, Coverage> = kinds
        .iter()
        .map(|k| (k.clone(), Coverage::default()))
        .collect();
    for f in faults {
        let c = map.entry(f.kind.clone()).or_default();
        c.scheduled += 1;
        match f.status {
            FaultStatus::Applied => c.applied += 1,
            FaultStatus::Skipped => c.skipped += 1,
            FaultStatus::Failed => c.failed += 1,
            FaultStatus::NotReached => {}
        }
        if f.observed == Some(true) {
            c.observed += 1;
        }
    }
    map
}

/// Notes that keep a run whose faults did not take effect from passing silently: a kind
/// applied but never observed, or failing, makes the verdict at best unknown.
pub fn coverage_notes(coverage: &BTreeMap<String, Coverage>) -> (Vec<String>, bool) {
    let mut notes = Vec::new();
    let mut undermined = false;
    for (kind, c) in coverage {
        if c.failed > 0 {
            undermined = true;
            notes.push(format!(
                "{kind}: {} of {} windows failed to apply",
                c.failed, c.scheduled
            ));
        }
        if c.applied > 0 && c.observed == 0 {
            undermined = true;
            notes.push(format!(
                "{kind}: applied {} times but its effect was never observed",
                c.applied
            ));
        }
        if c.scheduled == 0 {
            notes.push(format!(
                "{kind}: asked for but never scheduled in this run (try a longer duration)"
            ));
        } else if c.applied == 0 && c.failed == 0 {
            notes.push(format!(
                "{kind}: scheduled {} times, never applied",
                c.scheduled
            ));
        }
    }
    (notes, undermined)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: &str, status: FaultStatus, observed: Option<bool>) -> FaultRecord {
        FaultRecord {
            window: 0,
            kind: kind.into(),
            at_ms: 0,
            duration_ms: 0,
            start_ns: None,
            end_ns: None,
            action: None,
            status,
            observed,
            effect: None,
            error: None,
        }
    }

    #[test]
    fn faults_that_never_took_effect_are_reported() {
        let faults = vec![
            record("kill", FaultStatus::Applied, Some(true)),
            record("pause", FaultStatus::Applied, Some(false)),
        ];
        let cov = coverage(
            &["kill".into(), "pause".into(), "partition".into()],
            &faults,
        );
        assert_eq!(cov["kill"].observed, 1);
        let (notes, undermined) = coverage_notes(&cov);
        assert!(undermined);
        assert!(
            notes
                .iter()
                .any(|n| n.starts_with("pause: applied 1 times")),
            "{notes:?}"
        );
        assert!(
            notes.iter().any(|n| n.starts_with("partition: asked for")),
            "{notes:?}"
        );
    }

    #[test]
    fn observed_faults_do_not_undermine() {
        let cov = coverage(
            &["kill".into()],
            &[record("kill", FaultStatus::Applied, Some(true))],
        );
        assert_eq!(coverage_notes(&cov), (vec![], false));
    }
}
