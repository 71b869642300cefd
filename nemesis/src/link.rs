//! Degraded links as data: which directed links, and what happens to the packets on them
//! (a share lost, a bandwidth limit, a delay with jitter). The links are a [`Grudge`]: each
//! node maps to the nodes whose packets *to it* are degraded, so the patterns that cut a network
//! (`halves`, `isolate-leader`, ...) describe which links a link fault degrades, plus `all`.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::fault::{Grudge, NodeName};
use crate::partition::{complete_grudge, Pattern};
use crate::Error;

/// Which links a link fault degrades.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkPattern {
    /// Every link between every two nodes.
    All,
    /// The links a partition pattern would cut (`halves`, `isolate-one`, `isolate-leader`,
    /// `majorities-ring`, `bridge`).
    Cut(Pattern),
}

impl LinkPattern {
    /// The names accepted in campaign files.
    pub const NAMES: &'static [&'static str] = &[
        "all",
        "halves",
        "isolate-one",
        "isolate-leader",
        "majorities-ring",
        "bridge",
    ];

    /// The smallest cluster that has a link to degrade under this pattern.
    pub fn min_nodes(&self) -> usize {
        match self {
            LinkPattern::All => 2,
            LinkPattern::Cut(p) => p.min_nodes().max(2),
        }
    }

    /// Whether resolving the pattern needs the current leader.
    pub fn needs_leader(&self) -> bool {
        matches!(self, LinkPattern::Cut(Pattern::IsolateLeader))
    }

    /// The concrete links: receiver -> the senders whose packets to it are degraded.
    pub fn links<R: Rng>(
        &self,
        nodes: &[NodeName],
        leader: Option<&NodeName>,
        rng: &mut R,
    ) -> Result<Grudge, Error> {
        match self {
            LinkPattern::All => {
                if nodes.len() < 2 {
                    return Err(Error::TooFewNodes {
                        pattern: "all",
                        min: 2,
                        have: nodes.len(),
                    });
                }
                let singles: Vec<Vec<NodeName>> = nodes.iter().map(|n| vec![n.clone()]).collect();
                Ok(complete_grudge(&singles))
            }
            LinkPattern::Cut(p) => {
                if let Pattern::Grudge(_) = p {
                    return p.grudge(nodes, leader, rng);
                }
                if nodes.len() < self.min_nodes() {
                    return Err(Error::TooFewNodes {
                        pattern: p.name(),
                        min: self.min_nodes(),
                        have: nodes.len(),
                    });
                }
                p.grudge(nodes, leader, rng)
            }
        }
    }
}

impl fmt::Display for LinkPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkPattern::All => f.write_str("all"),
            LinkPattern::Cut(p) => write!(f, "{p}"),
        }
    }
}

impl FromStr for LinkPattern {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "all" {
            return Ok(LinkPattern::All);
        }
        s.parse::<Pattern>().map(LinkPattern::Cut).map_err(|_| {
            format!(
                "unknown link pattern {s:?}; expected one of {}",
                LinkPattern::NAMES.join(", ")
            )
        })
    }
}

/// A share of packets, in hundredths of a percent (0 to 10,000), so faults compare exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Percent(u32);

impl Percent {
    /// A share from a percentage, when it lies in (0, 100].
    pub fn new(percent: f64) -> Result<Percent, String> {
        if !percent.is_finite() || percent <= 0.0 || percent > 100.0 {
            return Err(format!(
                "{percent} is out of range: a loss is more than 0% and at most 100%"
            ));
        }
        let hundredths = (percent * 100.0).round() as u32;
        if hundredths == 0 {
            return Err(format!("{percent}% rounds to 0 (the finest step is 0.01%)"));
        }
        Ok(Percent(hundredths))
    }

    /// From a probability as iptables prints it back (`0.29999999981`).
    pub fn from_probability(p: f64) -> Option<Percent> {
        (p.is_finite() && p > 0.0 && p <= 1.0).then(|| Percent((p * 10_000.0).round() as u32))
    }

    pub fn as_f64(&self) -> f64 {
        f64::from(self.0) / 100.0
    }

    /// The probability for iptables' `statistic --mode random --probability`.
    pub fn probability(&self) -> String {
        format!("{:.4}", f64::from(self.0) / 10_000.0)
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.as_f64())
    }
}

impl Serialize for Percent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_f64())
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Percent, D::Error> {
        Percent::new(f64::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// A bandwidth in bits per second, written as tc writes it: `1mbit`, `500kbit`, `2gbit`, `64000bit`
/// (decimal units, as tc's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rate(u64);

impl Rate {
    /// The slowest rate accepted: slower than this a node cannot send one full packet a second.
    pub const MIN_BITS: u64 = 8_000;

    pub fn bits_per_sec(&self) -> u64 {
        self.0
    }

    pub fn from_bits(bits: u64) -> Rate {
        Rate(bits)
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        let bad = || {
            format!(
                "{s:?} is not a rate; write a number and a unit: bit, kbit, mbit or gbit (e.g. 1mbit)"
            )
        };
        let (number, scale) = [
            ("gbit", 1_000_000_000u64),
            ("mbit", 1_000_000),
            ("kbit", 1_000),
            ("bit", 1),
        ]
        .iter()
        .find_map(|(unit, scale)| t.strip_suffix(unit).map(|n| (n.trim(), *scale)))
        .ok_or_else(bad)?;
        let value: f64 = number.parse().map_err(|_| bad())?;
        if !value.is_finite() || value <= 0.0 {
            return Err(format!("{s:?}: a rate must be more than 0"));
        }
        let bits = (value * scale as f64).round();
        if bits > 100e9 {
            return Err(format!("{s:?} is more than 100gbit"));
        }
        let bits = bits as u64;
        if bits < Rate::MIN_BITS {
            return Err(format!(
                "{s:?} is below the slowest rate, {}",
                Rate(Rate::MIN_BITS)
            ));
        }
        Ok(Rate(bits))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, scale) in [
            ("gbit", 1_000_000_000u64),
            ("mbit", 1_000_000),
            ("kbit", 1_000),
        ] {
            if self.0 >= scale && self.0 % scale == 0 {
                return write!(f, "{}{unit}", self.0 / scale);
            }
        }
        write!(f, "{}bit", self.0)
    }
}

impl Serialize for Rate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Rate, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A delay added to every packet, varied by up to `jitter_ms` either way (netem).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Delay {
    pub ms: u32,
    #[serde(default)]
    pub jitter_ms: u32,
}

impl fmt::Display for Delay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.jitter_ms == 0 {
            write!(f, "{}ms", self.ms)
        } else {
            write!(f, "{}ms±{}ms", self.ms, self.jitter_ms)
        }
    }
}

/// What a link fault does to the packets on its links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// Drop this share of packets (iptables' `statistic` match).
    Loss(Percent),
    /// Limit the bandwidth (tc's `tbf`).
    Slow(Rate),
    /// Delay packets (tc's `netem`).
    Delay(Delay),
}

impl Shape {
    pub fn kind(&self) -> LinkKind {
        match self {
            Shape::Loss(_) => LinkKind::Loss,
            Shape::Slow(_) => LinkKind::Slow,
            Shape::Delay(_) => LinkKind::Delay,
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Loss(p) => write!(f, "loss {p}"),
            Shape::Slow(r) => write!(f, "slow {r}"),
            Shape::Delay(d) => write!(f, "delay {d}"),
        }
    }
}

/// The three kinds of link fault, each undone on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkKind {
    Loss,
    Slow,
    Delay,
}

impl LinkKind {
    pub const ALL: [LinkKind; 3] = [LinkKind::Loss, LinkKind::Slow, LinkKind::Delay];

    pub fn name(&self) -> &'static str {
        match self {
            LinkKind::Loss => "loss",
            LinkKind::Slow => "slow",
            LinkKind::Delay => "delay",
        }
    }
}

impl fmt::Display for LinkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A concrete link fault: these links, this shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkFault {
    /// Receiver -> the senders whose packets to it are degraded.
    pub links: Grudge,
    pub shape: Shape,
}

/// `n1<-n2,n3; n2<-n1` for people.
pub fn describe_links(links: &Grudge) -> String {
    links
        .0
        .iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|(n, s)| format!("{n}<-{}", s.iter().cloned().collect::<Vec<_>>().join(",")))
        .collect::<Vec<_>>()
        .join("; ")
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
    fn all_degrades_every_link_both_ways() {
        let g = LinkPattern::All
            .links(&nodes(3), None, &mut ChaCha8Rng::seed_from_u64(1))
            .unwrap();
        assert_eq!(describe_links(&g), "n1<-n2,n3; n2<-n1,n3; n3<-n1,n2");
        assert!(matches!(
            LinkPattern::All.links(&nodes(1), None, &mut ChaCha8Rng::seed_from_u64(1)),
            Err(Error::TooFewNodes {
                min: 2,
                have: 1,
                ..
            })
        ));
    }

    #[test]
    fn partition_patterns_name_links_and_need_two_nodes() {
        let p: LinkPattern = "isolate-leader".parse().unwrap();
        assert!(p.needs_leader());
        let leader = "n2".to_string();
        let g = p
            .links(&nodes(3), Some(&leader), &mut ChaCha8Rng::seed_from_u64(1))
            .unwrap();
        assert_eq!(describe_links(&g), "n1<-n2; n2<-n1,n3; n3<-n2");
        let halves: LinkPattern = "halves".parse().unwrap();
        assert_eq!(halves.min_nodes(), 2);
        assert!(halves
            .links(&nodes(1), None, &mut ChaCha8Rng::seed_from_u64(1))
            .is_err());
        let e = "everywhere".parse::<LinkPattern>().unwrap_err();
        assert!(e.contains("expected one of all, halves"), "{e}");
        for name in LinkPattern::NAMES {
            assert_eq!(name.parse::<LinkPattern>().unwrap().to_string(), *name);
        }
    }

    #[test]
    fn percents_are_in_range_and_become_probabilities() {
        assert_eq!(Percent::new(30.0).unwrap().probability(), "0.3000");
        assert_eq!(Percent::new(2.5).unwrap().to_string(), "2.5%");
        assert_eq!(Percent::new(100.0).unwrap().probability(), "1.0000");
        for bad in [150.0, 0.0, -1.0, f64::NAN, 0.001] {
            assert!(Percent::new(bad).is_err(), "{bad}");
        }
        // As iptables prints 30% back.
        assert_eq!(
            Percent::from_probability(0.29999999981),
            Percent::new(30.0).ok()
        );
        let json = serde_json::to_value(Percent::new(30.0).unwrap()).unwrap();
        assert_eq!(json, serde_json::json!(30.0));
        assert!(serde_json::from_value::<Percent>(serde_json::json!(150)).is_err());
    }

    #[test]
    fn rates_parse_like_tc_and_refuse_garbage() {
        assert_eq!("1mbit".parse::<Rate>().unwrap().bits_per_sec(), 1_000_000);
        assert_eq!("500kbit".parse::<Rate>().unwrap().to_string(), "500kbit");
        assert_eq!("1.5mbit".parse::<Rate>().unwrap().to_string(), "1500kbit");
        assert_eq!("2Gbit".parse::<Rate>().unwrap().to_string(), "2gbit");
        for bad in [
            "0mbit",
            "fast",
            "10",
            "1mbps",
            "-1kbit",
            "1bit",
            "",
            "1e300gbit",
        ] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }
}
