//! Local clusters of `faultline node` processes for integration tests: free ports, temp data
//! dirs, SIGKILL, and polling with deadlines (never bare sleeps as synchronisation).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use faultline::cluster::node_process::{free_addrs, peer_list, NodeProcess};

use serde_json::Value;

pub struct Node {
    pub id: u64,
    pub addr: String,
    pub data_dir: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    join: bool,
}

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub nodes: BTreeMap<u64, Node>,
    pub peers: String,
    extra: Vec<String>,
    pub http: reqwest::Client,
}

/// A free port distinct from every port in `taken`.
pub fn free_port_except(taken: &[u16]) -> u16 {
    free_addrs(taken.len() + 1)
        .expect("free ports")
        .iter()
        .map(|a| a.port())
        .find(|p| !taken.contains(p))
        .expect("n + 1 distinct ports leave one outside n taken ones")
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .expect("a node address is HOST:PORT")
}

impl Cluster {
    /// Starts `n` nodes forming one cluster from the static peer list.
    pub fn start(n: u64, extra: &[&str]) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut nodes = BTreeMap::new();
        let free = free_addrs(n as usize).expect("free ports");
        for (id, addr) in (1..=n).zip(free) {
            let addr = addr.to_string();
            nodes.insert(
                id,
                Node {
                    id,
                    data_dir: dir.path().join(format!("n{id}")),
                    log: dir.path().join(format!("n{id}.log")),
                    addr,
                    child: None,
                    join: false,
                },
            );
        }
        let peers = peer_list(nodes.values().map(|n| (n.id, &n.addr)));
        let mut c = Cluster {
            dir,
            nodes,
            peers,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("http client"),
        };
        let ids: Vec<u64> = c.nodes.keys().copied().collect();
        for id in ids {
            c.spawn(id);
        }
        c
    }

    pub fn spawn(&mut self, id: u64) {
        let peers = self.peers.clone();
        let extra = self.extra.clone();
        let n = self.nodes.get_mut(&id).expect("known node");
        assert!(n.child.is_none(), "node {id} is already running");
        let mut cmd = NodeProcess {
            exe: Path::new(env!("CARGO_BIN_EXE_faultline")),
            id,
            listen: &n.addr,
            peers: &peers,
            data_dir: &n.data_dir,
            args: &extra,
            join: n.join,
            log: &n.log,
        }
        .command()
        .expect("node log file");
        cmd.env("FAULTLINE_LOG", "info,openraft=warn");
        n.child = Some(cmd.spawn().expect("spawning faultline node"));
    }

    /// Adds a node that is not in the static peer list; it starts with `--join`.
    pub fn add_joining_node(&mut self, id: u64) -> String {
        let taken: Vec<u16> = self.nodes.values().map(|n| port_of(&n.addr)).collect();
        let addr = format!("127.0.0.1:{}", free_port_except(&taken));
        self.nodes.insert(
            id,
            Node {
                id,
                data_dir: self.dir.path().join(format!("n{id}")),
                log: self.dir.path().join(format!("n{id}.log")),
                addr: addr.clone(),
                child: None,
                join: true,
            },
        );
        self.spawn(id);
        addr
    }

    pub fn set_join(&mut self, id: u64, join: bool) {
        self.nodes.get_mut(&id).expect("known node").join = join;
    }

    /// SIGKILL, and wait so the process is gone before the caller goes on.
    pub fn kill(&mut self, id: u64) {
        let n = self.nodes.get_mut(&id).expect("known node");
        let mut child = n.child.take().expect("node is running");
        child.kill().expect("SIGKILL");
        child.wait().expect("reaping the node");
    }

    pub fn addr(&self, id: u64) -> &str {
        &self.nodes[&id].addr
    }

    pub fn data_dir(&self, id: u64) -> &Path {
        &self.nodes[&id].data_dir
    }

    pub fn running(&self) -> Vec<u64> {
        self.nodes
            .values()
            .filter(|n| n.child.is_some())
            .map(|n| n.id)
            .collect()
    }

    pub async fn status(&self, id: u64) -> Option<Value> {
        let url = format!("http://{}/status", self.addr(id));
        let resp = self
            .http
            .get(url)
            .timeout(Duration::from_secs(1))
            .send()
            .await
            .ok()?;
        resp.json().await.ok()
    }

    /// Polls until node `id` answers `/status`.
    pub async fn wait_serving(&self, id: u64, within: Duration) {
        let deadline = Instant::now() + within;
        while self.status(id).await.is_none() {
            assert!(
                Instant::now() < deadline,
                "node {id} did not serve /status within {within:?}\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await; // poll again, before the deadline
        }
    }

    /// Polls until every running node reports the same leader, itself running; returns it.
    pub async fn wait_leader(&self, within: Duration) -> u64 {
        let deadline = Instant::now() + within;
        loop {
            let running = self.running();
            let mut leaders = Vec::new();
            for &id in &running {
                leaders.push(self.status(id).await.and_then(|s| s["leader"].as_u64()));
            }
            if let Some(Some(l)) = leaders.first() {
                if leaders.iter().all(|x| *x == Some(*l)) && running.contains(l) {
                    return *l;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no agreed leader among {running:?} within {within:?}; they report {leaders:?}\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await; // poll again, before the deadline
        }
    }

    /// Polls until node `id`'s applied index reaches `index`.
    pub async fn wait_applied(&self, id: u64, index: u64, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let applied = self
                .status(id)
                .await
                .and_then(|s| s["applied_index"].as_u64());
            if applied.is_some_and(|a| a >= index) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node {id} applied {applied:?}, not {index}, within {within:?}\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await; // poll again, before the deadline
        }
    }

    pub async fn put(&self, via: u64, key: &str, value: &str) -> reqwest::Response {
        self.http
            .put(format!("http://{}/kv/{key}", self.addr(via)))
            .body(value.to_owned())
            .send()
            .await
            .expect("PUT reached the node")
    }

    /// Reads a key through node `via` and returns the JSON `value`.
    pub async fn get(&self, via: u64, key: &str) -> Value {
        let resp = self
            .http
            .get(format!("http://{}/kv/{key}", self.addr(via)))
            .send()
            .await
            .expect("GET reached the node");
        assert_eq!(resp.status(), 200, "GET /kv/{key} via node {via}");
        let v: Value = resp.json().await.expect("JSON body");
        v["value"].clone()
    }

    pub async fn post(&self, via: u64, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(format!("http://{}{path}", self.addr(via)))
            .json(&body)
            .send()
            .await
            .expect("POST reached the node")
    }

    /// The tail of every node's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for n in self.nodes.values() {
            let text = std::fs::read_to_string(&n.log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(15)..];
            // A panic's location and message follow "panicked at".
            let panics: Vec<&str> = lines
                .iter()
                .enumerate()
                .filter(|(_, l)| l.contains("panicked at"))
                .take(2)
                .flat_map(|(i, _)| lines[i..(i + 3).min(lines.len())].iter().copied())
                .collect();
            out.push_str(&format!(
                "--- node {} log: panics ---\n{}\n--- tail ---\n{}\n",
                n.id,
                panics.join("\n"),
                tail.join("\n")
            ));
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // A failed test keeps its data dirs and node logs: the evidence a flaky failure needs.
        if std::thread::panicking() {
            self.dir.disable_cleanup(true);
            eprintln!(
                "test failed: node data and logs kept in {}",
                self.dir.path().display()
            );
        }
        for n in self.nodes.values_mut() {
            if let Some(mut c) = n.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// Writes `count` keys `prefix-i` with `clients` concurrent writers through node `via`,
/// asserting every write is acknowledged.
pub async fn write_many(c: &Cluster, via: u64, prefix: &str, count: usize, clients: usize) {
    let url = format!("http://{}/kv/", c.addr(via));
    let mut tasks = Vec::new();
    for w in 0..clients {
        let http = c.http.clone();
        let url = url.clone();
        let prefix = prefix.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut i = w;
            while i < count {
                let resp = http
                    .put(format!("{url}{prefix}-{i}"))
                    .body(format!("v{i}"))
                    .send()
                    .await
                    .expect("PUT reached the node");
                assert_eq!(resp.status(), 200, "write {prefix}-{i}");
                i += clients;
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer task");
    }
}

/// Node `id`'s `(leader, term)` as its `/status` reports them; panics when it does not answer.
pub async fn leader_and_term(c: &Cluster, id: u64) -> (Option<u64>, u64) {
    let s = c
        .status(id)
        .await
        .unwrap_or_else(|| panic!("node {id} did not answer /status\n{}", c.logs()));
    (s["leader"].as_u64(), s["term"].as_u64().expect("term"))
}

/// Node `id`'s `(leader, term)`, or `None` when it does not answer `/status` in time.
pub async fn try_leader_and_term(c: &Cluster, id: u64) -> Option<(Option<u64>, u64)> {
    let s = c.status(id).await?;
    Some((s["leader"].as_u64(), s["term"].as_u64()?))
}

/// Watches every running node for `window` and fails as soon as one reports a leader or term
/// other than `(leader, term)`: an election happened. A node may miss a poll (a busy machine),
/// but each must answer at least once.
pub async fn assert_no_election(c: &Cluster, leader: u64, term: u64, window: Duration) {
    let until = Instant::now() + window;
    let mut silent: Vec<u64> = c.running();
    loop {
        for id in c.running() {
            let Some(seen) = try_leader_and_term(c, id).await else {
                continue;
            };
            silent.retain(|&s| s != id);
            assert_eq!(
                seen,
                (Some(leader), term),
                "node {id} reports (leader, term) {seen:?}, not {:?}: an election happened\n{}",
                (leader, term),
                c.logs()
            );
        }
        if Instant::now() >= until && silent.is_empty() {
            return;
        }
        assert!(
            Instant::now() < until + Duration::from_secs(10),
            "nodes {silent:?} never answered /status\n{}",
            c.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await; // poll again, before the deadline
    }
}

/// Writes `count` keys `prefix-i`, each a `value_len`-byte value, with `clients` concurrent
/// writers through node `via`, asserting every write is acknowledged.
pub async fn write_values(
    c: &Cluster,
    via: u64,
    prefix: &str,
    count: usize,
    value_len: usize,
    clients: usize,
) {
    let url = format!("http://{}/kv/", c.addr(via));
    let mut tasks = Vec::new();
    for w in 0..clients {
        let http = c.http.clone();
        let url = url.clone();
        let prefix = prefix.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut i = w;
            while i < count {
                // Distinct values, so no layer can share or compress them away.
                let fill = char::from(b'a' + (i % 26) as u8);
                let resp = http
                    .put(format!("{url}{prefix}-{i}"))
                    .body(fill.to_string().repeat(value_len))
                    .send()
                    .await
                    .expect("PUT reached the node");
                let status = resp.status();
                assert_eq!(
                    status,
                    200,
                    "write {prefix}-{i}: {}",
                    resp.text().await.unwrap_or_default()
                );
                i += clients;
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer task");
    }
}

impl Cluster {
    /// Starts node `id` again with `extra` flags instead of the ones the cluster started with.
    pub fn spawn_with(&mut self, id: u64, extra: &[&str]) {
        let own = std::mem::replace(
            &mut self.extra,
            extra.iter().map(|s| s.to_string()).collect(),
        );
        self.spawn(id);
        self.extra = own;
    }
}
