//! The recovery check, after the final heal and the quiet period: the cluster elects a leader
//! within a bound, every node answers, and a write acknowledged after the heal is read back
//! from every node. A node that answers with something else once the deadline has passed means
//! the data does not converge (invalid); a leader never elected, a node that never answers or a
//! write never acknowledged means the cluster could not be reached (unknown); either way the
//! reason is in the summary.

use std::time::Duration;

use checkers::analysis::CheckerResult;
use checkers::Validity;
use nemesis::fault::NodeName;
use serde_json::{json, Value};
use tokio::time::Instant;
use workloads::{Request, Response};

use super::leader::wait_for_leader;
use crate::cluster::client::Client;
use crate::cluster::target::TestTarget;

/// The key the recovery write goes to: no workload uses it.
pub const KEY: &str = "faultline-recovery";

/// How the check went.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Recovered { leader: NodeName },
    NoLeader(String),
    Silent(Vec<String>),
    NotWritten(String),
    Diverged(Vec<String>),
    Unread(Vec<String>),
}

/// Runs the check: `leader_wait` for a leader, then until `deadline` for every node to answer
/// and read the write back. `write_back` is false for a system whose campaign describes no
/// register write and read (then only the leader and the answers are checked).
pub async fn check<T: TestTarget, C: Client>(
    target: &T,
    client: &C,
    leader_wait: Duration,
    within: Duration,
    write_back: bool,
    value: String,
) -> Outcome {
    let leader = match wait_for_leader(target, leader_wait).await {
        Ok(l) => l,
        Err(e) => return Outcome::NoLeader(format!("{e:#}")),
    };
    let deadline = Instant::now() + within;
    let nodes = target.nodes();
    let mut silent = Vec::new();
    for (name, addr) in &nodes {
        loop {
            let last = match client.status(*addr).await {
                Ok(_) => break,
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                silent.push(format!("{name}: {last}"));
                break;
            }
            // Poll interval inside the deadline loop above.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    if !silent.is_empty() {
        return Outcome::Silent(silent);
    }
    if !write_back {
        return Outcome::Recovered { leader };
    }
    if let Err(e) = write(client, &nodes, &value, deadline).await {
        return Outcome::NotWritten(e);
    }
    let (mut diverged, mut unread) = (Vec::new(), Vec::new());
    for (name, addr) in &nodes {
        match read_back(client, *addr, &value, deadline).await {
            Ok(()) => {}
            Err(ReadBack::Other(got)) => diverged.push(format!("{name} reads {got}")),
            Err(ReadBack::NoAnswer(e)) => unread.push(format!("{name}: {e}")),
        }
    }
    if !diverged.is_empty() {
        Outcome::Diverged(diverged)
    } else if !unread.is_empty() {
        Outcome::Unread(unread)
    } else {
        Outcome::Recovered { leader }
    }
}

/// The write, to each node in turn until one acknowledges it.
async fn write<C: Client>(
    client: &C,
    nodes: &[(NodeName, std::net::SocketAddr)],
    value: &str,
    deadline: Instant,
) -> Result<(), String> {
    let request = Request::Write {
        key: KEY.into(),
        value: value.into(),
    };
    let mut last = String::new();
    for attempt in 0usize.. {
        let (_, addr) = &nodes[attempt % nodes.len()];
        match client.call(*addr, &request).await {
            Response::Ok(_) => return Ok(()),
            Response::Fail { error, .. } | Response::Info { error } => last = error,
        }
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(last)
}

enum ReadBack {
    Other(String),
    NoAnswer(String),
}

/// Reads the key from one node until it holds `value` or the deadline passes.
async fn read_back<C: Client>(
    client: &C,
    addr: std::net::SocketAddr,
    value: &str,
    deadline: Instant,
) -> Result<(), ReadBack> {
    let request = Request::Read { key: KEY.into() };
    let mut last = ReadBack::NoAnswer("no answer".into());
    loop {
        match client.call(addr, &request).await {
            Response::Ok(body) => match body.get("value") {
                Some(Value::String(s)) if s == value => return Ok(()),
                other => last = ReadBack::Other(other.cloned().unwrap_or(Value::Null).to_string()),
            },
            Response::Fail { error, .. } | Response::Info { error } => {
                if !matches!(last, ReadBack::Other(_)) {
                    last = ReadBack::NoAnswer(error);
                }
            }
        }
        if Instant::now() >= deadline {
            return Err(last);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The `recovery` checker's result.
pub fn result(outcome: &Outcome) -> CheckerResult {
    let (valid, summary) = match outcome {
        Outcome::Recovered { leader } => (
            Validity::Valid,
            format!("after the final heal {leader} leads, every node answers and reads back a new write"),
        ),
        Outcome::NoLeader(e) => (
            Validity::Unknown,
            format!("no leader after the final heal: {e}"),
        ),
        Outcome::Silent(nodes) => (
            Validity::Unknown,
            format!("nodes that never answered after the final heal: {}", nodes.join("; ")),
        ),
        Outcome::NotWritten(e) => (
            Validity::Unknown,
            format!("a write after the final heal was never acknowledged: {e}"),
        ),
        Outcome::Diverged(nodes) => (
            Validity::Invalid,
            format!(
                "the data does not converge: a write acknowledged after the final heal is not what {}",
                nodes.join("; ")
            ),
        ),
        Outcome::Unread(nodes) => (
            Validity::Unknown,
            format!(
                "a write acknowledged after the final heal could not be read back from: {}",
                nodes.join("; ")
            ),
        ),
    };
    CheckerResult {
        name: "recovery".into(),
        valid,
        summary,
        detail: json!({"key": KEY}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_map_to_verdicts_with_their_reasons() {
        let r = result(&Outcome::Diverged(vec!["n3 reads \"old\"".into()]));
        assert_eq!(r.valid, Validity::Invalid);
        assert!(r.summary.contains("does not converge") && r.summary.contains("n3 reads"));
        let r = result(&Outcome::Silent(vec!["n2: connection refused".into()]));
        assert_eq!(r.valid, Validity::Unknown);
        assert!(
            r.summary.contains("n2: connection refused"),
            "{}",
            r.summary
        );
        let r = result(&Outcome::Recovered {
            leader: "n1".into(),
        });
        assert_eq!(r.valid, Validity::Valid);
    }
}
