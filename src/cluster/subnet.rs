//! Choosing the cluster network's subnet: a /24 out of 10.77.0.0/16 that overlaps no existing
//! Docker network, so static node addresses never collide with anything else on the host.

use std::net::Ipv4Addr;

/// The /16 the clusters' /24s are carved from.
pub const POOL: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 0);

/// An IPv4 network: base address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    pub base: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    /// Parses `a.b.c.d/n`; IPv6 and malformed strings give `None` (they cannot clash with ours).
    pub fn parse(cidr: &str) -> Option<Subnet> {
        let (addr, prefix) = cidr.split_once('/')?;
        let addr: Ipv4Addr = addr.parse().ok()?;
        let prefix: u8 = prefix.parse().ok().filter(|p| *p <= 32)?;
        Some(Subnet {
            base: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        })
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        let m = mask(self.prefix.min(other.prefix));
        u32::from(self.base) & m == u32::from(other.base) & m
    }

    /// The address of host `n` in this subnet (`.1` is the gateway, nodes start at `.11`).
    pub fn host(&self, n: u8) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.base) + u32::from(n))
    }

    pub fn gateway(&self) -> Ipv4Addr {
        self.host(1)
    }

    /// The third octet of the base address: what tells the /24s of the pool apart.
    pub fn third_octet(&self) -> u8 {
        self.base.octets()[2]
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

/// Whether `ip` is in the /16 the clusters' subnets come from.
pub fn in_pool(ip: Ipv4Addr) -> bool {
    ip.octets()[..2] == POOL.octets()[..2]
}

/// The address of node `id` in the cluster's subnet.
pub fn node_addr(subnet: &Subnet, id: u64) -> Ipv4Addr {
    // ids are capped at MAX_NODES, so this always fits in the /24.
    subnet.host(10 + id as u8)
}

/// A /24 leaves room for nodes .11 to .254.
pub const MAX_NODES: u64 = 200;

/// The /24s of the pool that overlap none of `taken`, in order.
pub fn free(taken: &[Subnet]) -> Vec<Subnet> {
    (0..=255u8)
        .map(|third| Subnet {
            base: Ipv4Addr::new(POOL.octets()[0], POOL.octets()[1], third, 0),
            prefix: 24,
        })
        .filter(|candidate| !taken.iter().any(|t| t.overlaps(candidate)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(cidr: &str) -> Subnet {
        Subnet::parse(cidr).unwrap()
    }

    #[test]
    fn parse_normalises_and_rejects_non_ipv4() {
        assert_eq!(s("10.77.3.9/24").to_string(), "10.77.3.0/24");
        assert_eq!(Subnet::parse("fd00::/64"), None);
        assert_eq!(Subnet::parse("10.0.0.0/33"), None);
        assert_eq!(Subnet::parse("nonsense"), None);
    }

    #[test]
    fn overlap_works_across_prefix_lengths() {
        assert!(s("10.0.0.0/8").overlaps(&s("10.77.5.0/24")));
        assert!(s("10.77.5.0/24").overlaps(&s("10.0.0.0/8")));
        assert!(!s("172.17.0.0/16").overlaps(&s("10.77.0.0/24")));
        assert!(!s("10.77.4.0/24").overlaps(&s("10.77.5.0/24")));
    }

    #[test]
    fn free_skips_taken_subnets() {
        let pick = |taken: &[Subnet]| free(taken).first().copied();
        assert_eq!(pick(&[s("172.17.0.0/16")]), Some(s("10.77.0.0/24")));
        let taken = [s("10.77.0.0/23"), s("10.77.2.0/24")];
        assert_eq!(pick(&taken), Some(s("10.77.3.0/24")));
        assert_eq!(pick(&[s("10.77.0.0/16")]), None);
        assert_eq!(pick(&[s("0.0.0.0/0")]), None);
        assert_eq!(free(&taken).len(), 256 - 3);
    }

    #[test]
    fn node_addresses_start_at_eleven() {
        let net = s("10.77.3.0/24");
        assert_eq!(node_addr(&net, 1), Ipv4Addr::new(10, 77, 3, 11));
        assert_eq!(net.gateway(), Ipv4Addr::new(10, 77, 3, 1));
    }
}
