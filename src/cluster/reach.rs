//! How faultline reaches the nodes' client ports: straight at their addresses on the cluster's
//! bridge network (the engine runs on this Linux host), or through ports published on the
//! engine's host (a remote `DOCKER_HOST`, Docker Desktop), where bridge addresses are not
//! routable from here.
//!
//! Published ports are fixed, computed from the cluster's subnet and the node id, not left to
//! the engine: a port the engine picks may change when a killed node is started again, and the
//! clients of a run hold one address per node for the whole run.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{bail, Context};
use bollard::Docker;

use super::subnet::Subnet;

/// What the user asked for (`--reach`, `FAULTLINE_REACH`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ReachChoice {
    /// Published ports when the engine is remote or Docker Desktop, else the bridge.
    #[default]
    Auto,
    /// Dial the nodes' addresses on the cluster network (the engine is on this host).
    Bridge,
    /// Publish each node's client port on the engine's host and dial that.
    Published,
}

/// How a cluster's nodes are dialled, decided once when it is created and recorded on its
/// containers (`io.faultline.dial`), so every later command dials them the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    Bridge,
    Published {
        /// The engine's host, as seen from here.
        host: IpAddr,
    },
}

/// On every node container of a cluster with published ports: the host to dial.
pub const DIAL_LABEL: &str = "io.faultline.dial";

/// The first published port; below Linux's ephemeral range (32768 up), so outgoing connections
/// do not take the ports a cluster needs.
const PORT_BASE: u16 = 20_000;
/// Ports per /24 subnet: the most nodes a cluster with published ports may have.
pub const PUBLISHED_MAX_NODES: u64 = 40;

impl Reach {
    /// Where a node is dialled, given its address on the cluster network.
    pub fn dial(self, subnet: &Subnet, id: u64, addr: SocketAddr) -> SocketAddr {
        match self {
            Reach::Bridge => addr,
            Reach::Published { host } => SocketAddr::new(host, published_port(subnet, id)),
        }
    }

    /// The container label that records it, if any.
    pub fn label(self) -> Option<String> {
        match self {
            Reach::Bridge => None,
            Reach::Published { host } => Some(host.to_string()),
        }
    }

    /// From the label on a cluster's containers.
    pub fn from_label(label: Option<&String>) -> anyhow::Result<Reach> {
        match label {
            None => Ok(Reach::Bridge),
            Some(host) => Ok(Reach::Published {
                host: host
                    .parse()
                    .with_context(|| format!("{DIAL_LABEL}={host:?} is not an IP address"))?,
            }),
        }
    }

    /// The address the engine binds a published port to: loopback when the engine is on this
    /// host (nothing else needs to reach a test cluster), every address when it is remote.
    pub fn bind_ip(self) -> Option<String> {
        match self {
            Reach::Bridge => None,
            Reach::Published { host } if host.is_loopback() => Some(host.to_string()),
            Reach::Published { .. } => Some(Ipv4Addr::UNSPECIFIED.to_string()),
        }
    }
}

/// The fixed host port of node `id` in a cluster on `subnet`: distinct across the clusters of
/// one engine, since their subnets are.
pub fn published_port(subnet: &Subnet, id: u64) -> u16 {
    let slot = u16::from(subnet.third_octet()) * PUBLISHED_MAX_NODES as u16;
    PORT_BASE + slot + id as u16
}

/// The id of the node dialled at `addr`, for clients that must tell which node answered: on the
/// cluster network node `n<i>` sits at host `.10+i`; through a published port, the port says it.
pub fn node_id_at(addr: SocketAddr) -> Option<u64> {
    match addr.ip() {
        IpAddr::V4(ip) if super::subnet::in_pool(ip) => u64::from(ip.octets()[3])
            .checked_sub(10)
            .filter(|&id| id > 0),
        _ => {
            let slot = addr.port().checked_sub(PORT_BASE + 1)?;
            Some(u64::from(slot) % PUBLISHED_MAX_NODES + 1)
        }
    }
}

/// Decides how to reach a new cluster of `nodes` nodes.
pub async fn resolve(docker: &Docker, choice: ReachChoice, nodes: u64) -> anyhow::Result<Reach> {
    let engine = EngineHost::from_env(std::env::var("DOCKER_HOST").ok().as_deref())?;
    let reach = match (choice, engine) {
        (ReachChoice::Bridge, _) => Reach::Bridge,
        (ReachChoice::Published, EngineHost::Local) => Reach::Published {
            host: Ipv4Addr::LOCALHOST.into(),
        },
        (_, EngineHost::Remote(host)) => Reach::Published { host },
        (ReachChoice::Auto, EngineHost::Local) if is_docker_desktop(docker).await => {
            Reach::Published {
                host: Ipv4Addr::LOCALHOST.into(),
            }
        }
        (ReachChoice::Auto, EngineHost::Local) => Reach::Bridge,
    };
    if matches!(reach, Reach::Published { .. }) && nodes > PUBLISHED_MAX_NODES {
        bail!(
            "a cluster reached through published ports has at most {PUBLISHED_MAX_NODES} nodes, \
             not {nodes}; use fewer nodes, or --reach bridge when the engine runs on this host"
        );
    }
    Ok(reach)
}

/// Docker Desktop runs the engine in a VM: its bridge addresses are not routable from the host.
async fn is_docker_desktop(docker: &Docker) -> bool {
    match docker.info().await {
        Ok(info) => info
            .operating_system
            .is_some_and(|os| os.contains("Docker Desktop")),
        Err(e) => {
            tracing::debug!(target: "faultline::cluster", "engine info: {e}");
            false
        }
    }
}

/// Where the engine runs, from `DOCKER_HOST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EngineHost {
    /// A local socket, or TCP to a loopback address.
    Local,
    Remote(IpAddr),
}

impl EngineHost {
    fn from_env(docker_host: Option<&str>) -> anyhow::Result<EngineHost> {
        let Some(url) = docker_host.filter(|s| !s.is_empty()) else {
            return Ok(EngineHost::Local);
        };
        let Some((scheme, rest)) = url.split_once("://") else {
            bail!("DOCKER_HOST={url:?} is not a URL such as unix:///var/run/docker.sock or tcp://HOST:2376");
        };
        if matches!(scheme, "unix" | "npipe") {
            return Ok(EngineHost::Local);
        }
        // tcp://host:port, http(s)://host:port, ssh://user@host:port
        let authority = rest.split('/').next().unwrap_or_default();
        let host_port = authority.rsplit('@').next().unwrap_or_default();
        let host = match host_port.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => host_port.split(':').next().unwrap_or_default(),
        };
        let ip = resolve_host(host)
            .with_context(|| format!("finding the engine's host in DOCKER_HOST={url:?}"))?;
        Ok(if ip.is_loopback() {
            EngineHost::Local
        } else {
            EngineHost::Remote(ip)
        })
    }
}

fn resolve_host(host: &str) -> anyhow::Result<IpAddr> {
    if let Ok(ip) = host.parse() {
        return Ok(ip);
    }
    use std::net::ToSocketAddrs;
    let addr = (host, 0)
        .to_socket_addrs()
        .with_context(|| format!("resolving {host:?}"))?
        .next()
        .with_context(|| format!("{host:?} has no address"))?;
    Ok(addr.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_host_comes_from_docker_host() {
        let local = [
            None,
            Some(""),
            Some("unix:///var/run/docker.sock"),
            Some("tcp://127.0.0.1:2375"),
            Some("tcp://localhost:2375"),
        ];
        for url in local {
            assert_eq!(
                EngineHost::from_env(url).unwrap(),
                EngineHost::Local,
                "{url:?}"
            );
        }
        assert_eq!(
            EngineHost::from_env(Some("tcp://192.168.1.5:2376")).unwrap(),
            EngineHost::Remote("192.168.1.5".parse().unwrap())
        );
        assert_eq!(
            EngineHost::from_env(Some("ssh://me@10.1.2.3:22")).unwrap(),
            EngineHost::Remote("10.1.2.3".parse().unwrap())
        );
        assert_eq!(
            EngineHost::from_env(Some("tcp://[fd00::5]:2376")).unwrap(),
            EngineHost::Remote("fd00::5".parse().unwrap())
        );
        assert!(EngineHost::from_env(Some("192.168.1.5")).is_err());
    }

    #[test]
    fn published_ports_are_distinct_across_clusters_and_below_the_ephemeral_range() {
        let mut seen = std::collections::HashSet::new();
        for subnet in super::super::subnet::free(&[]) {
            for id in 1..=PUBLISHED_MAX_NODES {
                let port = published_port(&subnet, id);
                assert!(port < 32_768, "{port}");
                assert!(seen.insert(port), "port {port} twice");
            }
        }
        assert!(seen.len() > 10_000);
    }

    #[test]
    fn the_node_is_known_by_its_address_on_the_network_or_its_published_port() {
        let subnet = super::super::subnet::free(&[])[7];
        for id in [1, 2, 3, 9, 40] {
            let addr = SocketAddr::new(super::super::subnet::node_addr(&subnet, id).into(), 7000);
            assert_eq!(node_id_at(addr), Some(id));
            let published = Reach::Published {
                host: Ipv4Addr::LOCALHOST.into(),
            }
            .dial(&subnet, id, addr);
            assert_eq!(node_id_at(published), Some(id), "{published}");
        }
        assert_eq!(node_id_at("127.0.0.1:80".parse().unwrap()), None);
    }

    #[test]
    fn the_label_round_trips() {
        for reach in [
            Reach::Bridge,
            Reach::Published {
                host: Ipv4Addr::LOCALHOST.into(),
            },
        ] {
            let label = reach.label();
            assert_eq!(Reach::from_label(label.as_ref()).unwrap(), reach);
        }
        assert_eq!(
            Reach::Published {
                host: "10.0.0.9".parse().unwrap()
            }
            .bind_ip()
            .as_deref(),
            Some("0.0.0.0")
        );
    }
}
