//! What a membership fault did, as the nodes report it: the configuration the leader holds
//! (`/status` `membership`), and how a replaced node caught up (`snapshots_installed`).

use crate::cluster::client::{MembershipView, NodeStatus};

/// The configuration of the node that says it leads in the highest term.
pub fn leader_config(statuses: &[Option<NodeStatus>]) -> Option<&MembershipView> {
    statuses
        .iter()
        .flatten()
        .filter(|s| s.role == "leader")
        .max_by_key(|s| s.term)
        .and_then(|s| s.membership.as_ref())
}

/// A node's Raft id from its name (`n2` → 2), as faultline names nodes.
pub fn node_id(name: &str) -> Option<u64> {
    name.strip_prefix('n')?.parse().ok()
}

/// Whether the leader's configuration has none of `nodes` (removed: neither voter nor
/// learner), with what it holds.
pub fn removed(statuses: &[Option<NodeStatus>], nodes: &[String]) -> (bool, String) {
    match leader_config(statuses) {
        None => (false, "no leader reports a configuration".into()),
        Some(m) => {
            let out = nodes
                .iter()
                .filter_map(|n| node_id(n))
                .all(|id| !m.voters.contains(&id) && !m.learners.contains(&id));
            (
                out,
                format!(
                    "{} {} the configuration (voters {})",
                    nodes.join(","),
                    if out { "out of" } else { "still in" },
                    ids(&m.voters)
                ),
            )
        }
    }
}

/// Whether every one of `nodes` votes in the leader's configuration; for nodes that joined
/// empty (`replaced`), how each caught up: by a snapshot from the leader, or from the log.
pub fn voting(
    statuses: &[Option<NodeStatus>],
    names: &[String],
    nodes: &[String],
    replaced: bool,
) -> (bool, String) {
    let Some(m) = leader_config(statuses) else {
        return (false, "no leader reports a configuration".into());
    };
    let back = nodes
        .iter()
        .filter_map(|n| node_id(n))
        .all(|id| m.voters.contains(&id));
    let mut effect = format!(
        "{} {} (voters {})",
        nodes.join(","),
        if back { "voting" } else { "not voting" },
        ids(&m.voters)
    );
    if replaced {
        for node in nodes {
            let status = names
                .iter()
                .position(|n| n == node)
                .and_then(|i| statuses.get(i))
                .and_then(Option::as_ref);
            let how = match status.and_then(|s| s.snapshots_installed) {
                Some(0) => "caught up from the log".to_string(),
                Some(k) => format!("caught up by snapshot ({k} installed)"),
                None => "catch-up not reported".to_string(),
            };
            effect.push_str(&format!("; {node} joined empty and {how}"));
        }
    }
    (back, effect)
}

fn ids(ids: &[u64]) -> String {
    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(id: u64, role: &str, term: u64, voters: &[u64], snaps: u64) -> Option<NodeStatus> {
        Some(NodeStatus {
            id,
            role: role.into(),
            term,
            membership: Some(MembershipView {
                voters: voters.to_vec(),
                learners: Vec::new(),
            }),
            snapshots_installed: Some(snaps),
            ..NodeStatus::default()
        })
    }

    #[test]
    fn the_configuration_is_the_leaders_in_the_highest_term() {
        // n2 was removed while it led in term 3; n1 leads term 4 without it.
        let s = vec![
            status(1, "leader", 4, &[1, 3], 0),
            status(2, "leader", 3, &[1, 2, 3], 0),
            None,
        ];
        let names: Vec<String> = ["n1", "n2", "n3"].map(String::from).to_vec();
        let (out, effect) = removed(&s, &["n2".into()]);
        assert!(out, "{effect}");
        assert_eq!(effect, "n2 out of the configuration (voters 1,3)");
        let (back, effect) = voting(&s, &names, &["n2".into()], false);
        assert!(!back, "{effect}");
        let (out, _) = removed(&s, &["n3".into()]);
        assert!(!out);
        assert!(!removed(&[None, None], &["n1".into()]).0);
    }

    #[test]
    fn a_replaced_node_says_how_it_caught_up() {
        let names: Vec<String> = ["n1", "n2", "n3"].map(String::from).to_vec();
        let s = vec![
            status(1, "leader", 5, &[1, 2, 3], 0),
            status(2, "follower", 5, &[1, 2, 3], 1),
            status(3, "follower", 5, &[1, 2, 3], 0),
        ];
        let (back, effect) = voting(&s, &names, &["n2".into(), "n3".into()], true);
        assert!(back);
        assert_eq!(
            effect,
            "n2,n3 voting (voters 1,2,3); n2 joined empty and caught up by snapshot (1 \
             installed); n3 joined empty and caught up from the log"
        );
    }
}
