//! Starting a node: recover storage, start Raft, serve HTTP, form the cluster from the static
//! peer list, log role changes, and shut down cleanly on SIGINT/SIGTERM.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use axum::serve::ListenerExt;
use axum::Router;
use openraft::error::{InitializeError, RaftError};
use openraft::{BasicNode, Config, SnapshotPolicy};

use super::bugs::UnsafeBug;
use super::config::NodeConfig;
use super::election_hold::ElectionHold;
use super::log::LogStore;
use super::network::Network;
use super::read::{ClockLease, ReadGate};
use super::state::{AppState, Inner};
use super::state_machine::StateMachine;
use super::status::role_name;
use super::types::Raft;
use super::write::WriteBatcher;
use super::{api, limits, membership, raft_rpc};

pub async fn serve(cfg: NodeConfig) -> anyhow::Result<()> {
    let active = cfg.bugs.active();
    if !active.is_empty() {
        tracing::warn!(
            target: "faultline::node",
            bugs = ?active,
            "UNSAFE: this node runs with planted consensus bugs {active:?}; it WILL lose or misreport data (--unsafe-bug)"
        );
    }
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating data directory {}", cfg.data_dir.display()))?;
    let log = LogStore::open_with(&cfg.data_dir, cfg.bugs.has(UnsafeBug::LazyFsync))
        .with_context(|| format!("recovering the raft log in {}", cfg.data_dir.display()))?;
    let sm = StateMachine::open(&cfg.data_dir)
        .with_context(|| format!("loading the snapshot in {}", cfg.data_dir.display()))?
        .with_poison_entry(cfg.bugs.has(UnsafeBug::Crash));
    let shared = sm.shared();
    let barrier = log.restart_barrier(cfg.id);
    if let Some(b) = barrier {
        tracing::info!(
            target: "faultline::node",
            vote = %b.vote,
            last_index = b.last_index,
            "restarting as the leader of the same term: reads wait until the recovered log is applied"
        );
    }

    let raft_config = Config {
        cluster_name: "faultline".into(),
        heartbeat_interval: cfg.heartbeat_ms,
        election_timeout_min: cfg.election_min_ms,
        election_timeout_max: cfg.election_max_ms,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(cfg.snapshot_every),
        max_in_snapshot_log_to_keep: cfg.snapshot_keep,
        snapshot_max_chunk_size: limits::SNAPSHOT_CHUNK_BYTES as u64,
        install_snapshot_timeout: 2000,
        max_payload_entries: 1000,
        ..Default::default()
    }
    .validate()
    .context("invalid raft configuration")?;

    let network = Network::new()?;
    let raft = Raft::new(cfg.id, Arc::new(raft_config), network, log, sm)
        .await
        .context("starting raft")?;

    let http = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_millis(500))
        .tcp_nodelay(true)
        .build()
        .context("building the forwarding HTTP client")?;
    // PLANTED BUG `clock-lease`: half the minimum election timeout, well inside the maximum
    // election timeout for which openraft's followers refuse other candidates.
    let clock_lease = cfg.bugs.has(UnsafeBug::ClockLease).then(|| {
        Arc::new(ClockLease::new(std::time::Duration::from_millis(
            cfg.election_min_ms / 2,
        )))
    });
    let state = AppState(Arc::new(Inner {
        id: cfg.id,
        raft: raft.clone(),
        sm: shared,
        client_timeout: cfg.client_timeout,
        http,
        reads: ReadGate::spawn(
            raft.clone(),
            cfg.id,
            cfg.client_timeout,
            barrier,
            clock_lease.clone(),
        ),
        writes: WriteBatcher::spawn(raft.clone(), cfg.id, cfg.client_timeout),
        election_hold: ElectionHold::new(
            raft.clone(),
            std::time::Duration::from_millis(cfg.election_max_ms),
        ),
        bugs: cfg.bugs,
        clock_lease,
    }));
    let app = Router::new()
        .merge(api::routes())
        .merge(raft_rpc::routes())
        .merge(membership::routes())
        .with_state(state);

    let listener = tokio::net::TcpListener::bind(&cfg.listen)
        .await
        .with_context(|| format!("binding {}", cfg.listen))?;
    tracing::info!(target: "faultline::node", id = cfg.id, listen = %cfg.listen, data_dir = %cfg.data_dir.display(), "node serving");

    tokio::spawn(log_role_changes(raft.clone()));
    if !cfg.join {
        form_cluster(&raft, &cfg.peers).await?;
    }

    // Without TCP_NODELAY, Nagle holds back the tail of a response until the peer's delayed
    // ACK (tens of ms): every Raft round and every client request would pay it.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(target: "faultline::node", "setting TCP_NODELAY: {e}");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;
    tracing::info!(target: "faultline::node", "shutting down raft");
    raft.shutdown().await.ok();
    Ok(())
}

/// Every member of the static peer list initialises with the same membership; openraft makes
/// that idempotent. A node that already has a log or vote skips it (it is rejoining).
async fn form_cluster(raft: &Raft, peers: &BTreeMap<u64, String>) -> anyhow::Result<()> {
    if raft.is_initialized().await.context("checking raft state")? {
        return Ok(());
    }
    let members: BTreeMap<u64, BasicNode> = peers
        .iter()
        .map(|(id, addr)| (*id, BasicNode { addr: addr.clone() }))
        .collect();
    match raft.initialize(members).await {
        Ok(()) => {
            tracing::info!(target: "faultline::node", peers = ?peers, "initialised the cluster from --peers");
            Ok(())
        }
        Err(RaftError::APIError(InitializeError::NotAllowed(e))) => {
            tracing::info!(target: "faultline::node", "cluster already initialised: {e}");
            Ok(())
        }
        Err(e) => Err(anyhow::anyhow!("initialising the cluster: {e}")),
    }
}

async fn log_role_changes(raft: Raft) {
    let mut rx = raft.metrics();
    let mut last = None;
    loop {
        let (state, term, leader) = {
            let m = rx.borrow_and_update();
            (m.state, m.current_term, m.current_leader)
        };
        if last != Some((state, term, leader)) {
            tracing::info!(target: "faultline::node", role = role_name(state), term, leader = ?leader, "raft role");
            last = Some((state, term, leader));
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(target: "faultline::node", "cannot listen for SIGTERM: {e}");
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
