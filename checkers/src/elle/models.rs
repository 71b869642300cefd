//! Anomalies, consistency models, and which anomalies each model rules out, after Elle's
//! `consistency-model` namespace (Adya; Bailis et al.; Cerone et al.; Daudjee and Salem).
//!
//! Two graphs: anomaly A *implies* anomaly B when every history with A has B (a G0 cycle is a
//! G1c cycle; a G1c cycle is a G1c-process cycle, processes being sequential). Model M
//! *implies* model N when every history M allows N allows. A model prohibits the anomalies
//! it names directly, those of every model it implies, and every anomaly that implies one of
//! those.

use std::collections::BTreeSet;

/// Anomaly → the anomalies it implies.
const IMPLIES: &[(&str, &[&str])] = &[
    ("G0", &["G1c", "G0-process"]),
    ("G0-process", &["G1c-process", "G0-realtime"]),
    ("G0-realtime", &["G1c-realtime"]),
    ("G1a", &["G1"]),
    ("G1b", &["G1"]),
    ("G1c", &["G1", "G1c-process"]),
    ("G1c-process", &["G1c-realtime", "G1-process"]),
    ("G1c-realtime", &["G1-realtime"]),
    ("G1", &["G1-process"]),
    ("G1-process", &["G1-realtime"]),
    ("G-single", &["G-nonadjacent", "G-single-process"]),
    (
        "G-single-process",
        &["G-nonadjacent-process", "G-single-realtime"],
    ),
    ("G-single-realtime", &["G-nonadjacent-realtime"]),
    (
        "G-nonadjacent-item",
        &["G-nonadjacent", "G2-item", "G-nonadjacent-item-process"],
    ),
    (
        "G-nonadjacent-item-process",
        &[
            "G-nonadjacent-process",
            "G2-item-process",
            "G-nonadjacent-item-realtime",
        ],
    ),
    (
        "G-nonadjacent-item-realtime",
        &["G2-item-realtime", "G-nonadjacent-realtime"],
    ),
    ("G-nonadjacent", &["G2", "G-nonadjacent-process"]),
    (
        "G-nonadjacent-process",
        &["G2-process", "G-nonadjacent-realtime"],
    ),
    ("G-nonadjacent-realtime", &["G2-realtime"]),
    ("G2-item", &["G2", "G2-item-process"]),
    ("G2-item-process", &["G2-process", "G2-item-realtime"]),
    ("G2-item-realtime", &["G2-realtime"]),
    ("G2", &["G2-process"]),
    ("G2-process", &["G2-realtime"]),
    // Two reads that cannot come from one order of a key: one of them saw a state that was
    // never committed.
    ("incompatible-order", &["G1a"]),
    // A committed write built on an aborted one.
    ("dirty-update", &["G1a"]),
    // Two transactions read the same version and both wrote it: a special case of write skew,
    // on one item.
    ("lost-update", &["G2-item"]),
];

/// Every anomaly this checker can report, worst first, as it reports them.
pub const ANOMALIES: &[&str] = &[
    "G0",
    "G1a",
    "G1b",
    "G1c",
    "G-single",
    "G-nonadjacent-item",
    "G2-item",
    "G0-process",
    "G1c-process",
    "G-single-process",
    "G-nonadjacent-item-process",
    "G2-item-process",
    "G0-realtime",
    "G1c-realtime",
    "G-single-realtime",
    "G-nonadjacent-item-realtime",
    "G2-item-realtime",
    "internal",
    "dirty-update",
    "lost-update",
    "duplicate-elements",
    "garbage-read",
    "incompatible-order",
];

/// Every name `--anomalies` accepts: the reported ones and the classes they imply (G1, G2, ...).
pub fn known_anomaly(name: &str) -> bool {
    ANOMALIES.contains(&name)
        || IMPLIES
            .iter()
            .any(|(a, bs)| *a == name || bs.contains(&name))
}

/// Model → (the models it implies, the anomalies it prohibits directly).
const MODELS: &[(&str, &[&str], &[&str])] = &[
    (
        "strict-serializable",
        &[
            "serializable",
            "strong-snapshot-isolation",
            "strong-session-serializable",
        ],
        &["G1", "G1c-realtime", "G2-realtime"],
    ),
    (
        "strong-session-serializable",
        &["serializable", "strong-session-snapshot-isolation"],
        &["G1-process", "G2-process"],
    ),
    (
        "serializable",
        &["repeatable-read", "snapshot-isolation"],
        &["internal", "G1", "G2"],
    ),
    (
        "strong-snapshot-isolation",
        &["strong-session-snapshot-isolation", "strong-read-committed"],
        &["internal", "G1-realtime", "G-nonadjacent-realtime"],
    ),
    (
        "strong-session-snapshot-isolation",
        &["snapshot-isolation", "strong-session-read-committed"],
        &["internal", "G1-process", "G-nonadjacent-process"],
    ),
    (
        "snapshot-isolation",
        &["consistent-view"],
        &["internal", "G1", "G-nonadjacent"],
    ),
    (
        "consistent-view",
        &["cursor-stability"],
        &["G1", "G-single"],
    ),
    (
        "repeatable-read",
        &["cursor-stability"],
        &["G1", "G2-item", "lost-update"],
    ),
    (
        "cursor-stability",
        &["read-committed"],
        &["G1", "lost-update"],
    ),
    (
        "strong-read-committed",
        &["strong-session-read-committed", "strong-read-uncommitted"],
        &["G1c-realtime"],
    ),
    (
        "strong-session-read-committed",
        &["read-committed", "strong-session-read-uncommitted"],
        &["G1c-process"],
    ),
    ("read-committed", &["read-uncommitted"], &["G1"]),
    (
        "strong-read-uncommitted",
        &["strong-session-read-uncommitted"],
        &["G0-realtime"],
    ),
    (
        "strong-session-read-uncommitted",
        &["read-uncommitted"],
        &["G0-process"],
    ),
    (
        "read-uncommitted",
        &[],
        &["G0", "duplicate-elements", "garbage-read"],
    ),
];

/// The models `--consistency-model` accepts, strongest first.
pub fn model_names() -> Vec<&'static str> {
    MODELS.iter().map(|(m, _, _)| *m).collect()
}

/// The canonical name of a model (`strong-serializable` is strict serializable, as in Elle).
pub fn canonical(model: &str) -> Option<&'static str> {
    let m = match model {
        "strong-serializable" => "strict-serializable",
        other => other,
    };
    MODELS.iter().map(|(n, _, _)| *n).find(|n| *n == m)
}

/// The anomalies that imply `anomaly`, itself included.
fn implying(anomaly: &str) -> BTreeSet<&'static str> {
    let mut out = BTreeSet::new();
    let mut todo = vec![anomaly];
    while let Some(b) = todo.pop() {
        // Names are interned through the tables so that the set borrows nothing.
        let name = IMPLIES
            .iter()
            .flat_map(|(a, bs)| std::iter::once(a).chain(bs.iter()))
            .chain(ANOMALIES.iter())
            .find(|n| **n == b)
            .copied();
        let Some(name) = name else { continue };
        if out.insert(name) {
            todo.extend(
                IMPLIES
                    .iter()
                    .filter(|(_, bs)| bs.contains(&name))
                    .map(|(a, _)| *a),
            );
        }
    }
    out
}

/// Every anomaly that counts as a violation of these anomaly classes (themselves and every
/// anomaly that implies one of them): what `--anomalies` chooses.
pub fn prohibited_by_anomalies(names: &[&str]) -> BTreeSet<&'static str> {
    names.iter().flat_map(|n| implying(n)).collect()
}

/// Every anomaly `model` prohibits; `None` for an unknown model.
pub fn prohibited(model: &str) -> Option<BTreeSet<&'static str>> {
    let model = canonical(model)?;
    let mut direct = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut todo = vec![model];
    while let Some(m) = todo.pop() {
        if !seen.insert(m) {
            continue;
        }
        if let Some((_, implied, proscribed)) = MODELS.iter().find(|(n, _, _)| *n == m) {
            todo.extend(implied.iter().copied());
            direct.extend(proscribed.iter().copied());
        }
    }
    Some(prohibited_by_anomalies(
        &direct.into_iter().collect::<Vec<_>>(),
    ))
}

/// The models an anomaly rules out, strongest first.
pub fn ruled_out_by(anomaly: &str) -> Vec<&'static str> {
    model_names()
        .into_iter()
        .filter(|m| prohibited(m).is_some_and(|p| p.contains(anomaly)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_prohibit_as_elle_says() {
        let ss = prohibited("strict-serializable").unwrap();
        for a in ANOMALIES {
            assert!(ss.contains(a), "strict serializability prohibits {a}");
        }
        let si = prohibited("snapshot-isolation").unwrap();
        assert!(si.contains("G-single") && si.contains("G1c") && si.contains("lost-update"));
        assert!(!si.contains("G2-item"), "write skew is allowed under SI");
        assert!(si.contains("G-nonadjacent-item"));
        let rc = prohibited("read-committed").unwrap();
        assert!(rc.contains("G1a") && rc.contains("G1b") && rc.contains("G0"));
        assert!(!rc.contains("G2-item") && !rc.contains("G-single"));
        let ser = prohibited("serializable").unwrap();
        assert!(ser.contains("G2-item") && !ser.contains("G-single-realtime"));
        let ru = prohibited("read-uncommitted").unwrap();
        assert!(ru.contains("G0") && !ru.contains("G1a"));
        let sss = prohibited("strong-session-serializable").unwrap();
        assert!(sss.contains("G2-item-process") && !sss.contains("G2-item-realtime"));
        assert!(prohibited("strong-serializable").is_some());
        assert!(prohibited("eventual").is_none());
    }

    #[test]
    fn anomalies_name_the_models_they_rule_out() {
        let by_g2 = ruled_out_by("G2-item");
        assert!(by_g2.contains(&"serializable") && by_g2.contains(&"repeatable-read"));
        assert!(!by_g2.contains(&"snapshot-isolation"));
        assert_eq!(ruled_out_by("G0").len(), model_names().len());
        assert_eq!(
            prohibited_by_anomalies(&["G1"]),
            [
                "G0",
                "G1",
                "G1a",
                "G1b",
                "G1c",
                "dirty-update",
                "garbage-read",
                "incompatible-order"
            ]
            .into_iter()
            .filter(|a| *a != "garbage-read")
            .collect()
        );
    }
}
