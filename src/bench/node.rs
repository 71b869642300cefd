//! `faultline bench node`: start 3 local nodes, drive them with N concurrent HTTP clients, and
//! report writes/s, linearizable reads/s and latency percentiles. With `--etcd`, the same load
//! runs against a 3-member etcd cluster (its JSON gateway) on the same machine, for comparison.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use serde_json::{json, Value};

use crate::cluster::node_process::{free_addr, peer_list, NodeProcess};
use crate::exit::{bad_input, Validity};

#[derive(Debug, Args)]
pub struct NodeBenchArgs {
    /// Concurrent clients (each one request at a time).
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Seconds of measurement per phase (writes, then reads).
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Distinct keys the clients spread over.
    #[arg(long, default_value_t = 1000)]
    pub keys: usize,
    /// Size of each written value in bytes.
    #[arg(long, default_value_t = 16)]
    pub value_bytes: usize,
    /// Which faultline nodes clients talk to: all (followers forward) or the leader only.
    #[arg(long, value_enum, default_value_t = Via::All)]
    pub via: Via,
    /// Also measure a 3-member etcd cluster (needs `etcd` on PATH, e.g. Debian's etcd-server).
    #[arg(long)]
    pub etcd: bool,
    /// Skip faultline's own nodes (with --etcd: measure etcd only). The nodes log at `warn`
    /// unless FAULTLINE_NODE_LOG says otherwise; their logs are kept only while the bench runs.
    #[arg(long)]
    pub no_faultline: bool,
}

impl Default for NodeBenchArgs {
    fn default() -> Self {
        NodeBenchArgs {
            clients: 64,
            seconds: 10,
            keys: 1000,
            value_bytes: 16,
            via: Via::All,
            etcd: false,
            no_faultline: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Via {
    All,
    Leader,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum System {
    Faultline,
    Etcd,
}

pub fn run(args: NodeBenchArgs) -> anyhow::Result<Validity> {
    if args.clients == 0 || args.seconds == 0 || args.keys == 0 {
        return Err(bad_input(
            "--clients, --seconds and --keys must be at least 1",
        ));
    }
    let rt = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    rt.block_on(async {
        let build = if cfg!(debug_assertions) { "debug" } else { "release" };
        println!(
            "faultline bench node: 3 nodes on 127.0.0.1, {} clients, {} s per phase, {} keys, {}-byte values ({build} build)",
            args.clients, args.seconds, args.keys, args.value_bytes
        );
        println!(
            "{:<10} {:<6} {:>9} {:>10} {:>8} {:>8} {:>8} {:>7}",
            "system", "phase", "ops", "ops/s", "p50 ms", "p99 ms", "max ms", "errors"
        );
        if !args.no_faultline {
            bench_system(System::Faultline, &args).await?;
        }
        if args.etcd {
            bench_system(System::Etcd, &args).await?;
        }
        Ok(Validity::Valid)
    })
}

async fn bench_system(sys: System, args: &NodeBenchArgs) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!(
        "faultline-bench-{}-{}",
        std::process::id(),
        match sys {
            System::Faultline => "node",
            System::Etcd => "etcd",
        }
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(10))
        .build()
        .context("building the HTTP client")?;
    let cluster = match sys {
        System::Faultline => start_faultline(&dir)?,
        System::Etcd => start_etcd(&dir)?,
    };
    let mut endpoints = cluster.client_addrs.clone();
    wait_ready(sys, &http, &endpoints).await?;
    if sys == System::Faultline && args.via == Via::Leader {
        endpoints = vec![faultline_leader(&http, &endpoints).await?];
    }
    let name = match sys {
        System::Faultline => "faultline",
        System::Etcd => "etcd",
    };
    let endpoints = Arc::new(endpoints);
    // A short unmeasured warm-up opens connections and fills the keys the read phase reads.
    drive(
        sys,
        Phase::Write,
        &http,
        &endpoints,
        args,
        Duration::from_secs(1),
    )
    .await;
    for phase in [Phase::Write, Phase::Read] {
        let r = drive(
            sys,
            phase,
            &http,
            &endpoints,
            args,
            Duration::from_secs(args.seconds),
        )
        .await;
        r.print(name, phase);
    }
    drop(cluster);
    if let Err(e) = std::fs::remove_dir_all(&dir) {
        tracing::warn!(target: "faultline::bench", "removing {}: {e}", dir.display());
    }
    Ok(())
}

/// Child processes killed on drop, so an error or Ctrl-C never leaves a cluster behind.
struct LocalCluster {
    children: Vec<Child>,
    client_addrs: Vec<String>,
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(free_addr().context("finding a free port")?.port())
}

fn log_file(dir: &Path, name: &str) -> anyhow::Result<(std::fs::File, std::fs::File)> {
    let path = dir.join(format!("{name}.log"));
    let f = std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let g = f
        .try_clone()
        .with_context(|| format!("cloning {}", path.display()))?;
    Ok((f, g))
}

fn start_faultline(dir: &Path) -> anyhow::Result<LocalCluster> {
    let exe: PathBuf = std::env::current_exe().context("finding the faultline binary")?;
    let addrs: Vec<String> = (0..3)
        .map(|_| free_port().map(|p| format!("127.0.0.1:{p}")))
        .collect::<anyhow::Result<_>>()?;
    let peers = peer_list((1..).zip(&addrs));
    let mut cluster = LocalCluster {
        children: Vec::new(),
        client_addrs: addrs.clone(),
    };
    for (id, addr) in (1..).zip(&addrs) {
        let log = dir.join(format!("node{id}.log"));
        let mut command = NodeProcess {
            exe: &exe,
            id,
            listen: addr,
            peers: &peers,
            data_dir: &dir.join(format!("n{id}")),
            args: &[],
            join: false,
            log: &log,
        }
        .command()
        .with_context(|| format!("creating {}", log.display()))?;
        let child = command
            .env(
                "FAULTLINE_LOG",
                std::env::var("FAULTLINE_NODE_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .spawn()
            .with_context(|| format!("starting {}", exe.display()))?;
        cluster.children.push(child);
    }
    Ok(cluster)
}

fn start_etcd(dir: &Path) -> anyhow::Result<LocalCluster> {
    let ports: Vec<(u16, u16)> = (0..3)
        .map(|_| Ok((free_port()?, free_port()?)))
        .collect::<anyhow::Result<_>>()?;
    let initial: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(i, (_, peer))| format!("e{}=http://127.0.0.1:{peer}", i + 1))
        .collect();
    let mut cluster = LocalCluster {
        children: Vec::new(),
        client_addrs: ports
            .iter()
            .map(|(c, _)| format!("127.0.0.1:{c}"))
            .collect(),
    };
    for (i, (client, peer)) in ports.iter().enumerate() {
        let name = format!("e{}", i + 1);
        let (out, err) = log_file(dir, &name)?;
        let child = Command::new("etcd")
            .args(["--name", &name])
            .arg("--data-dir")
            .arg(dir.join(&name))
            .args([
                "--listen-client-urls",
                &format!("http://127.0.0.1:{client}"),
            ])
            .args([
                "--advertise-client-urls",
                &format!("http://127.0.0.1:{client}"),
            ])
            .args(["--listen-peer-urls", &format!("http://127.0.0.1:{peer}")])
            .args([
                "--initial-advertise-peer-urls",
                &format!("http://127.0.0.1:{peer}"),
            ])
            .args(["--initial-cluster", &initial.join(",")])
            .args([
                "--initial-cluster-state",
                "new",
                "--initial-cluster-token",
                "faultline-bench",
            ])
            .args(["--logger", "zap", "--log-level", "error"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .context("starting etcd (install Debian's etcd-server, or put `etcd` on PATH)")?;
        cluster.children.push(child);
    }
    Ok(cluster)
}

async fn wait_ready(sys: System, http: &reqwest::Client, addrs: &[String]) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ok = match sys {
            System::Faultline => faultline_leader(http, addrs).await.is_ok(),
            System::Etcd => {
                let mut all = true;
                for a in addrs {
                    let v: Option<Value> = match http.get(format!("http://{a}/health")).send().await
                    {
                        Ok(r) => r.json().await.ok(),
                        Err(_) => None,
                    };
                    all &= v.is_some_and(|v| v["health"] == json!("true"));
                }
                all
            }
        };
        if ok {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the local cluster at {addrs:?} was not ready within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn faultline_leader(http: &reqwest::Client, addrs: &[String]) -> anyhow::Result<String> {
    let mut leaders = Vec::new();
    for a in addrs {
        let s: Value = http
            .get(format!("http://{a}/status"))
            .send()
            .await
            .with_context(|| format!("GET http://{a}/status"))?
            .json()
            .await
            .with_context(|| format!("decoding http://{a}/status"))?;
        leaders.push(s["leader"].as_u64());
    }
    match leaders.first() {
        Some(Some(l)) if leaders.iter().all(|x| *x == Some(*l)) => addrs
            .get(*l as usize - 1)
            .cloned()
            .context("leader id outside the cluster"),
        _ => bail!("no agreed leader yet: {leaders:?}"),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Write,
    Read,
}

struct PhaseResult {
    elapsed: Duration,
    latencies_us: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
}

impl PhaseResult {
    fn print(&self, name: &str, phase: Phase) {
        let mut l = self.latencies_us.clone();
        l.sort_unstable();
        let pct = |p: f64| -> f64 {
            if l.is_empty() {
                return 0.0;
            }
            let i = ((l.len() as f64 * p).ceil() as usize).clamp(1, l.len()) - 1;
            l[i] as f64 / 1000.0
        };
        let ops = l.len() as f64 / self.elapsed.as_secs_f64();
        println!(
            "{:<10} {:<6} {:>9} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>7}",
            name,
            match phase {
                Phase::Write => "write",
                Phase::Read => "read",
            },
            l.len(),
            ops,
            pct(0.50),
            pct(0.99),
            pct(1.0),
            self.errors
        );
        if let Some(e) = &self.first_error {
            tracing::warn!(target: "faultline::bench", "{name}: first failed request: {e}");
        }
    }
}

async fn drive(
    sys: System,
    phase: Phase,
    http: &reqwest::Client,
    endpoints: &Arc<Vec<String>>,
    args: &NodeBenchArgs,
    length: Duration,
) -> PhaseResult {
    let start = Instant::now();
    let deadline = start + length;
    let value = "x".repeat(args.value_bytes);
    let tasks: Vec<_> = (0..args.clients)
        .map(|c| {
            let http = http.clone();
            let endpoints = endpoints.clone();
            let value = value.clone();
            let keys = args.keys;
            tokio::spawn(async move {
                let addr = &endpoints[c % endpoints.len()];
                let (mut lat, mut errors, mut first) = (Vec::new(), 0u64, None);
                let mut i = c;
                while Instant::now() < deadline {
                    let key = format!("bench-{}", i % keys);
                    i += 7919;
                    let t = Instant::now();
                    match request(sys, phase, &http, addr, &key, &value).await {
                        Ok(()) => lat.push(t.elapsed().as_micros() as u64),
                        Err(e) => {
                            errors += 1;
                            first.get_or_insert(e);
                        }
                    }
                }
                (lat, errors, first)
            })
        })
        .collect();
    let mut res = PhaseResult {
        elapsed: Duration::ZERO,
        latencies_us: Vec::new(),
        errors: 0,
        first_error: None,
    };
    for t in tasks {
        if let Ok((lat, errors, first)) = t.await {
            res.latencies_us.extend(lat);
            res.errors += errors;
            if res.first_error.is_none() {
                res.first_error = first;
            }
        }
    }
    res.elapsed = start.elapsed();
    res
}

async fn request(
    sys: System,
    phase: Phase,
    http: &reqwest::Client,
    addr: &str,
    key: &str,
    value: &str,
) -> Result<(), String> {
    let req = match (sys, phase) {
        (System::Faultline, Phase::Write) => http
            .put(format!("http://{addr}/kv/{key}"))
            .body(value.to_owned()),
        (System::Faultline, Phase::Read) => http.get(format!("http://{addr}/kv/{key}")),
        // etcd's gRPC gateway: keys and values in base64; range is linearizable by default.
        (System::Etcd, Phase::Write) => http
            .post(format!("http://{addr}/v3/kv/put"))
            .json(&json!({"key": base64(key), "value": base64(value)})),
        (System::Etcd, Phase::Read) => http
            .post(format!("http://{addr}/v3/kv/range"))
            .json(&json!({"key": base64(key)})),
    };
    match req.send().await {
        Ok(r) if r.status().is_success() => r.bytes().await.map(|_| ()).map_err(|e| e.to_string()),
        Ok(r) => {
            let status = r.status();
            Err(format!("{status}: {}", r.text().await.unwrap_or_default()))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// etcd's gateway takes keys and values as base64.
fn base64(s: &str) -> String {
    crate::system::etcd::gateway::b64(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(base64("bench-1"), "YmVuY2gtMQ==");
        assert_eq!(base64("abc"), "YWJj");
        assert_eq!(base64("ab"), "YWI=");
    }
}
