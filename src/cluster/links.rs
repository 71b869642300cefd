//! Degraded links in a node's network namespace: the scripts that add and remove them, and the
//! parsers that read them back.
//!
//! - **Loss**: iptables rules in our own chain, `FAULTLINE-LOSS`, jumped to from INPUT (so a
//!   partition heal, which flushes `FAULTLINE`, never touches them, and the other way round).
//!   A link "R receives from S with loss P" is two rules in R's namespace: `-s S` (counts every
//!   packet from S) and `-s S -m statistic --mode random --probability P -j DROP`. Loss is
//!   enforced at the receiving end only, so a link loses P and not 1-(1-P)^2; the two counters
//!   give the loss measured on the real traffic.
//! - **Slow** and **delay**: a tc tree on the node's `eth0` that faultline owns: an `htb` root
//!   (handle `1:`, unclassified packets pass straight through), class `1:10` with a `tbf` leaf
//!   (handle `10:`) for slowed links, class `1:20` with a `netem` leaf (handle `20:`) for
//!   delayed ones, and one u32 filter per destination. Shaping is on the sender's egress. The
//!   tree is rebuilt from the whole wanted state each time, and removed when nothing is left.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use nemesis::fault::{Grudge, NodeName};
use nemesis::link::{Delay, LinkKind, Percent, Rate};

pub const LOSS_CHAIN: &str = "FAULTLINE-LOSS";
/// The interface every node reaches its peers on (Docker's first network).
pub const DEV: &str = "eth0";

/// One node's loss rules: sender -> share of its packets dropped here.
pub type LossRules = BTreeMap<Ipv4Addr, Percent>;

/// Packets seen from and dropped for one sender, from the rules' counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LossCount {
    pub seen: u64,
    pub dropped: u64,
}

/// Adds (or replaces) loss rules for these senders, then lists the chain with its counters.
pub fn loss_apply_script(rules: &LossRules) -> String {
    let mut s = format!(
        "set -e\n\
         iptables -w -N {LOSS_CHAIN} 2>/dev/null || true\n\
         iptables -w -C INPUT -j {LOSS_CHAIN} 2>/dev/null || iptables -w -I INPUT 1 -j {LOSS_CHAIN}\n"
    );
    for (ip, percent) in rules {
        // A new loss on a link replaces the old one: drop every rule for this sender first.
        let _ = writeln!(
            s,
            "iptables -w -S {LOSS_CHAIN} | grep -e '^-A {LOSS_CHAIN} -s {ip}/32 ' -e '^-A {LOSS_CHAIN} -s {ip}/32$' \
             | sed 's/^-A /-D /' | while read -r rule; do iptables -w $rule; done"
        );
        let _ = writeln!(s, "iptables -w -A {LOSS_CHAIN} -s {ip}/32");
        let _ = writeln!(
            s,
            "iptables -w -A {LOSS_CHAIN} -s {ip}/32 -m statistic --mode random --probability {} -j DROP",
            percent.probability()
        );
    }
    let _ = writeln!(s, "iptables -w -S {LOSS_CHAIN} -v");
    s
}

/// Flushes the loss chain (when it exists) and lists it, which must then hold no rule.
pub fn loss_heal_script() -> String {
    format!(
        "set -e\n\
         if iptables -w -S {LOSS_CHAIN} >/dev/null 2>&1; then iptables -w -F {LOSS_CHAIN}; iptables -w -S {LOSS_CHAIN} -v; fi\n"
    )
}

/// Lists the loss chain with counters; nothing when it does not exist.
pub fn loss_list_script() -> String {
    format!("iptables -w -S {LOSS_CHAIN} -v 2>/dev/null || true\n")
}

/// The loss rules and their counters in `iptables -S FAULTLINE-LOSS -v` output.
pub fn parse_loss(listing: &str) -> (LossRules, BTreeMap<Ipv4Addr, LossCount>) {
    let mut rules = LossRules::new();
    let mut counts: BTreeMap<Ipv4Addr, LossCount> = BTreeMap::new();
    for line in listing.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() < 4 || words[0] != "-A" || words[1] != LOSS_CHAIN || words[2] != "-s" {
            continue;
        }
        let Ok(ip) = words[3].trim_end_matches("/32").parse::<Ipv4Addr>() else {
            continue;
        };
        let packets = words
            .iter()
            .position(|w| *w == "-c")
            .and_then(|i| words.get(i + 1))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        let probability = words
            .iter()
            .position(|w| *w == "--probability")
            .and_then(|i| words.get(i + 1))
            .and_then(|p| p.parse::<f64>().ok());
        let count = counts.entry(ip).or_default();
        match probability {
            Some(p) if words.ends_with(&["-j", "DROP"]) => {
                if let Some(percent) = Percent::from_probability(p) {
                    rules.insert(ip, percent);
                }
                count.dropped += packets;
            }
            Some(_) => {}
            None => count.seen += packets,
        }
    }
    counts.retain(|ip, _| rules.contains_key(ip));
    (rules, counts)
}

/// One node's shaping: the rate and destinations of slowed links, the delay and destinations of
/// delayed ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shaping {
    pub slow: Option<(Rate, BTreeSet<Ipv4Addr>)>,
    pub delay: Option<(Delay, BTreeSet<Ipv4Addr>)>,
}

impl Shaping {
    pub fn is_empty(&self) -> bool {
        self.slow.is_none() && self.delay.is_none()
    }

    pub fn without(&self, kind: LinkKind) -> Shaping {
        let mut s = self.clone();
        match kind {
            LinkKind::Slow => s.slow = None,
            LinkKind::Delay => s.delay = None,
            LinkKind::Loss => {}
        }
        s
    }

    pub fn has(&self, kind: LinkKind) -> bool {
        match kind {
            LinkKind::Slow => self.slow.is_some(),
            LinkKind::Delay => self.delay.is_some(),
            LinkKind::Loss => false,
        }
    }
}

/// tbf's bucket: at least 20 ms of traffic at the rate, and never less than a few full packets.
fn burst_bytes(rate: Rate) -> u64 {
    (rate.bits_per_sec() / 8 / 50).max(6 * 1514)
}

/// Prints the tree as `tc qdisc show` and `tc filter show` see it, separated by `---`.
fn show() -> String {
    format!("tc -s qdisc show dev {DEV}\necho ---\ntc filter show dev {DEV}\n")
}

/// Replaces faultline's tc tree on the interface with one that enforces `want` (or removes it
/// when `want` is empty), then shows the result. A root qdisc that faultline did not add is
/// left alone and fails the script.
pub fn tc_apply_script(want: &Shaping) -> String {
    let mut s = format!(
        "set -e\n\
         root=$(tc qdisc show dev {DEV} | grep ' root' || true)\n\
         case \"$root\" in\n\
           'qdisc htb 1: root'*) tc qdisc del dev {DEV} root ;;\n\
           'qdisc noqueue'*|'') ;;\n\
           *) echo \"{DEV} has a root qdisc faultline did not add: $root\" >&2; exit 3 ;;\n\
         esac\n"
    );
    if !want.is_empty() {
        let _ = writeln!(
            s,
            "tc qdisc add dev {DEV} root handle 1: htb direct_qlen 1000"
        );
    }
    if let Some((rate, dsts)) = &want.slow {
        let bits = rate.bits_per_sec();
        let _ = writeln!(
            s,
            "tc class add dev {DEV} parent 1: classid 1:10 htb rate {bits}bit ceil {bits}bit"
        );
        let _ = writeln!(
            s,
            "tc qdisc add dev {DEV} parent 1:10 handle 10: tbf rate {bits}bit burst {} latency 400ms",
            burst_bytes(*rate)
        );
        for ip in dsts {
            let _ = writeln!(
                s,
                "tc filter add dev {DEV} parent 1: protocol ip prio 1 u32 match ip dst {ip}/32 flowid 1:10"
            );
        }
    }
    if let Some((delay, dsts)) = &want.delay {
        let _ = writeln!(
            s,
            "tc class add dev {DEV} parent 1: classid 1:20 htb rate 10gbit ceil 10gbit"
        );
        let jitter = if delay.jitter_ms > 0 {
            format!(" {}ms distribution normal", delay.jitter_ms)
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "tc qdisc add dev {DEV} parent 1:20 handle 20: netem limit 10000 delay {}ms{jitter}",
            delay.ms
        );
        for ip in dsts {
            let _ = writeln!(
                s,
                "tc filter add dev {DEV} parent 1: protocol ip prio 2 u32 match ip dst {ip}/32 flowid 1:20"
            );
        }
    }
    s.push_str(&show());
    s
}

/// Shows the interface's qdiscs and filters.
pub fn tc_list_script() -> String {
    show()
}

/// Whether the kernel has netem: adds one to the loopback of a throwaway namespace.
pub fn netem_probe_script() -> String {
    "tc qdisc add dev lo root netem delay 1ms".into()
}

/// Images that have tc, in the order the netem probe tries them (the first present is used).
const PROBE_IMAGES: [&str; 3] = [
    "faultline/node:latest",
    super::image::LOCAL_BASE,
    super::image::REGISTRY_BASE,
];

/// Whether the Docker host's kernel can delay packets (the netem qdisc), found by adding one in
/// a throwaway container labelled for `cluster`. `Ok(Err(why))` when it cannot; `Err` when
/// Docker itself cannot be used (no daemon, no image to probe with).
pub async fn probe_netem(cluster: &str) -> anyhow::Result<Result<(), String>> {
    use anyhow::Context;
    let docker = super::docker::connect().await?;
    let mut image = None;
    for candidate in PROBE_IMAGES {
        if docker.inspect_image(candidate).await.is_ok() {
            image = Some(candidate);
            break;
        }
    }
    let image = image.with_context(|| {
        format!(
            "no image to probe the host's netem support with (tried {}); run `faultline image build`",
            PROBE_IMAGES.join(", ")
        )
    })?;
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        super::netns::run_probe(&docker, cluster, image, &netem_probe_script()),
    )
    .await
    .context("probing the host's netem support took over 60 s")??;
    tracing::debug!(target: "faultline::nemesis", image, exit = out.exit_code, "netem probe");
    if out.exit_code == 0 {
        return Ok(Ok(()));
    }
    let said = out.stderr.trim();
    Ok(Err(if said.contains("qdisc kind is unknown") {
        format!(
            "its kernel has no netem qdisc (`tc qdisc add ... netem` in a container said: {said})"
        )
    } else {
        format!(
            "adding a netem qdisc in a container failed with exit {}: {said}",
            out.exit_code
        )
    }))
}

/// Reads faultline's tree back from `tc qdisc show` / `---` / `tc filter show`. Qdiscs that
/// are not faultline's handles are ignored.
pub fn parse_tc(listing: &str) -> Shaping {
    let (qdiscs, filters) = listing.split_once("---").unwrap_or((listing, ""));
    let mut rate = None;
    let mut delay = None;
    for line in qdiscs.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let after = |key: &str| {
            words
                .iter()
                .position(|w| *w == key)
                .and_then(|i| words.get(i + 1).copied())
        };
        match words.get(..3) {
            Some(["qdisc", "tbf", "10:"]) => {
                rate = after("rate").and_then(parse_tc_rate);
            }
            Some(["qdisc", "netem", "20:"]) => {
                let ms = after("delay").and_then(parse_ms);
                let jitter = words
                    .iter()
                    .position(|w| *w == "delay")
                    .and_then(|i| words.get(i + 2))
                    .and_then(|w| parse_ms(w))
                    .unwrap_or(0);
                delay = ms.map(|ms| Delay {
                    ms,
                    jitter_ms: jitter,
                });
            }
            _ => {}
        }
    }
    let mut flow = "";
    let mut dsts: BTreeMap<&str, BTreeSet<Ipv4Addr>> = BTreeMap::new();
    for line in filters.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() == Some(&"filter") {
            flow = words
                .iter()
                .position(|w| w.trim_start_matches('*') == "flowid")
                .and_then(|i| words.get(i + 1).copied())
                .unwrap_or("");
        } else if let ["match", value, "at", "16"] = words[..] {
            if let Some(ip) = value
                .strip_suffix("/ffffffff")
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
            {
                dsts.entry(flow).or_default().insert(Ipv4Addr::from(ip));
            }
        }
    }
    Shaping {
        slow: rate.map(|r| (r, dsts.remove("1:10").unwrap_or_default())),
        delay: delay.map(|d| (d, dsts.remove("1:20").unwrap_or_default())),
    }
}

/// The bytes sent through faultline's tbf and netem so far, from `tc -s qdisc show`.
pub fn parse_tc_sent(listing: &str) -> (u64, u64) {
    let qdiscs = listing.split_once("---").map_or(listing, |(q, _)| q);
    let (mut tbf, mut netem) = (0, 0);
    let mut current = "";
    for line in qdiscs.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words[..] {
            ["qdisc", "tbf", "10:", ..] => current = "tbf",
            ["qdisc", "netem", "20:", ..] => current = "netem",
            ["qdisc", ..] => current = "",
            ["Sent", bytes, "bytes", ..] => {
                let n = bytes.parse::<u64>().unwrap_or(0);
                match current {
                    "tbf" => tbf += n,
                    "netem" => netem += n,
                    _ => {}
                }
            }
            _ => {}
        }
    }
    (tbf, netem)
}

/// `1Mbit`, `1500Kbit`, `64Kbit`, `8bit` as tc prints them.
fn parse_tc_rate(s: &str) -> Option<Rate> {
    let lower = s.to_ascii_lowercase();
    lower.parse::<Rate>().ok().or_else(|| {
        // Below Rate's floor tc still prints a rate; keep it readable as bits.
        lower
            .strip_suffix("bit")
            .and_then(|n| n.parse::<u64>().ok())
            .map(Rate::from_bits)
    })
}

/// `100ms`, `100.0ms`, `1s`, `500us` as netem prints them, in whole milliseconds.
fn parse_ms(s: &str) -> Option<u32> {
    let (n, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return None;
    };
    n.parse::<f64>().ok().map(|v| (v * scale).round() as u32)
}

/// Whether what tc shows enforces what was asked: the same destinations, and the rate as the
/// kernel keeps it (in whole bytes per second).
pub fn shaping_holds(want: &Shaping, have: &Shaping) -> bool {
    let slow_ok = match (&want.slow, &have.slow) {
        (None, None) => true,
        (Some((wr, wd)), Some((hr, hd))) => {
            wr.bits_per_sec() / 8 == hr.bits_per_sec() / 8 && wd == hd
        }
        _ => false,
    };
    slow_ok && want.delay == have.delay
}

/// The loss rules each receiver needs: receiver -> (sender address -> share).
pub fn loss_rules_for(
    links: &Grudge,
    percent: Percent,
    addrs: &BTreeMap<NodeName, Ipv4Addr>,
) -> Result<BTreeMap<NodeName, LossRules>, NodeName> {
    let addr = |n: &NodeName| addrs.get(n).copied().ok_or_else(|| n.clone());
    let mut out: BTreeMap<NodeName, LossRules> = BTreeMap::new();
    for (receiver, senders) in &links.0 {
        addr(receiver)?;
        for sender in senders.iter().filter(|s| *s != receiver) {
            out.entry(receiver.clone())
                .or_default()
                .insert(addr(sender)?, percent);
        }
    }
    Ok(out)
}

/// The destinations each sender shapes: sender -> receiver addresses.
pub fn shaped_destinations(
    links: &Grudge,
    addrs: &BTreeMap<NodeName, Ipv4Addr>,
) -> Result<BTreeMap<NodeName, BTreeSet<Ipv4Addr>>, NodeName> {
    let addr = |n: &NodeName| addrs.get(n).copied().ok_or_else(|| n.clone());
    let mut out: BTreeMap<NodeName, BTreeSet<Ipv4Addr>> = BTreeMap::new();
    for (receiver, senders) in &links.0 {
        let to = addr(receiver)?;
        for sender in senders.iter().filter(|s| *s != receiver) {
            addr(sender)?;
            out.entry(sender.clone()).or_default().insert(to);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(i: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 77, 0, 10 + i)
    }

    #[test]
    fn loss_listings_parse_to_rules_and_measured_counts() {
        let listing = "-N FAULTLINE-LOSS\n\
            -A FAULTLINE-LOSS -s 10.77.0.12/32 -c 200 9000\n\
            -A FAULTLINE-LOSS -s 10.77.0.12/32 -m statistic --mode random --probability 0.29999999981 -c 61 2000 -j DROP\n\
            -A FAULTLINE -s 10.77.0.13/32 -c 5 5 -j DROP\n";
        let (rules, counts) = parse_loss(listing);
        assert_eq!(
            rules,
            LossRules::from([(ip(2), Percent::new(30.0).unwrap())])
        );
        assert_eq!(
            counts[&ip(2)],
            LossCount {
                seen: 200,
                dropped: 61
            }
        );
        let mut want = LossRules::new();
        want.insert(ip(2), Percent::new(30.0).unwrap());
        let script = loss_apply_script(&want);
        assert!(script.contains(
            "iptables -w -A FAULTLINE-LOSS -s 10.77.0.12/32 -m statistic --mode random --probability 0.3000 -j DROP"
        ));
        assert!(
            !script.contains(" FAULTLINE "),
            "never touches the partition chain"
        );
        assert!(loss_heal_script().contains("iptables -w -F FAULTLINE-LOSS"));
    }

    #[test]
    fn tc_listings_parse_back_to_the_shaping_that_made_them() {
        let listing = "qdisc htb 1: root refcnt 3 r2q 10 default 0 direct_packets_stat 0 direct_qlen 1000\n\
            qdisc tbf 10: parent 1:10 rate 1Mbit burst 15000b lat 400ms \n\
            qdisc netem 20: parent 1:20 limit 10000 delay 100ms  20ms\n---\n\
            filter parent 1: protocol ip pref 1 u32 chain 0 \n\
            filter parent 1: protocol ip pref 1 u32 chain 0 fh 800: ht divisor 1 \n\
            filter parent 1: protocol ip pref 1 u32 chain 0 fh 800::800 order 2048 key ht 800 bkt 0 *flowid 1:10 not_in_hw \n  match 0a4d000c/ffffffff at 16\n\
            filter parent 1: protocol ip pref 2 u32 chain 0 fh 801::800 order 2048 key ht 801 bkt 0 *flowid 1:20 not_in_hw \n  match 0a4d000d/ffffffff at 16\n";
        let have = parse_tc(listing);
        let want = Shaping {
            slow: Some(("1mbit".parse().unwrap(), BTreeSet::from([ip(2)]))),
            delay: Some((
                Delay {
                    ms: 100,
                    jitter_ms: 20,
                },
                BTreeSet::from([ip(3)]),
            )),
        };
        assert_eq!(have, want);
        assert!(shaping_holds(&want, &have));
        let stats = "qdisc htb 1: root refcnt 3 r2q 10\n Sent 999 bytes 9 pkt (dropped 0, overlimits 0 requeues 0)\n\
            qdisc tbf 10: parent 1:10 rate 1Mbit burst 15000b lat 400ms\n Sent 4242 bytes 30 pkt (dropped 0, overlimits 3 requeues 0)\n---\n";
        assert_eq!(parse_tc_sent(stats), (4242, 0));
        assert!(!shaping_holds(&want.without(LinkKind::Slow), &have));
        assert_eq!(
            parse_tc("qdisc noqueue 0: root refcnt 2\n---\n"),
            Shaping::default()
        );
        let script = tc_apply_script(&want);
        assert!(script.contains("tbf rate 1000000bit"), "{script}");
        assert!(
            script.contains("netem limit 10000 delay 100ms 20ms"),
            "{script}"
        );
        assert!(
            script.contains("match ip dst 10.77.0.12/32 flowid 1:10"),
            "{script}"
        );
        // Nothing wanted: only faultline's root goes.
        let clear = tc_apply_script(&Shaping::default());
        assert!(!clear.contains("tc qdisc add"), "{clear}");
        assert!(clear.contains("'qdisc htb 1: root'*) tc qdisc del dev eth0 root"));
    }

    #[test]
    fn links_map_to_receiving_and_sending_ends() {
        let addrs: BTreeMap<NodeName, Ipv4Addr> =
            (1..=3).map(|i| (format!("n{i}"), ip(i))).collect();
        let mut links = Grudge::default();
        links
            .0
            .insert("n1".into(), BTreeSet::from(["n2".to_string(), "n3".into()]));
        let p = Percent::new(10.0).unwrap();
        let loss = loss_rules_for(&links, p, &addrs).unwrap();
        assert_eq!(loss.len(), 1);
        assert_eq!(loss["n1"], LossRules::from([(ip(2), p), (ip(3), p)]));
        let shaped = shaped_destinations(&links, &addrs).unwrap();
        assert_eq!(shaped["n2"], BTreeSet::from([ip(1)]));
        assert_eq!(shaped["n3"], BTreeSet::from([ip(1)]));
        links
            .0
            .insert("n9".into(), BTreeSet::from(["n1".to_string()]));
        assert_eq!(loss_rules_for(&links, p, &addrs).unwrap_err(), "n9");
    }
}
