//! Node logs, from Docker's log of each container (the node logs to stderr through tracing).

use std::path::{Path, PathBuf};

use anyhow::Context;
use bollard::query_parameters::LogsOptionsBuilder;
use futures::StreamExt;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::{Cluster, NodeInfo};

/// Copies a node's log (stdout and stderr, in order) to `out`; with `follow`, until the
/// container stops.
pub async fn copy(
    cluster: &Cluster,
    node: &NodeInfo,
    follow: bool,
    out: &mut (impl AsyncWrite + Unpin),
) -> anyhow::Result<()> {
    let options = LogsOptionsBuilder::new()
        .stdout(true)
        .stderr(true)
        .follow(follow)
        .build();
    let mut stream = cluster.docker().logs(&node.container, Some(options));
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.with_context(|| format!("reading the log of {}", node.container))?;
        out.write_all(&chunk.into_bytes())
            .await
            .context("writing the log")?;
        if follow {
            out.flush().await.context("writing the log")?;
        }
    }
    out.flush().await.context("writing the log")
}

/// The last non-empty line of a node's log, for an error that must say why a node would not
/// come up; `None` when the log is empty or cannot be read.
pub async fn last_line(cluster: &Cluster, node: &NodeInfo) -> Option<String> {
    last_lines(cluster, node, 5).await.pop()
}

/// The last `n` non-empty lines of a node's output (stdout and stderr), oldest first, each cut
/// at 300 characters.
pub async fn last_lines(cluster: &Cluster, node: &NodeInfo, n: usize) -> Vec<String> {
    let count = n.to_string();
    let options = LogsOptionsBuilder::new()
        .stdout(true)
        .stderr(true)
        .tail(&count)
        .build();
    let mut stream = cluster.docker().logs(&node.container, Some(options));
    let mut text = String::new();
    while let Some(Ok(chunk)) = stream.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
    }
    tail(&text, n)
}

/// The last `n` non-empty lines of a log's text, oldest first, each trimmed and cut at 300
/// characters: what an error or a crash quotes of a node's log.
pub fn tail(text: &str, n: usize) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.trim().chars().take(300).collect())
        .collect();
    let skip = lines.len().saturating_sub(n);
    lines.drain(..skip);
    lines
}

/// Writes `dir/<node>.log` for every node.
pub async fn collect(cluster: &Cluster, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    tokio::fs::create_dir_all(dir)
        .await
        .with_context(|| format!("creating {}", dir.display()))?;
    let writes = cluster.nodes().iter().map(|node| async move {
        let path = dir.join(format!("{}.log", node.name));
        let mut file = tokio::fs::File::create(&path)
            .await
            .with_context(|| format!("creating {}", path.display()))?;
        copy(cluster, node, false, &mut file)
            .await
            .with_context(|| format!("writing {}", path.display()))?;
        anyhow::Ok(path)
    });
    futures::future::try_join_all(writes).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_tail_is_the_last_non_empty_lines_oldest_first_each_cut() {
        let long = "x".repeat(400);
        let text = format!("one\n\n  two  \n{long}\n\nthree\n\n");
        assert_eq!(super::tail(&text, 2), ["x".repeat(300), "three".into()]);
        assert_eq!(super::tail(&text, 9).len(), 4);
        assert_eq!(super::tail(&text, 9)[1], "two");
        assert!(super::tail("", 3).is_empty());
    }
}
