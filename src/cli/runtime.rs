//! The async runtime of the commands that talk to Docker or the nodes.

use anyhow::Context;

/// Runs an async command on a fresh runtime: the CLI is synchronous at the top.
pub fn block_on<T>(fut: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(fut)
}
