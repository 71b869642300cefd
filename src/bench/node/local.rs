//! The clusters of `bench node` as local processes on 127.0.0.1: three `faultline node`s, or
//! three etcd members from the `etcd` on PATH. Killed on drop, so an error or Ctrl-C never
//! leaves one behind.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::Context;

use crate::cluster::node_process::{free_addrs, peer_list, NodeProcess};

pub struct LocalCluster {
    children: Vec<Child>,
    pub client_addrs: Vec<SocketAddr>,
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            // Already gone is fine: the point is that none outlives the bench.
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    Ok(free_addrs(n)
        .context("finding free ports on 127.0.0.1")?
        .iter()
        .map(SocketAddr::port)
        .collect())
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

pub fn start_faultline(dir: &Path) -> anyhow::Result<LocalCluster> {
    let exe: PathBuf = std::env::current_exe().context("finding the faultline binary")?;
    let sockets = free_addrs(3).context("finding free ports on 127.0.0.1")?;
    let addrs: Vec<String> = sockets.iter().map(ToString::to_string).collect();
    let peers = peer_list((1..).zip(&addrs));
    let mut cluster = LocalCluster {
        children: Vec::new(),
        client_addrs: sockets,
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

pub fn start_etcd(dir: &Path) -> anyhow::Result<LocalCluster> {
    let free = free_ports(6)?;
    let ports: Vec<(u16, u16)> = free.chunks(2).map(|p| (p[0], p[1])).collect();
    let initial: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(i, (_, peer))| format!("e{}=http://127.0.0.1:{peer}", i + 1))
        .collect();
    let mut cluster = LocalCluster {
        children: Vec::new(),
        client_addrs: ports.iter().map(|(c, _)| loopback(*c)).collect(),
    };
    for (i, (client, peer)) in ports.iter().enumerate() {
        let name = format!("e{}", i + 1);
        let log = dir.join(format!("{name}.log"));
        let out =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out
            .try_clone()
            .with_context(|| format!("cloning {}", log.display()))?;
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
            .args(["--initial-cluster-state", "new"])
            .args(["--initial-cluster-token", "faultline-bench"])
            .args(["--logger", "zap", "--log-level", "error"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .context(
                "starting etcd: put `etcd` on PATH (Debian's etcd-server), or measure the \
                 Docker cluster with --docker",
            )?;
        cluster.children.push(child);
    }
    Ok(cluster)
}
