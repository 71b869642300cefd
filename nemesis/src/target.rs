//! Which nodes a kill or pause hits. `leader` is resolved at run time from the cluster's view.

use std::fmt;
use std::str::FromStr;

use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::fault::NodeName;
use crate::{majority, Error};

/// A set of nodes described relative to the cluster, as in Jepsen's `db-nodes` targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// One node chosen at random.
    RandomNode,
    /// The current leader.
    Leader,
    /// A random minority (at least one node, fewer than a majority).
    Minority,
    /// A random majority.
    Majority,
    /// Every node.
    All,
    /// Exactly these nodes (explicit schedules and replays).
    Nodes(Vec<NodeName>),
}

impl Target {
    /// The names accepted in campaign files, for error messages.
    pub const NAMES: &'static [&'static str] =
        &["random-node", "leader", "minority", "majority", "all"];

    /// Picks the concrete nodes. `leader` is the node the cluster currently reports as leader.
    pub fn resolve<R: Rng>(
        &self,
        nodes: &[NodeName],
        leader: Option<&NodeName>,
        rng: &mut R,
    ) -> Result<Vec<NodeName>, Error> {
        if nodes.is_empty() {
            return Err(Error::NoNodes);
        }
        let mut shuffled = nodes.to_vec();
        shuffled.shuffle(rng);
        let mut picked = match self {
            Target::RandomNode => shuffled[..1].to_vec(),
            Target::Leader => vec![leader.ok_or(Error::NoLeader)?.clone()],
            Target::Minority => {
                // A minority of one node is still a minority; a 1- or 2-node cluster has only that.
                let max = (majority(nodes.len()) - 1).max(1);
                let k = rng.gen_range(1..=max);
                shuffled[..k].to_vec()
            }
            Target::Majority => shuffled[..majority(nodes.len())].to_vec(),
            Target::All => nodes.to_vec(),
            Target::Nodes(list) => {
                for n in list {
                    if !nodes.contains(n) {
                        return Err(Error::UnknownNode(n.clone(), nodes.join(",")));
                    }
                }
                list.clone()
            }
        };
        picked.sort();
        Ok(picked)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::RandomNode => f.write_str("random-node"),
            Target::Leader => f.write_str("leader"),
            Target::Minority => f.write_str("minority"),
            Target::Majority => f.write_str("majority"),
            Target::All => f.write_str("all"),
            Target::Nodes(list) => write!(f, "[{}]", list.join(",")),
        }
    }
}

impl FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "random-node" => Target::RandomNode,
            "leader" => Target::Leader,
            "minority" => Target::Minority,
            "majority" => Target::Majority,
            "all" => Target::All,
            other => {
                return Err(format!(
                    "unknown target {other:?}; expected one of {}",
                    Target::NAMES.join(", ")
                ))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn nodes(n: usize) -> Vec<NodeName> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    #[test]
    fn sizes_match_their_names() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let ns = nodes(5);
        for _ in 0..50 {
            let m = Target::Minority.resolve(&ns, None, &mut rng).unwrap();
            assert!((1..=2).contains(&m.len()), "{m:?}");
            assert_eq!(
                Target::Majority.resolve(&ns, None, &mut rng).unwrap().len(),
                3
            );
            assert_eq!(
                Target::RandomNode
                    .resolve(&ns, None, &mut rng)
                    .unwrap()
                    .len(),
                1
            );
        }
        assert_eq!(Target::All.resolve(&ns, None, &mut rng).unwrap(), ns);
    }

    #[test]
    fn leader_needs_a_leader() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let ns = nodes(3);
        assert_eq!(
            Target::Leader.resolve(&ns, None, &mut rng),
            Err(Error::NoLeader)
        );
        let l = "n2".to_string();
        assert_eq!(
            Target::Leader.resolve(&ns, Some(&l), &mut rng).unwrap(),
            vec!["n2"]
        );
    }

    #[test]
    fn explicit_nodes_must_exist() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let t = Target::Nodes(vec!["n9".into()]);
        assert!(matches!(
            t.resolve(&nodes(3), None, &mut rng),
            Err(Error::UnknownNode(..))
        ));
    }

    #[test]
    fn names_round_trip() {
        for name in Target::NAMES {
            assert_eq!(name.parse::<Target>().unwrap().to_string(), *name);
        }
        assert!("everyone".parse::<Target>().is_err());
    }
}
