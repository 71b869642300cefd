//! What a cluster needs to know of the system its containers run, and nothing more: how each
//! container starts, where its clients connect, what survives a kill, and how to ask a node
//! whether it leads. The system adapters implement [`NodeSystem`] for every system faultline
//! can test; the cluster holds one as a trait object and never imports them.

use std::any::Any;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use nemesis::fault::NodeName;

use super::client::{Client, NodeStatus};
use super::NodeInfo;

/// A container's entrypoint (`None`: the image's) and command (`None`: the image's).
pub type Container = (Option<Vec<String>>, Option<Vec<String>>);

/// The system a cluster runs, as the cluster sees it.
pub trait NodeSystem: std::fmt::Debug + Send + Sync + 'static {
    /// `faultline`, `etcd`, `http`: what kind of system it is.
    fn kind(&self) -> &'static str;
    /// For messages: `etcd (serializable reads)`.
    fn describe(&self) -> String;
    /// What the cluster records on its containers (`io.faultline.system`), so that later
    /// commands know what they talk to.
    fn label(&self) -> String;
    /// The port each node serves clients on, inside its own network namespace.
    fn client_port(&self) -> u16;
    /// Where each node's volume is mounted.
    fn data_dir(&self) -> &str;
    /// Extra environment of every container, `NAME=value`.
    fn env(&self) -> &[String];
    /// The entrypoint and command of `node`'s container; `None` runs faultline's own node,
    /// whose command line the cluster writes itself.
    fn container(&self, cluster: &str, node: &NodeInfo, nodes: &[NodeInfo]) -> Option<Container>;
    /// Whether its nodes change their Raft configuration at run time through faultline's node
    /// API (`/cluster/add`, `/cluster/remove`, `--join`), or why not.
    fn membership(&self) -> Result<(), String>;
    /// Asks a node its role and term; `timeout` bounds each probe.
    fn prober(&self, timeout: Duration) -> anyhow::Result<Box<dyn StatusProbe>>;
    /// For adapters that want their own type back (`SystemSpec::of`).
    fn as_any(&self) -> &dyn Any;
}

/// A boxed status answer: what [`StatusProbe::probe`] returns.
pub type StatusFuture<'a> = Pin<Box<dyn Future<Output = Result<NodeStatus, String>> + Send + 'a>>;

/// A node's status, behind a trait object: every [`Client`] is one.
pub trait StatusProbe: Send + Sync {
    fn probe(&self, addr: SocketAddr) -> StatusFuture<'_>;
}

impl<C: Client> StatusProbe for C {
    fn probe(&self, addr: SocketAddr) -> StatusFuture<'_> {
        Box::pin(Client::status(self, addr))
    }
}

/// The node that says it leads in the highest term, by name. A node's claim about itself is
/// what counts: a follower may still name a leader that is gone, and an isolated old leader
/// believes it leads, but in an older term than the majority's new one. Fails only when no
/// node answers at all.
pub async fn leader(
    probe: &dyn StatusProbe,
    nodes: &[(NodeName, SocketAddr)],
) -> anyhow::Result<Option<NodeName>> {
    let statuses = futures::future::join_all(nodes.iter().map(|(_, a)| probe.probe(*a))).await;
    let mut errors = Vec::new();
    let mut best: Option<(&NodeName, u64)> = None;
    for ((name, _), status) in nodes.iter().zip(statuses) {
        match status {
            Ok(s) if s.role == "leader" && best.is_none_or(|(_, t)| s.term > t) => {
                best = Some((name, s.term));
            }
            Ok(_) => {}
            Err(e) => errors.push(e),
        }
    }
    if !nodes.is_empty() && errors.len() == nodes.len() {
        anyhow::bail!("no node answered: {}", errors.join("; "));
    }
    Ok(best.map(|(n, _)| n.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers from a table: `None` is a node that does not answer.
    struct Table(Vec<(SocketAddr, Option<(&'static str, u64)>)>);

    impl StatusProbe for Table {
        fn probe(&self, addr: SocketAddr) -> StatusFuture<'_> {
            let answer = self
                .0
                .iter()
                .find(|(a, _)| *a == addr)
                .and_then(|(_, s)| *s);
            Box::pin(async move {
                let (role, term) = answer.ok_or_else(|| format!("{addr}: no answer"))?;
                Ok(NodeStatus {
                    role: role.into(),
                    term,
                    ..NodeStatus::default()
                })
            })
        }
    }

    fn addr(i: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], i))
    }

    fn nodes(n: u16) -> Vec<(NodeName, SocketAddr)> {
        (1..=n).map(|i| (format!("n{i}"), addr(i))).collect()
    }

    fn block_on<T>(f: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn the_leader_is_the_one_that_says_so_in_the_highest_term() {
        // n1 is an isolated old leader; n3 leads the majority in a later term.
        let t = Table(vec![
            (addr(1), Some(("leader", 3))),
            (addr(2), Some(("follower", 4))),
            (addr(3), Some(("leader", 4))),
        ]);
        assert_eq!(
            block_on(leader(&t, &nodes(3))).unwrap().as_deref(),
            Some("n3")
        );
        let none = Table(vec![(addr(1), Some(("candidate", 5))), (addr(2), None)]);
        assert_eq!(block_on(leader(&none, &nodes(2))).unwrap(), None);
        let silent = Table(vec![(addr(1), None), (addr(2), None)]);
        let e = block_on(leader(&silent, &nodes(2)))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no node answered") && e.contains("no answer"),
            "{e}"
        );
    }
}
