//! Partitions as iptables rules. A grudge says, per node, whose packets it drops; node X
//! dropping Y's packets becomes two rules: in X's namespace `-s Y -j DROP` (X refuses them) and
//! in Y's namespace `-d X -j DROP` (Y never sends them). Enforcing each direction at both ends
//! keeps a partition whole when one side restarts (a restarted container gets a fresh network
//! namespace, without rules). All rules live in our own chain, FAULTLINE, jumped to from INPUT
//! and OUTPUT, so healing flushes exactly what faultline added.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use nemesis::fault::{Grudge, NodeName};

pub const CHAIN: &str = "FAULTLINE";

/// One node's rules: packets from these addresses and to these addresses are dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    pub from: BTreeSet<Ipv4Addr>,
    pub to: BTreeSet<Ipv4Addr>,
}

/// The rules each node needs for `grudge`. Fails on a node name not in `addrs`.
pub fn rules_for(
    grudge: &Grudge,
    addrs: &BTreeMap<NodeName, Ipv4Addr>,
) -> Result<BTreeMap<NodeName, Rules>, NodeName> {
    let addr = |n: &NodeName| addrs.get(n).copied().ok_or_else(|| n.clone());
    let mut rules: BTreeMap<NodeName, Rules> = BTreeMap::new();
    for (receiver, senders) in &grudge.0 {
        let receiver_ip = addr(receiver)?;
        for sender in senders {
            let sender_ip = addr(sender)?;
            if sender == receiver {
                continue;
            }
            rules
                .entry(receiver.clone())
                .or_default()
                .from
                .insert(sender_ip);
            rules
                .entry(sender.clone())
                .or_default()
                .to
                .insert(receiver_ip);
        }
    }
    Ok(rules)
}

/// The grudge that a set of rules (read back from the nodes) enforces.
pub fn grudge_from_rules(
    rules: &BTreeMap<NodeName, Rules>,
    addrs: &BTreeMap<NodeName, Ipv4Addr>,
) -> Grudge {
    let name_of: BTreeMap<Ipv4Addr, &NodeName> = addrs.iter().map(|(n, ip)| (*ip, n)).collect();
    let mut grudge = Grudge::default();
    for (node, r) in rules {
        for ip in &r.from {
            if let Some(sender) = name_of.get(ip) {
                grudge
                    .0
                    .entry(node.clone())
                    .or_default()
                    .insert((*sender).clone());
            }
        }
        for ip in &r.to {
            if let Some(receiver) = name_of.get(ip) {
                grudge
                    .0
                    .entry((*receiver).clone())
                    .or_default()
                    .insert(node.clone());
            }
        }
    }
    grudge
}

/// A shell script that adds the rules idempotently (`-C` before `-A`), then lists the chain so
/// the caller can verify what is in force.
pub fn apply_script(rules: &Rules) -> String {
    let mut s = format!(
        "set -e\n\
         iptables -w -N {CHAIN} 2>/dev/null || true\n\
         iptables -w -C INPUT -j {CHAIN} 2>/dev/null || iptables -w -I INPUT 1 -j {CHAIN}\n\
         iptables -w -C OUTPUT -j {CHAIN} 2>/dev/null || iptables -w -I OUTPUT 1 -j {CHAIN}\n"
    );
    let lines = rules
        .from
        .iter()
        .map(|ip| format!("-s {ip}/32 -j DROP"))
        .chain(rules.to.iter().map(|ip| format!("-d {ip}/32 -j DROP")));
    for rule in lines {
        s.push_str(&format!(
            "iptables -w -C {CHAIN} {rule} 2>/dev/null || iptables -w -A {CHAIN} {rule}\n"
        ));
    }
    s.push_str(&format!("iptables -w -S {CHAIN}\n"));
    s
}

/// Flushes our chain (when it exists) and lists it, which must then hold no rule.
pub fn heal_script() -> String {
    format!(
        "set -e\n\
         if iptables -w -S {CHAIN} >/dev/null 2>&1; then iptables -w -F {CHAIN}; iptables -w -S {CHAIN}; fi\n"
    )
}

/// Lists the chain; prints nothing when it does not exist.
pub fn list_script() -> String {
    format!("iptables -w -S {CHAIN} 2>/dev/null || true\n")
}

/// The DROP rules in `iptables -S FAULTLINE` output; other lines are ignored.
pub fn parse_rules(listing: &str) -> Rules {
    let mut rules = Rules::default();
    for line in listing.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let ["-A", chain, dir, cidr, "-j", "DROP"] = words[..] {
            if chain != CHAIN {
                continue;
            }
            let Some(ip) = cidr
                .strip_suffix("/32")
                .unwrap_or(cidr)
                .parse::<Ipv4Addr>()
                .ok()
            else {
                continue;
            };
            match dir {
                "-s" => {
                    rules.from.insert(ip);
                }
                "-d" => {
                    rules.to.insert(ip);
                }
                _ => {}
            }
        }
    }
    rules
}

/// `a drops b,c; ...` for people.
pub fn describe(grudge: &Grudge) -> String {
    grudge
        .0
        .iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|(n, s)| {
            format!(
                "{n} drops {}",
                s.iter().cloned().collect::<Vec<_>>().join(",")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use nemesis::partition::{complete_grudge as grudge_from_groups, halves, isolate};

    fn names(s: &[&str]) -> Vec<NodeName> {
        s.iter().map(|s| s.to_string()).collect()
    }

    fn addrs() -> BTreeMap<NodeName, Ipv4Addr> {
        (1..=3)
            .map(|i| (format!("n{i}"), Ipv4Addr::new(10, 77, 0, 10 + i)))
            .collect()
    }

    #[test]
    fn groups_become_symmetric_grudges() {
        let g = grudge_from_groups(&[names(&["n1"]), names(&["n2", "n3"])]);
        assert_eq!(describe(&g), "n1 drops n2,n3; n2 drops n1; n3 drops n1");
        assert_eq!(
            halves(&names(&["n1", "n2", "n3"])),
            vec![names(&["n1"]), names(&["n2", "n3"])]
        );
        assert_eq!(
            isolate("n2", &names(&["n1", "n2", "n3"])),
            vec![names(&["n2"]), names(&["n1", "n3"])]
        );
        assert!(grudge_from_groups(&[names(&["n1", "n2"])]).0.is_empty());
    }

    #[test]
    fn rules_enforce_each_direction_at_both_ends_and_read_back_to_the_grudge() {
        let g = grudge_from_groups(&isolate("n1", &names(&["n1", "n2", "n3"])));
        let rules = rules_for(&g, &addrs()).unwrap();
        let ip = |i: u8| Ipv4Addr::new(10, 77, 0, 10 + i);
        assert_eq!(rules["n1"].from, BTreeSet::from([ip(2), ip(3)]));
        assert_eq!(rules["n1"].to, BTreeSet::from([ip(2), ip(3)]));
        assert_eq!(rules["n2"].from, BTreeSet::from([ip(1)]));
        assert_eq!(rules["n2"].to, BTreeSet::from([ip(1)]));
        assert_eq!(grudge_from_rules(&rules, &addrs()), g);
    }

    #[test]
    fn a_one_way_grudge_stays_one_way() {
        let mut g = Grudge::default();
        g.0.insert("n1".into(), BTreeSet::from(["n2".to_string()]));
        let rules = rules_for(&g, &addrs()).unwrap();
        assert_eq!(rules["n1"].to, BTreeSet::new());
        assert_eq!(rules["n2"].from, BTreeSet::new());
        assert_eq!(grudge_from_rules(&rules, &addrs()), g);
    }

    #[test]
    fn unknown_nodes_are_reported() {
        let g = grudge_from_groups(&[names(&["n1"]), names(&["n9"])]);
        assert_eq!(rules_for(&g, &addrs()).unwrap_err(), "n9");
    }

    #[test]
    fn listings_parse_back_to_rules() {
        let listing = "-N FAULTLINE\n-A FAULTLINE -s 10.77.0.12/32 -j DROP\n\
                       -A FAULTLINE -d 10.77.0.13/32 -j DROP\n-A OTHER -s 1.2.3.4/32 -j DROP\n";
        let r = parse_rules(listing);
        assert_eq!(r.from, BTreeSet::from([Ipv4Addr::new(10, 77, 0, 12)]));
        assert_eq!(r.to, BTreeSet::from([Ipv4Addr::new(10, 77, 0, 13)]));
        let mut rules = Rules::default();
        rules.from.insert(Ipv4Addr::new(10, 77, 0, 12));
        let script = apply_script(&rules);
        assert!(script.contains("iptables -w -A FAULTLINE -s 10.77.0.12/32 -j DROP"));
        assert!(script.ends_with("iptables -w -S FAULTLINE\n"));
    }
}
