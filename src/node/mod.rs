//! The openraft key-value node: the system under test.
//!
//! - `types`: the Raft type config and the replicated commands;
//! - `kv`: the key-value data and how commands apply (cas lives here);
//! - `log`: the durable segment log (records, recovery, the group-fsync writer thread);
//! - `state_machine`, `snapshot`: applying entries, building and installing snapshots;
//! - `network`: Raft RPCs to peers; `raft_rpc`: their server side; `wire`: the snapshot chunk's
//!   binary framing; `limits`: every byte limit between nodes, and the body limits from them;
//!   `election_hold`: no election while a snapshot from the leader arrives;
//! - `api`, `read`, `write`, `forward`, `status`, `membership`: the HTTP API, the read path
//!   (read-index), the ack path, forwarding to the leader, status, run-time membership;
//! - `bugs`: the planted bugs behind `--unsafe-bug` (off by default);
//! - `config`, `server`: arguments and start-up; `inspect`: `faultline node inspect DIR`.

mod api;
pub mod bugs;
mod config;
mod election_hold;
mod error;
mod forward;
mod fsutil;
mod inspect;
mod kv;
mod limits;
mod log;
mod membership;
mod network;
mod raft_rpc;
mod read;
mod server;
mod snapshot;
mod state;
mod state_machine;
mod status;
#[cfg(test)]
mod storage_suite;
mod types;
mod wire;
mod write;

use clap::{Args, Subcommand};

use crate::exit::Validity;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct NodeArgs {
    #[command(subcommand)]
    pub cmd: Option<NodeCmd>,
    #[command(flatten)]
    pub run: config::RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum NodeCmd {
    /// Print what a node persisted: vote, log range with terms, committed index, snapshot.
    Inspect(inspect::InspectArgs),
}

pub fn run(args: NodeArgs) -> anyhow::Result<Validity> {
    match args.cmd {
        Some(NodeCmd::Inspect(a)) => inspect::run(a),
        None => {
            let cfg = args.run.validate()?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|e| anyhow::anyhow!("starting the tokio runtime: {e}"))?;
            rt.block_on(server::serve(cfg))?;
            Ok(Validity::Valid)
        }
    }
}
