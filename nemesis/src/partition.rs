//! Partition patterns as grudge builders, after Jepsen's `nemesis.clj`: a grudge maps each node
//! to the nodes whose packets it drops.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::fault::{Grudge, NodeName};
use crate::{majority, Error};

/// How to cut the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pattern {
    /// One random node cut off from all others (Jepsen's `split-one`).
    IsolateOne,
    /// The current leader cut off from all others.
    IsolateLeader,
    /// Two halves that cannot talk (Jepsen's `bisect` over shuffled nodes); the first is smaller.
    Halves,
    /// Every node sees a majority, and no two nodes see the same one (Jepsen's `majorities-ring`).
    MajoritiesRing,
    /// Two halves joined by one node that sees both (Jepsen's `bridge`).
    Bridge,
    /// Exactly this grudge (explicit schedules and replays).
    Grudge(Grudge),
}

impl Pattern {
    /// The names accepted in campaign files.
    pub const NAMES: &'static [&'static str] = &[
        "isolate-one",
        "isolate-leader",
        "halves",
        "majorities-ring",
        "bridge",
    ];

    /// The smallest cluster on which the pattern cuts anything.
    pub fn min_nodes(&self) -> usize {
        match self {
            Pattern::IsolateOne | Pattern::IsolateLeader | Pattern::Halves => 2,
            Pattern::MajoritiesRing | Pattern::Bridge => 3,
            Pattern::Grudge(_) => 1,
        }
    }

    /// Builds the concrete grudge for these nodes.
    pub fn grudge<R: Rng>(
        &self,
        nodes: &[NodeName],
        leader: Option<&NodeName>,
        rng: &mut R,
    ) -> Result<Grudge, Error> {
        if nodes.is_empty() {
            return Err(Error::NoNodes);
        }
        if nodes.len() < self.min_nodes() {
            return Err(Error::TooFewNodes {
                pattern: self.name(),
                min: self.min_nodes(),
                have: nodes.len(),
            });
        }
        let mut shuffled = nodes.to_vec();
        shuffled.shuffle(rng);
        Ok(match self {
            Pattern::IsolateOne => complete_grudge(&isolate(&shuffled[0], &shuffled)),
            Pattern::IsolateLeader => {
                let leader = leader.ok_or(Error::NoLeader)?;
                complete_grudge(&isolate(leader, nodes))
            }
            Pattern::Halves => complete_grudge(&halves(&shuffled)),
            Pattern::MajoritiesRing => majorities_ring(&shuffled),
            Pattern::Bridge => bridge(&shuffled),
            Pattern::Grudge(g) => {
                for n in g.0.keys().chain(g.0.values().flatten()) {
                    if !nodes.contains(n) {
                        return Err(Error::UnknownNode(n.clone(), nodes.join(",")));
                    }
                }
                g.clone()
            }
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Pattern::IsolateOne => "isolate-one",
            Pattern::IsolateLeader => "isolate-leader",
            Pattern::Halves => "halves",
            Pattern::MajoritiesRing => "majorities-ring",
            Pattern::Bridge => "bridge",
            Pattern::Grudge(_) => "grudge",
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Pattern {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "isolate-one" => Pattern::IsolateOne,
            "isolate-leader" => Pattern::IsolateLeader,
            "halves" => Pattern::Halves,
            "majorities-ring" => Pattern::MajoritiesRing,
            "bridge" => Pattern::Bridge,
            other => {
                return Err(format!(
                    "unknown partition pattern {other:?}; expected one of {}",
                    Pattern::NAMES.join(", ")
                ))
            }
        })
    }
}

/// Each node drops every node outside its own component; nodes in no component keep all their
/// links, and a node with nothing to drop has no entry.
pub fn complete_grudge(components: &[Vec<NodeName>]) -> Grudge {
    let all: BTreeSet<NodeName> = components.iter().flatten().cloned().collect();
    let mut grudge = BTreeMap::new();
    for component in components {
        let own: BTreeSet<NodeName> = component.iter().cloned().collect();
        let dropped: BTreeSet<NodeName> = all.difference(&own).cloned().collect();
        if dropped.is_empty() {
            continue;
        }
        for node in component {
            grudge.insert(node.clone(), dropped.clone());
        }
    }
    Grudge(grudge)
}

/// Jepsen's bisect: the first half (the smaller one when odd) against the rest, in the order
/// given.
pub fn halves(nodes: &[NodeName]) -> Vec<Vec<NodeName>> {
    let (a, b) = nodes.split_at(nodes.len() / 2);
    vec![a.to_vec(), b.to_vec()]
}

/// One node against all the others.
pub fn isolate(node: &str, nodes: &[NodeName]) -> Vec<Vec<NodeName>> {
    let rest = nodes.iter().filter(|n| *n != node).cloned().collect();
    vec![vec![node.to_string()], rest]
}

/// Nodes in ring order; each sees the majority-sized window it sits in the middle of, so every
/// window differs. With an even window the view is one-directional, as in Jepsen.
pub fn majorities_ring(ring: &[NodeName]) -> Grudge {
    let n = ring.len();
    let m = majority(n);
    let all: BTreeSet<NodeName> = ring.iter().cloned().collect();
    let mut grudge = BTreeMap::new();
    for start in 0..n {
        let window: BTreeSet<NodeName> = (0..m).map(|i| ring[(start + i) % n].clone()).collect();
        let owner = ring[(start + m / 2) % n].clone();
        grudge.insert(owner, all.difference(&window).cloned().collect());
    }
    Grudge(grudge)
}

/// Two halves, plus the first node of the second half as a bridge that sees everyone.
pub fn bridge(nodes: &[NodeName]) -> Grudge {
    let (a, b) = nodes.split_at(nodes.len() / 2);
    let bridge = b[0].clone();
    let mut g = complete_grudge(&[a.to_vec(), b.to_vec()]).0;
    g.remove(&bridge);
    for dropped in g.values_mut() {
        dropped.remove(&bridge);
    }
    Grudge(g)
}

/// Which nodes a node can still hear from under a grudge (itself included).
pub fn visible(grudge: &Grudge, nodes: &[NodeName], node: &NodeName) -> BTreeSet<NodeName> {
    let dropped = grudge.0.get(node).cloned().unwrap_or_default();
    nodes
        .iter()
        .filter(|n| !dropped.contains(*n))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn nodes(n: usize) -> Vec<NodeName> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(7)
    }

    #[test]
    fn majorities_ring_gives_each_node_its_own_majority() {
        for n in 3..=9 {
            let ns = nodes(n);
            let g = Pattern::MajoritiesRing
                .grudge(&ns, None, &mut rng())
                .unwrap();
            let views: Vec<BTreeSet<NodeName>> =
                ns.iter().map(|node| visible(&g, &ns, node)).collect();
            for (node, view) in ns.iter().zip(&views) {
                assert!(view.len() >= majority(n), "{node} sees {view:?} of {n}");
                assert!(view.len() < n, "{node} sees everyone: no partition");
                assert!(view.contains(node), "{node} must see itself");
            }
            let distinct: BTreeSet<_> = views.iter().collect();
            assert_eq!(distinct.len(), n, "two nodes share a majority: {views:?}");
        }
    }

    #[test]
    fn halves_split_into_two_sides_that_drop_each_other() {
        let ns = nodes(5);
        let g = Pattern::Halves.grudge(&ns, None, &mut rng()).unwrap();
        let small: Vec<_> = ns.iter().filter(|n| g.0[*n].len() == 3).collect();
        let big: Vec<_> = ns.iter().filter(|n| g.0[*n].len() == 2).collect();
        assert_eq!((small.len(), big.len()), (2, 3));
        for s in &small {
            for b in &big {
                assert!(g.0[*s].contains(*b) && g.0[*b].contains(*s));
            }
        }
    }

    #[test]
    fn isolate_one_cuts_exactly_one_node_both_ways() {
        let ns = nodes(5);
        let g = Pattern::IsolateOne.grudge(&ns, None, &mut rng()).unwrap();
        let lonely: Vec<_> = ns.iter().filter(|n| g.0[*n].len() == 4).collect();
        assert_eq!(lonely.len(), 1);
        for other in ns.iter().filter(|n| *n != lonely[0]) {
            assert_eq!(g.0[other], BTreeSet::from([lonely[0].clone()]));
        }
    }

    #[test]
    fn isolate_leader_cuts_the_leader() {
        let ns = nodes(3);
        let leader = "n2".to_string();
        let g = Pattern::IsolateLeader
            .grudge(&ns, Some(&leader), &mut rng())
            .unwrap();
        assert_eq!(visible(&g, &ns, &leader), BTreeSet::from([leader.clone()]));
        assert_eq!(
            Pattern::IsolateLeader.grudge(&ns, None, &mut rng()),
            Err(Error::NoLeader)
        );
    }

    #[test]
    fn bridge_node_sees_both_halves_that_do_not_see_each_other() {
        let ns = nodes(5);
        let g = Pattern::Bridge.grudge(&ns, None, &mut rng()).unwrap();
        let bridges: Vec<_> = ns.iter().filter(|n| !g.0.contains_key(*n)).collect();
        assert_eq!(bridges.len(), 1);
        for node in &ns {
            assert!(visible(&g, &ns, node).contains(bridges[0]));
        }
        let cut: usize = g.0.values().map(|d| d.len()).sum();
        // Two nodes on each side of the bridge, each dropping the two on the other side.
        assert_eq!(cut, 8);
    }

    #[test]
    fn too_few_nodes_is_an_error() {
        assert!(matches!(
            Pattern::Bridge.grudge(&nodes(2), None, &mut rng()),
            Err(Error::TooFewNodes { .. })
        ));
    }
}
