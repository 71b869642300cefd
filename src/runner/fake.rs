//! An in-memory cluster and client for testing the phases without Docker or nodes: one
//! linearizable store behind every "node", faults that change what nodes answer.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nemesis::fault::{FaultExecutor, Grudge, NodeName};
use workloads::{Request, Response};

use super::memory::Store;
use crate::cluster::client::{Client, NodeStatus};
use crate::cluster::target::{Exited, TestTarget};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    Up,
    Paused,
    Down,
}

#[derive(Default)]
pub struct State {
    pub nodes: Vec<NodeState>,
    pub leader: Option<usize>,
    pub term: u64,
    pub store: Store,
    /// Every executor call, e.g. `kill n1`.
    pub calls: Vec<String>,
    pub torn_down: bool,
    pub fail_partitions: bool,
    /// Elements the store "loses" (to test that checkers catch it).
    pub drop_adds: bool,
    /// A node that crashes (exits by itself, code 134) once this many client operations have
    /// been served, if any.
    pub crash_after: Option<(usize, u64)>,
    pub served: u64,
    /// Every client request is refused (a system that never serves), so nothing completes ok.
    pub refuse_clients: bool,
    /// Once this many client operations have been served, reads answer the first value ever
    /// written to their key (a node serving a stale snapshot): not linearizable.
    pub stale_reads_after: Option<u64>,
    /// The first value written to each key.
    pub first_written: std::collections::HashMap<String, String>,

    /// Link fault kinds in effect.
    pub links: std::collections::BTreeSet<nemesis::link::LinkKind>,
    /// Each node's clock fault (absent: real time).
    pub clocks: std::collections::BTreeMap<usize, crate::cluster::clock::ClockSetting>,
    /// Nodes out of the configuration (removed, or replaced and not yet added back).
    pub removed: std::collections::BTreeSet<usize>,
    /// Nodes replaced by empty ones so far.
    pub replaced: u64,
}

impl State {
    /// A leader that was removed steps down; the next voter that runs leads.
    fn elect_among_voters(&mut self) {
        self.term += 1;
        let n = self.nodes.len();
        let from = self.leader.map_or(0, |l| l + 1);
        self.leader = (0..n)
            .map(|i| (from + i) % n)
            .find(|i| self.nodes[*i] == NodeState::Up && !self.removed.contains(i));
    }

    fn elect(&mut self) {
        self.term += 1;
        let n = self.nodes.len();
        let from = self.leader.map_or(0, |l| l + 1);
        self.leader = (0..n)
            .map(|i| (from + i) % n)
            .find(|i| self.nodes[*i] == NodeState::Up);
    }
}

#[derive(Clone)]
pub struct Fake {
    pub state: Arc<Mutex<State>>,
    addrs: Vec<(NodeName, SocketAddr)>,
}

impl Fake {
    pub fn new(nodes: usize) -> Fake {
        let state = State {
            nodes: vec![NodeState::Up; nodes],
            leader: Some(0),
            term: 1,
            ..State::default()
        };
        let addrs = (0..nodes)
            .map(|i| {
                (
                    format!("n{}", i + 1),
                    SocketAddr::from(([127, 0, 0, 1], 9001 + i as u16)),
                )
            })
            .collect();
        Fake {
            state: Arc::new(Mutex::new(state)),
            addrs,
        }
    }

    pub fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }

    fn position(&self, name: &str) -> usize {
        self.addrs
            .iter()
            .position(|(n, _)| n == name)
            .expect("a fake node")
    }

    fn index(&self, addr: SocketAddr) -> usize {
        self.addrs
            .iter()
            .position(|(_, a)| *a == addr)
            .expect("a fake node's address")
    }

    fn set(&self, names: &[NodeName], to: NodeState, call: &str) {
        let mut s = self.state.lock().unwrap();
        s.calls.push(format!("{call} {}", names.join(",")));
        for name in names {
            let i = self
                .addrs
                .iter()
                .position(|(n, _)| n == name)
                .expect("a fake node");
            // Resume only thaws paused nodes; start only revives killed ones.
            let applies = match to {
                NodeState::Up if call == "resume" => s.nodes[i] == NodeState::Paused,
                NodeState::Up => s.nodes[i] == NodeState::Down,
                _ => true,
            };
            if applies {
                s.nodes[i] = to;
            }
        }
        if s.leader.is_none_or(|l| s.nodes[l] != NodeState::Up) {
            s.elect();
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("fake executor refused: {0}")]
pub struct FakeError(String);

impl FaultExecutor for Fake {
    type Error = FakeError;

    async fn kill(&self, nodes: &[NodeName]) -> Result<(), FakeError> {
        self.set(nodes, NodeState::Down, "kill");
        Ok(())
    }
    async fn start(&self, nodes: &[NodeName]) -> Result<(), FakeError> {
        self.set(nodes, NodeState::Up, "start");
        Ok(())
    }
    async fn pause(&self, nodes: &[NodeName]) -> Result<(), FakeError> {
        self.set(nodes, NodeState::Paused, "pause");
        Ok(())
    }
    async fn resume(&self, nodes: &[NodeName]) -> Result<(), FakeError> {
        self.set(nodes, NodeState::Up, "resume");
        Ok(())
    }
    async fn partition(&self, grudge: &Grudge) -> Result<(), FakeError> {
        let mut s = self.state.lock().unwrap();
        s.calls.push(format!("partition {}", grudge.0.len()));
        if s.fail_partitions {
            return Err(FakeError("partition".into()));
        }
        // The isolated side loses its leader, as Raft would.
        s.elect();
        Ok(())
    }
    async fn heal(&self) -> Result<(), FakeError> {
        self.state.lock().unwrap().calls.push("heal".into());
        Ok(())
    }
    async fn degrade(&self, fault: &nemesis::link::LinkFault) -> Result<(), FakeError> {
        let mut s = self.state.lock().unwrap();
        s.calls
            .push(format!("{} {}", fault.shape, fault.links.0.len()));
        s.links.insert(fault.shape.kind());
        Ok(())
    }
    async fn restore(&self, kind: nemesis::link::LinkKind) -> Result<(), FakeError> {
        let mut s = self.state.lock().unwrap();
        s.calls.push(format!("heal-{kind}"));
        s.links.remove(&kind);
        Ok(())
    }
    async fn bump_clock(
        &self,
        nodes: &[NodeName],
        shift: nemesis::ClockShift,
    ) -> Result<(), FakeError> {
        let mut s = self.state.lock().unwrap();
        let offset_secs = shift.offset_secs;
        let rate = shift.rate.map(|r| format!(" {r}")).unwrap_or_default();
        s.calls
            .push(format!("clock {} {offset_secs:+}{rate}", nodes.join(",")));
        let setting = crate::cluster::clock::ClockSetting {
            shift,
            anchor_ms: crate::runner::faults::now_ms(),
        };
        for n in nodes {
            let i = self
                .addrs
                .iter()
                .position(|(a, _)| a == n)
                .expect("a fake node");
            s.clocks.insert(i, setting);
        }
        Ok(())
    }
    async fn reset_clocks(&self, nodes: &[NodeName]) -> Result<(), FakeError> {
        let mut s = self.state.lock().unwrap();
        s.calls.push(format!("reset-clock {}", nodes.join(",")));
        for n in nodes {
            let i = self
                .addrs
                .iter()
                .position(|(a, _)| a == n)
                .expect("a fake node");
            s.clocks.remove(&i);
        }
        Ok(())
    }
    async fn remove_members(&self, nodes: &[NodeName]) -> Result<(), FakeError> {
        let mut s = self.state.lock().unwrap();
        s.calls.push(format!("remove {}", nodes.join(",")));
        for n in nodes {
            let i = self.position(n);
            s.removed.insert(i);
            if s.leader == Some(i) {
                s.elect_among_voters();
            }
        }
        Ok(())
    }
    async fn add_members(&self, nodes: &[NodeName]) -> Result<(), FakeError> {
        let mut s = self.state.lock().unwrap();
        s.calls.push(format!("add {}", nodes.join(",")));
        for n in nodes {
            let i = self.position(n);
            s.removed.remove(&i);
        }
        Ok(())
    }
    async fn replace_members(&self, nodes: &[NodeName]) -> Result<(), FakeError> {
        let mut s = self.state.lock().unwrap();
        s.calls.push(format!("replace {}", nodes.join(",")));
        s.replaced += nodes.len() as u64;
        Ok(())
    }
}

impl TestTarget for Fake {
    fn nodes(&self) -> Vec<(NodeName, SocketAddr)> {
        self.addrs.clone()
    }
    async fn leader(&self) -> anyhow::Result<Option<NodeName>> {
        let s = self.state.lock().unwrap();
        Ok(s.leader.map(|l| self.addrs[l].0.clone()))
    }
    async fn is_running(&self, node: &NodeName) -> anyhow::Result<bool> {
        let i = self
            .addrs
            .iter()
            .position(|(n, _)| n == node)
            .expect("a fake node");
        Ok(self.state.lock().unwrap().nodes[i] != NodeState::Down)
    }
    async fn exited(&self, node: &NodeName) -> anyhow::Result<Option<Exited>> {
        let i = self
            .addrs
            .iter()
            .position(|(n, _)| n == node)
            .expect("a fake node");
        let s = self.state.lock().unwrap();
        if s.nodes[i] != NodeState::Down {
            return Ok(None);
        }
        let crashed = s.crash_after.is_some_and(|(c, _)| c == i);
        Ok(Some(Exited {
            code: Some(if crashed { 134 } else { 137 }),
            last_lines: vec![if crashed {
                "error: faultline hit a bug (planted) at src/node/fake.rs:1".into()
            } else {
                "fake log".into()
            }],
        }))
    }

    async fn observe_links(&self, kind: nemesis::link::LinkKind) -> anyhow::Result<(bool, String)> {
        let on = self.state.lock().unwrap().links.contains(&kind);
        Ok((on, format!("fake {kind} in effect: {on}")))
    }
    async fn collect_logs(&self, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("n1.log");
        std::fs::write(&path, "fake log\n")?;
        let crashed = self.state.lock().unwrap().crash_after.map(|(c, _)| c);
        let mut written = vec![path];
        if let Some(c) = crashed {
            let path = dir.join(format!("n{}.log", c + 1));
            std::fs::write(
                &path,
                "started\nerror: faultline hit a bug (planted) at src/node/fake.rs:1\n",
            )?;
            written.push(path);
        }
        Ok(written)
    }
    async fn teardown(&self) -> anyhow::Result<()> {
        self.state.lock().unwrap().torn_down = true;
        Ok(())
    }
    fn describe(&self) -> String {
        "fake cluster".into()
    }
}

impl Client for Fake {
    async fn call(&self, addr: SocketAddr, request: &Request) -> Response {
        let i = self.index(addr);
        let (node, refuse) = {
            let s = self.state.lock().unwrap();
            (s.nodes[i], s.refuse_clients)
        };
        if refuse {
            return Response::Fail {
                status: Some(503),
                error: "refused: not serving".into(),
            };
        }
        match node {
            NodeState::Down => {
                return Response::Fail {
                    status: None,
                    error: format!(
                        "{}: connection refused",
                        crate::cluster::client::UNREACHABLE
                    ),
                }
            }
            NodeState::Paused => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                return Response::Info {
                    error: "timeout".into(),
                };
            }
            NodeState::Up => {}
        }
        // Let other clients interleave, as over a network.
        tokio::task::yield_now().await;
        let mut s = self.state.lock().unwrap();
        s.served += 1;
        if let Some((crashing, after)) = s.crash_after {
            if s.served >= after && s.nodes[crashing] == NodeState::Up {
                // The node dies by itself (no nemesis): its Raft would elect another leader.
                s.nodes[crashing] = NodeState::Down;
                if s.leader == Some(crashing) {
                    s.elect();
                }
            }
        }
        if let Request::Read { key } = request {
            if s.stale_reads_after.is_some_and(|n| s.served >= n) {
                if let Some(first) = s.first_written.get(key) {
                    return Response::Ok(serde_json::json!({ "value": first }));
                }
            }
        }
        let lose_appends = s.drop_adds;
        let response = s.store.apply(request, lose_appends);
        if let (
            Response::Ok(_),
            Request::Write { key, value } | Request::Cas { key, to: value, .. },
        ) = (&response, request)
        {
            s.first_written
                .entry(key.clone())
                .or_insert_with(|| value.clone());
        }
        response
    }

    async fn status(&self, addr: SocketAddr) -> Result<NodeStatus, String> {
        let i = self.index(addr);
        let s = self.state.lock().unwrap();
        if s.nodes[i] != NodeState::Up {
            return Err(format!("{addr}: no answer"));
        }
        let ids = |keep: bool| -> Vec<u64> {
            (0..s.nodes.len())
                .filter(|n| s.removed.contains(n) != keep)
                .map(|n| n as u64 + 1)
                .collect()
        };
        Ok(NodeStatus {
            membership: Some(crate::cluster::client::MembershipView {
                voters: ids(true),
                learners: Vec::new(),
            }),
            snapshots_installed: Some(s.replaced),
            id: i as u64 + 1,
            role: if s.leader == Some(i) {
                "leader"
            } else {
                "follower"
            }
            .into(),
            term: s.term,
            leader: s.leader.map(|l| l as u64 + 1),
            time_ms: Some({
                let now = crate::runner::faults::now_ms();
                let skew = s.clocks.get(&i).map_or(0.0, |c| c.skew_ms_at(now));
                now.saturating_add_signed(skew.round() as i64)
            }),
            ..NodeStatus::default()
        })
    }
}
