//! The Docker executor's link faults: loss as iptables rules in the receiver's namespace, slow
//! and delayed links as a tc tree on the sender's interface (see [`super::links`]). Every change
//! is read back and compared with what was asked before it returns; restoring one kind never
//! touches another kind or a partition.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use futures::future::try_join_all;
use nemesis::fault::NodeName;
use nemesis::link::{describe_links, Delay, LinkFault, LinkKind, Percent, Rate, Shape};
use serde::Serialize;

use super::faults::{DockerFaults, FaultError};
use super::links::{self, LossCount, LossRules, Shaping};
use super::NodeInfo;

/// Links degraded from one sender, and how.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shaped<T> {
    #[serde(flatten)]
    pub how: T,
    /// The receivers whose links from this sender are degraded.
    pub to: BTreeSet<NodeName>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RateOf {
    pub rate: Rate,
}

/// The link faults in effect, read back from the nodes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ActiveLinks {
    /// Receiver -> sender -> the share of its packets dropped.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub loss: BTreeMap<NodeName, BTreeMap<NodeName, Percent>>,
    /// Sender -> its bandwidth limit and the receivers it applies to.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub slow: BTreeMap<NodeName, Shaped<RateOf>>,
    /// Sender -> its delay and the receivers it applies to.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub delay: BTreeMap<NodeName, Shaped<Delay>>,
    /// Receiver -> sender -> packets seen and dropped by the loss rules so far.
    #[serde(skip)]
    pub loss_counts: BTreeMap<NodeName, BTreeMap<NodeName, LossCount>>,
    /// Bytes that went through each sender's tbf and netem so far.
    #[serde(skip)]
    pub shaped_bytes: BTreeMap<NodeName, (u64, u64)>,
}

impl ActiveLinks {
    pub fn is_empty(&self) -> bool {
        self.loss.is_empty() && self.slow.is_empty() && self.delay.is_empty()
    }

    pub fn has(&self, kind: LinkKind) -> bool {
        match kind {
            LinkKind::Loss => !self.loss.is_empty(),
            LinkKind::Slow => !self.slow.is_empty(),
            LinkKind::Delay => !self.delay.is_empty(),
        }
    }

    /// `loss: n1<-n2 30%; slow: n1->n2,n3 1mbit` parts for people.
    pub fn describe(&self) -> Vec<String> {
        let mut parts = Vec::new();
        if !self.loss.is_empty() {
            let links: Vec<String> = self
                .loss
                .iter()
                .flat_map(|(r, senders)| senders.iter().map(move |(s, p)| format!("{r}<-{s} {p}")))
                .collect();
            parts.push(format!("loss: {}", links.join(", ")));
        }
        let shaped = |name: &str, m: Vec<(String, String)>| {
            let links: Vec<String> = m.into_iter().map(|(l, how)| format!("{l} {how}")).collect();
            format!("{name}: {}", links.join(", "))
        };
        if !self.slow.is_empty() {
            parts.push(shaped(
                "slow",
                self.slow
                    .iter()
                    .map(|(s, v)| (arrow(s, &v.to), v.how.rate.to_string()))
                    .collect(),
            ));
        }
        if !self.delay.is_empty() {
            parts.push(shaped(
                "delay",
                self.delay
                    .iter()
                    .map(|(s, v)| (arrow(s, &v.to), v.how.to_string()))
                    .collect(),
            ));
        }
        parts
    }

    /// Whether links of this kind are in effect and did something to the traffic, and what:
    /// for loss, the share of packets the rules dropped out of those they saw; for slow and
    /// delay, the bytes that went through the shaper.
    pub fn observe(&self, kind: LinkKind) -> (bool, String) {
        match kind {
            LinkKind::Loss => {
                let (mut seen, mut dropped) = (0u64, 0u64);
                for c in self.loss_counts.values().flat_map(|m| m.values()) {
                    seen += c.seen;
                    dropped += c.dropped;
                }
                if self.loss.is_empty() {
                    return (false, "no loss rule in effect".into());
                }
                let share = if seen == 0 {
                    0.0
                } else {
                    dropped as f64 * 100.0 / seen as f64
                };
                (
                    dropped > 0,
                    format!(
                        "{} lossy links; dropped {dropped} of {seen} packets ({share:.1}%)",
                        self.loss.values().map(BTreeMap::len).sum::<usize>()
                    ),
                )
            }
            LinkKind::Slow | LinkKind::Delay => {
                let (what, links) = match kind {
                    LinkKind::Slow => ("tbf", self.slow.keys().collect::<Vec<_>>()),
                    _ => ("netem", self.delay.keys().collect::<Vec<_>>()),
                };
                if links.is_empty() {
                    return (false, format!("no {what} qdisc in effect"));
                }
                let bytes: u64 = links
                    .iter()
                    .filter_map(|s| self.shaped_bytes.get(*s))
                    .map(|(tbf, netem)| if kind == LinkKind::Slow { *tbf } else { *netem })
                    .sum();
                let desc = if kind == LinkKind::Slow {
                    self.describe().into_iter().find(|p| p.starts_with("slow"))
                } else {
                    self.describe().into_iter().find(|p| p.starts_with("delay"))
                };
                (
                    bytes > 0,
                    format!(
                        "{}; {bytes} bytes went through {what}",
                        desc.unwrap_or_default()
                    ),
                )
            }
        }
    }
}

fn by_name<V>(
    name_of: &BTreeMap<Ipv4Addr, NodeName>,
    m: BTreeMap<Ipv4Addr, V>,
) -> BTreeMap<NodeName, V> {
    m.into_iter()
        .filter_map(|(ip, v)| name_of.get(&ip).map(|n| (n.clone(), v)))
        .collect()
}

fn arrow(sender: &str, to: &BTreeSet<NodeName>) -> String {
    format!(
        "{sender}->{}",
        to.iter().cloned().collect::<Vec<_>>().join(",")
    )
}

impl DockerFaults {
    fn unknown(&self, node: NodeName) -> FaultError {
        FaultError::UnknownNode {
            node,
            cluster: self.cluster.name().to_string(),
            known: self.addrs().keys().cloned().collect::<Vec<_>>().join(","),
        }
    }

    pub(super) async fn degrade_links(&self, fault: &LinkFault) -> Result<(), FaultError> {
        let addrs = self.addrs();
        match fault.shape {
            Shape::Loss(percent) => {
                let rules = links::loss_rules_for(&fault.links, percent, &addrs)
                    .map_err(|n| self.unknown(n))?;
                let nodes = self.resolve(&rules.keys().cloned().collect::<Vec<_>>())?;
                try_join_all(nodes.iter().map(|n| self.loss_one(n, &rules[&n.name]))).await?;
            }
            Shape::Slow(_) | Shape::Delay(_) => {
                let dsts = links::shaped_destinations(&fault.links, &addrs)
                    .map_err(|n| self.unknown(n))?;
                let nodes = self.resolve(&dsts.keys().cloned().collect::<Vec<_>>())?;
                try_join_all(
                    nodes
                        .iter()
                        .map(|n| self.shape_one(n, fault.shape, &dsts[&n.name])),
                )
                .await?;
            }
        }
        tracing::info!(target: "faultline::nemesis", cluster = %self.cluster.name(), "{}: {}", fault.shape, describe_links(&fault.links));
        Ok(())
    }

    async fn loss_one(&self, node: &NodeInfo, wanted: &LossRules) -> Result<(), FaultError> {
        let Some(listing) = self
            .in_netns("loss", node, &links::loss_apply_script(wanted))
            .await?
        else {
            tracing::warn!(target: "faultline::nemesis", node = %node.name, "not running: no loss rules added in its namespace");
            return Ok(());
        };
        let (present, _) = links::parse_loss(&listing);
        if wanted.iter().any(|(ip, p)| present.get(ip) != Some(p)) {
            return Err(FaultError::Failed {
                op: "loss",
                node: node.name.clone(),
                message: format!(
                    "rules missing after applying them; iptables -S shows:\n{listing}"
                ),
            });
        }
        Ok(())
    }

    async fn shape_one(
        &self,
        node: &NodeInfo,
        shape: Shape,
        dsts: &BTreeSet<Ipv4Addr>,
    ) -> Result<(), FaultError> {
        let op = shape.kind().name();
        let Some(listing) = self.in_netns(op, node, &links::tc_list_script()).await? else {
            tracing::warn!(target: "faultline::nemesis", node = %node.name, "not running: nothing shaped in its namespace");
            return Ok(());
        };
        let mut want = links::parse_tc(&listing);
        match shape {
            Shape::Slow(rate) => {
                let mut all = want.slow.take().map(|(_, d)| d).unwrap_or_default();
                all.extend(dsts);
                want.slow = Some((rate, all));
            }
            Shape::Delay(delay) => {
                let mut all = want.delay.take().map(|(_, d)| d).unwrap_or_default();
                all.extend(dsts);
                want.delay = Some((delay, all));
            }
            Shape::Loss(_) => unreachable!("loss is not shaped"),
        }
        self.apply_shaping(op, node, &want).await.map(|_| ())
    }

    /// Rebuilds the node's tc tree as `want` and checks that tc shows exactly that.
    async fn apply_shaping(
        &self,
        op: &'static str,
        node: &NodeInfo,
        want: &Shaping,
    ) -> Result<(), FaultError> {
        let Some(listing) = self
            .in_netns(op, node, &links::tc_apply_script(want))
            .await?
        else {
            return Ok(());
        };
        let have = links::parse_tc(&listing);
        if !links::shaping_holds(want, &have) {
            return Err(FaultError::Failed {
                op,
                node: node.name.clone(),
                message: format!(
                    "tc does not show what was asked ({want:?}); it shows:\n{listing}"
                ),
            });
        }
        Ok(())
    }

    pub(super) async fn restore_links(&self, kind: LinkKind) -> Result<(), FaultError> {
        try_join_all(
            self.cluster
                .nodes()
                .iter()
                .map(|n| self.restore_one(n, kind)),
        )
        .await?;
        Ok(())
    }

    async fn restore_one(&self, node: &NodeInfo, kind: LinkKind) -> Result<(), FaultError> {
        let op = match kind {
            LinkKind::Loss => "heal-loss",
            LinkKind::Slow => "heal-slow",
            LinkKind::Delay => "heal-delay",
        };
        if kind == LinkKind::Loss {
            let Some(listing) = self.in_netns(op, node, &links::loss_heal_script()).await? else {
                return Ok(());
            };
            if !links::parse_loss(&listing).0.is_empty() {
                return Err(FaultError::Failed {
                    op,
                    node: node.name.clone(),
                    message: format!(
                        "loss rules left after flushing; iptables -S shows:\n{listing}"
                    ),
                });
            }
            return Ok(());
        }
        let Some(listing) = self.in_netns(op, node, &links::tc_list_script()).await? else {
            return Ok(());
        };
        let have = links::parse_tc(&listing);
        if !have.has(kind) {
            return Ok(());
        }
        self.apply_shaping(op, node, &have.without(kind)).await
    }

    /// Reads back every link fault in effect, with the loss rules' counters and the bytes
    /// shaped; nodes that could not be read come back as messages.
    pub async fn active_links(&self) -> (ActiveLinks, Vec<String>) {
        let script = format!(
            "{}echo ===\n{}",
            links::loss_list_script(),
            links::tc_list_script()
        );
        let reads = self.cluster.nodes().iter().map(|node| {
            let script = script.clone();
            async move {
                (
                    node.name.clone(),
                    self.in_netns("read", node, &script).await,
                )
            }
        });
        let name_of: BTreeMap<Ipv4Addr, NodeName> =
            self.addrs().into_iter().map(|(n, ip)| (ip, n)).collect();
        let names = |ips: &BTreeSet<Ipv4Addr>| -> BTreeSet<NodeName> {
            ips.iter()
                .filter_map(|ip| name_of.get(ip).cloned())
                .collect()
        };
        let mut active = ActiveLinks::default();
        let mut unreadable = Vec::new();
        for (node, read) in futures::future::join_all(reads).await {
            let listing = match read {
                Ok(Some(l)) => l,
                Ok(None) => continue,
                Err(e) => {
                    unreadable.push(e.to_string());
                    continue;
                }
            };
            let (loss, tc) = listing.split_once("===").unwrap_or((&listing, ""));
            let (rules, counts) = links::parse_loss(loss);
            if !rules.is_empty() {
                active.loss.insert(node.clone(), by_name(&name_of, rules));
                active
                    .loss_counts
                    .insert(node.clone(), by_name(&name_of, counts));
            }
            let shaping = links::parse_tc(tc);
            if let Some((rate, to)) = shaping.slow {
                active.slow.insert(
                    node.clone(),
                    Shaped {
                        how: RateOf { rate },
                        to: names(&to),
                    },
                );
            }
            if let Some((delay, to)) = shaping.delay {
                active.delay.insert(
                    node.clone(),
                    Shaped {
                        how: delay,
                        to: names(&to),
                    },
                );
            }
            let sent = links::parse_tc_sent(tc);
            if sent != (0, 0) {
                active.shaped_bytes.insert(node, sent);
            }
        }
        (active, unreadable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observed_loss_is_the_share_the_rules_dropped() {
        let mut a = ActiveLinks::default();
        assert!(!a.observe(LinkKind::Loss).0);
        let p = Percent::new(30.0).unwrap();
        a.loss
            .insert("n1".into(), BTreeMap::from([("n2".to_string(), p)]));
        a.loss_counts.insert(
            "n1".into(),
            BTreeMap::from([(
                "n2".to_string(),
                LossCount {
                    seen: 200,
                    dropped: 0,
                },
            )]),
        );
        // Rules in place that dropped nothing did not take effect.
        assert!(!a.observe(LinkKind::Loss).0);
        a.loss_counts
            .get_mut("n1")
            .unwrap()
            .get_mut("n2")
            .unwrap()
            .dropped = 58;
        let (observed, effect) = a.observe(LinkKind::Loss);
        assert!(observed);
        assert_eq!(effect, "1 lossy links; dropped 58 of 200 packets (29.0%)");
        assert_eq!(a.describe(), vec!["loss: n1<-n2 30%".to_string()]);
        a.slow.insert(
            "n2".into(),
            Shaped {
                how: RateOf {
                    rate: "1mbit".parse().unwrap(),
                },
                to: BTreeSet::from(["n1".to_string()]),
            },
        );
        assert!(!a.observe(LinkKind::Slow).0, "no bytes through tbf yet");
        a.shaped_bytes.insert("n2".into(), (4096, 0));
        let (observed, effect) = a.observe(LinkKind::Slow);
        assert!(observed);
        assert_eq!(effect, "slow: n2->n1 1mbit; 4096 bytes went through tbf");
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(json["slow"]["n2"]["rate"], "1mbit");
        assert_eq!(json["loss"]["n1"]["n2"], 30.0);
    }
}
