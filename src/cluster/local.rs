//! A cluster of `faultline node` processes on 127.0.0.1, for running campaigns without Docker:
//! kill is SIGKILL, start respawns with the same data directory, pause/resume are
//! SIGSTOP/SIGCONT. Partitions need a network namespace per node, so they are refused.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use nemesis::fault::{FaultExecutor, Grudge, NodeName};
use tokio::process::{Child, Command};
use tokio::sync::Mutex;

use super::client::{Client, HttpClient};
use super::node_process::{free_addrs, peer_list, NodeProcess};
use super::target::{Exited, TestTarget, LAST_LINES};

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("starting node {node} ({exe}): {source}")]
    Spawn {
        node: NodeName,
        exe: String,
        source: std::io::Error,
    },
    #[error("signalling node {node} (pid {pid}): {source}")]
    Signal {
        node: NodeName,
        pid: u32,
        source: std::io::Error,
    },
    #[error("waiting for node {node} to exit: {source}")]
    Wait {
        node: NodeName,
        source: std::io::Error,
    },
    #[error("no node named {0}")]
    UnknownNode(NodeName),
    #[error("the local process target cannot partition the network (use the Docker target, or drop partitions from the campaign)")]
    PartitionUnsupported,
    #[error("the local process target cannot degrade links (use the Docker target, or drop loss, slow and delay from the campaign)")]
    LinksUnsupported,
    #[error("the local process target cannot move a node's clock (use the Docker target, or drop clock faults from the campaign)")]
    ClockUnsupported,
    #[error("the local process target does not change membership (use the Docker target, or drop remove and replace from the campaign)")]
    MembershipUnsupported,
}

struct Node {
    id: u64,
    addr: SocketAddr,
    data: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

pub struct LocalTarget {
    name: String,
    exe: PathBuf,
    dir: PathBuf,
    peers: String,
    /// Extra arguments for every node (planted bugs).
    node_args: Vec<String>,
    nodes: Mutex<BTreeMap<NodeName, Node>>,
    addrs: Vec<(NodeName, SocketAddr)>,
    client: HttpClient,
}

impl LocalTarget {
    /// Starts `count` nodes of this very binary, with data and logs under `dir`.
    pub async fn start(name: &str, count: u32, dir: &Path) -> anyhow::Result<LocalTarget> {
        LocalTarget::start_with(name, count, dir, Vec::new()).await
    }

    /// As [`LocalTarget::start`], passing `node_args` to every node.
    pub async fn start_with(
        name: &str,
        count: u32,
        dir: &Path,
        node_args: Vec<String>,
    ) -> anyhow::Result<LocalTarget> {
        let exe = std::env::current_exe().context("finding the faultline binary")?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut nodes = BTreeMap::new();
        let mut addrs = Vec::new();
        let free = free_addrs(count as usize).context("finding free ports on 127.0.0.1")?;
        for (id, addr) in (1..=u64::from(count)).zip(free) {
            let name = format!("n{id}");
            addrs.push((name.clone(), addr));
            nodes.insert(
                name.clone(),
                Node {
                    id,
                    addr,
                    data: dir.join(&name),
                    log: dir.join(format!("{name}.log")),
                    child: None,
                },
            );
        }
        let peers = peer_list(nodes.values().map(|n| (n.id, n.addr)));
        let target = LocalTarget {
            name: name.to_string(),
            exe,
            dir: dir.to_path_buf(),
            peers,
            node_args,
            nodes: Mutex::new(nodes),
            addrs,
            client: HttpClient::new(std::time::Duration::from_secs(1))?,
        };
        let names: Vec<NodeName> = target.addrs.iter().map(|(n, _)| n.clone()).collect();
        target.start(&names).await?;
        Ok(target)
    }

    fn spawn(&self, name: &str, node: &Node) -> Result<Child, LocalError> {
        let spawn_err = |source| LocalError::Spawn {
            node: name.to_string(),
            exe: self.exe.display().to_string(),
            source,
        };
        let listen = node.addr.to_string();
        let command = NodeProcess {
            exe: &self.exe,
            id: node.id,
            listen: &listen,
            peers: &self.peers,
            data_dir: &node.data,
            args: &self.node_args,
            join: false,
            log: &node.log,
        }
        .command()
        .map_err(spawn_err)?;
        Command::from(command).spawn().map_err(spawn_err)
    }

    async fn signal(&self, names: &[NodeName], signal: libc::c_int) -> Result<(), LocalError> {
        let nodes = self.nodes.lock().await;
        for name in names {
            let node = nodes
                .get(name)
                .ok_or_else(|| LocalError::UnknownNode(name.clone()))?;
            // A killed node has nothing to pause or resume.
            let Some(pid) = node.child.as_ref().and_then(Child::id) else {
                continue;
            };
            // SAFETY: kill(2) with a pid we spawned and a valid signal number has no memory effects.
            if unsafe { libc::kill(pid as libc::pid_t, signal) } != 0 {
                return Err(LocalError::Signal {
                    node: name.clone(),
                    pid,
                    source: std::io::Error::last_os_error(),
                });
            }
        }
        Ok(())
    }
}

impl FaultExecutor for LocalTarget {
    type Error = LocalError;

    async fn kill(&self, names: &[NodeName]) -> Result<(), LocalError> {
        let mut nodes = self.nodes.lock().await;
        for name in names {
            let node = nodes
                .get_mut(name)
                .ok_or_else(|| LocalError::UnknownNode(name.clone()))?;
            if let Some(mut child) = node.child.take() {
                let wait = |source| LocalError::Wait {
                    node: name.clone(),
                    source,
                };
                child.start_kill().map_err(wait)?;
                child.wait().await.map_err(wait)?;
            }
        }
        Ok(())
    }

    async fn start(&self, names: &[NodeName]) -> Result<(), LocalError> {
        let mut nodes = self.nodes.lock().await;
        for name in names {
            let node = nodes
                .get_mut(name)
                .ok_or_else(|| LocalError::UnknownNode(name.clone()))?;
            let exited = match node.child.as_mut() {
                None => true,
                Some(c) => c.try_wait().ok().flatten().is_some(),
            };
            if exited {
                let child = self.spawn(name, node)?;
                node.child = Some(child);
            }
        }
        Ok(())
    }

    async fn pause(&self, names: &[NodeName]) -> Result<(), LocalError> {
        self.signal(names, libc::SIGSTOP).await
    }

    async fn resume(&self, names: &[NodeName]) -> Result<(), LocalError> {
        self.signal(names, libc::SIGCONT).await
    }

    async fn partition(&self, _grudge: &Grudge) -> Result<(), LocalError> {
        Err(LocalError::PartitionUnsupported)
    }

    async fn heal(&self) -> Result<(), LocalError> {
        // No partition is ever in place (see `partition`).
        Ok(())
    }

    async fn degrade(&self, _fault: &nemesis::link::LinkFault) -> Result<(), LocalError> {
        Err(LocalError::LinksUnsupported)
    }

    async fn restore(&self, _kind: nemesis::link::LinkKind) -> Result<(), LocalError> {
        // No link fault is ever in place (see `degrade`).
        Ok(())
    }

    async fn bump_clock(
        &self,
        _nodes: &[NodeName],
        _shift: nemesis::ClockShift,
    ) -> Result<(), LocalError> {
        Err(LocalError::ClockUnsupported)
    }

    async fn reset_clocks(&self, _nodes: &[NodeName]) -> Result<(), LocalError> {
        // No clock is ever moved (see `bump_clock`).
        Ok(())
    }

    async fn remove_members(&self, _nodes: &[NodeName]) -> Result<(), LocalError> {
        Err(LocalError::MembershipUnsupported)
    }

    async fn add_members(&self, _nodes: &[NodeName]) -> Result<(), LocalError> {
        // No node is ever removed (see `remove_members`).
        Ok(())
    }

    async fn replace_members(&self, _nodes: &[NodeName]) -> Result<(), LocalError> {
        Err(LocalError::MembershipUnsupported)
    }
}

impl TestTarget for LocalTarget {
    fn nodes(&self) -> Vec<(NodeName, SocketAddr)> {
        self.addrs.clone()
    }

    async fn leader(&self) -> anyhow::Result<Option<NodeName>> {
        let mut best: Option<(u64, u64)> = None;
        for (_, addr) in &self.addrs {
            if let Ok(s) = self.client.status(*addr).await {
                if s.role == "leader" && best.is_none_or(|(term, _)| s.term > term) {
                    best = Some((s.term, s.id));
                }
            }
        }
        Ok(best.map(|(_, id)| format!("n{id}")))
    }

    async fn is_running(&self, name: &NodeName) -> anyhow::Result<bool> {
        let mut nodes = self.nodes.lock().await;
        let node = nodes
            .get_mut(name)
            .ok_or_else(|| LocalError::UnknownNode(name.clone()))?;
        Ok(match node.child.as_mut() {
            None => false,
            Some(c) => c
                .try_wait()
                .with_context(|| format!("checking node {name}"))?
                .is_none(),
        })
    }

    async fn exited(&self, name: &NodeName) -> anyhow::Result<Option<Exited>> {
        let mut nodes = self.nodes.lock().await;
        let node = nodes
            .get_mut(name)
            .ok_or_else(|| LocalError::UnknownNode(name.clone()))?;
        let code = match node.child.as_mut() {
            None => None,
            Some(c) => match c
                .try_wait()
                .with_context(|| format!("checking node {name}"))?
            {
                None => return Ok(None),
                Some(status) => {
                    use std::os::unix::process::ExitStatusExt;
                    status
                        .code()
                        .or_else(|| status.signal().map(|s| 128 + s))
                        .map(i64::from)
                }
            },
        };
        Ok(Some(Exited {
            code,
            last_lines: tail(&node.log, LAST_LINES),
        }))
    }

    async fn observe_links(
        &self,
        _kind: nemesis::link::LinkKind,
    ) -> anyhow::Result<(bool, String)> {
        // Validation refuses link faults for local runs; none is ever in place.
        Ok((false, "local processes have no link faults".into()))
    }

    async fn collect_logs(&self, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let nodes = self.nodes.lock().await;
        let mut written = Vec::new();
        for (name, node) in nodes.iter() {
            let to = dir.join(format!("{name}.log"));
            std::fs::copy(&node.log, &to)
                .with_context(|| format!("copying {} to {}", node.log.display(), to.display()))?;
            written.push(to);
        }
        Ok(written)
    }

    async fn teardown(&self) -> anyhow::Result<()> {
        let names: Vec<NodeName> = self.addrs.iter().map(|(n, _)| n.clone()).collect();
        // Stopped processes die on SIGKILL too, so no resume is needed first.
        self.kill(&names).await.context("stopping local nodes")?;
        std::fs::remove_dir_all(&self.dir)
            .with_context(|| format!("removing {}", self.dir.display()))
    }

    fn describe(&self) -> String {
        format!("cluster {} ({} local nodes)", self.name, self.addrs.len())
    }
}

/// The last `n` non-empty lines of a log file, oldest first (none when it cannot be read).
fn tail(path: &Path, n: usize) -> Vec<String> {
    super::logs::tail(&std::fs::read_to_string(path).unwrap_or_default(), n)
}
