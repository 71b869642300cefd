//! `faultline kv`: put, get and compare-and-set against a running cluster. Requests go to the
//! leader first; a node that certainly did not apply the request (refused connection, no
//! leader) passes the request on to the next node, and an uncertain outcome is reported as such
//! rather than retried (a retried cas could apply twice): exit 2, as an unknown check.

use std::time::Duration;

use clap::{Args, Subcommand};

use super::runtime::block_on;
use crate::cluster::client::{Client, HttpClient, Reply};
use crate::cluster::{names, Cluster};
use crate::exit::Validity;
use crate::system::{SystemClient, SystemSpec};
use workloads::{Request, Response};

#[derive(Debug, Subcommand)]
pub enum KvArgs {
    /// Print the key's value (nothing when absent).
    Get {
        key: String,
        #[command(flatten)]
        cluster: ClusterArg,
    },
    /// Set the key to VALUE.
    Put {
        key: String,
        value: String,
        #[command(flatten)]
        cluster: ClusterArg,
    },
    /// Set the key to --to if its value is --from (absent when --from is not given); exits 1 on
    /// a mismatch, printing the current value.
    Cas {
        key: String,
        /// The expected current value; leave out to expect the key absent.
        #[arg(long)]
        from: Option<String>,
        /// The new value.
        #[arg(long)]
        to: String,
        #[command(flatten)]
        cluster: ClusterArg,
    },
}

#[derive(Debug, Args)]
pub struct ClusterArg {
    /// The cluster's name.
    #[arg(long, env = "FAULTLINE_CLUSTER", default_value = names::DEFAULT_CLUSTER)]
    pub cluster: String,
}

pub fn run(args: KvArgs) -> anyhow::Result<Validity> {
    block_on(async move {
        let (cluster_name, op) = match args {
            KvArgs::Get { key, cluster } => (cluster.cluster, Op::Get { key }),
            KvArgs::Put {
                key,
                value,
                cluster,
            } => (cluster.cluster, Op::Put { key, value }),
            KvArgs::Cas {
                key,
                from,
                to,
                cluster,
            } => (cluster.cluster, Op::Cas { key, from, to }),
        };
        let cluster = crate::system::connect(&cluster_name).await?;
        execute(&cluster, &op).await
    })
}

enum Op {
    Get {
        key: String,
    },
    Put {
        key: String,
        value: String,
    },
    Cas {
        key: String,
        from: Option<String>,
        to: String,
    },
}

/// How long to keep trying while every node refuses (an election in progress).
const RETRY_FOR: Duration = Duration::from_secs(5);

async fn execute(cluster: &Cluster, op: &Op) -> anyhow::Result<Validity> {
    let api = HttpClient::new(Duration::from_secs(5))?;
    let other = match SystemSpec::of(cluster.system()) {
        Some(SystemSpec::Faultline) => None,
        Some(system) => Some(system.client(Duration::from_secs(5))?),
        None => anyhow::bail!(
            "cluster {} runs {}, which `kv` has no client for",
            cluster.name(),
            cluster.system().describe()
        ),
    };
    let deadline = tokio::time::Instant::now() + RETRY_FOR;
    loop {
        // Refusals are definite, so trying again cannot apply anything twice.
        let outcome = match &other {
            None => attempt(cluster, &api, op).await?,
            Some(client) => attempt_any(cluster, client, op).await?,
        };
        let refused = match outcome {
            Ok(code) => return Ok(code),
            Err(refused) => refused,
        };
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!(
                "no node of cluster {} could serve the request for {} s (nothing was applied): {}; \
                 see `faultline cluster status --name {}`",
                cluster.name(),
                RETRY_FOR.as_secs(),
                refused.join("; "),
                cluster.name()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// [`attempt`] for any system, through its workload client: certainty as the workloads read it.
async fn attempt_any(
    cluster: &Cluster,
    client: &SystemClient,
    op: &Op,
) -> anyhow::Result<Result<Validity, Vec<String>>> {
    let request = match op {
        Op::Get { key } => Request::Read { key: key.clone() },
        Op::Put { key, value } => Request::Write {
            key: key.clone(),
            value: value.clone(),
        },
        Op::Cas { key, from, to } => Request::Cas {
            key: key.clone(),
            from: from.clone(),
            to: to.clone(),
        },
    };
    let mut refused = Vec::new();
    for node in leader_first(cluster).await? {
        match client.call(node.dial, &request).await {
            Response::Ok(body) => {
                print_ok(op, &body);
                return Ok(Ok(Validity::Valid));
            }
            // A compare that did not match is the answer, not a refusal to try elsewhere.
            Response::Fail { error, .. }
                if matches!(op, Op::Cas { .. }) && error.contains("mismatch") =>
            {
                println!("{error}");
                return Ok(Ok(Validity::Invalid));
            }
            Response::Fail { error, .. } => refused.push(format!("{}: {error}", node.name)),
            Response::Info { error } => {
                print_unknown(cluster, &node.name, &error);
                return Ok(Ok(Validity::Unknown));
            }
        }
    }
    Ok(Err(refused))
}

/// What a request that happened prints: a get's bare value (nothing when absent), else `ok`.
fn print_ok(op: &Op, body: &serde_json::Value) {
    match op {
        Op::Get { .. } => match body.get("value") {
            Some(serde_json::Value::String(v)) => println!("{v}"),
            Some(serde_json::Value::Null) | None => {}
            Some(other) => println!("{other}"),
        },
        Op::Put { .. } | Op::Cas { .. } => println!("ok"),
    }
}

/// What an uncertain outcome prints: never retried, since a retried cas could apply twice.
fn print_unknown(cluster: &Cluster, node: &str, error: &str) {
    println!(
        "unknown: the request may or may not have been applied ({node}: {error}); \
         check with `faultline kv get` and `faultline cluster status --name {}`",
        cluster.name()
    );
}

/// The nodes, the leader first: the others are fallbacks (faultline's nodes forward to their
/// leader; etcd's members serve through theirs).
async fn leader_first(cluster: &Cluster) -> anyhow::Result<Vec<&crate::cluster::NodeInfo>> {
    let leader = cluster.leader().await?;
    let mut order: Vec<_> = cluster.nodes().iter().collect();
    order.sort_by_key(|n| Some(&n.name) != leader.as_ref());
    Ok(order)
}

/// One pass over the nodes, leader first: the outcome, or every node's refusal.
async fn attempt(
    cluster: &Cluster,
    api: &HttpClient,
    op: &Op,
) -> anyhow::Result<Result<Validity, Vec<String>>> {
    let mut refused = Vec::new();
    for node in leader_first(cluster).await? {
        let reply = match op {
            Op::Get { key } => api.get(node.dial, key).await,
            Op::Put { key, value } => api.put(node.dial, key, value).await,
            Op::Cas { key, from, to } => api.cas(node.dial, key, from.as_deref(), to).await,
        };
        match reply {
            Reply::Ok(body) => {
                print_ok(op, &body);
                return Ok(Ok(Validity::Valid));
            }
            Reply::CasMismatch { current } => {
                let current = match current {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Null => "(absent)".into(),
                    other => other.to_string(),
                };
                println!("cas mismatch: current value is {current}");
                return Ok(Ok(Validity::Invalid));
            }
            Reply::Error {
                message,
                definite: true,
            } => refused.push(format!("{}: {message}", node.name)),
            Reply::Error {
                message,
                definite: false,
            } => {
                print_unknown(cluster, &node.name, &message);
                return Ok(Ok(Validity::Unknown));
            }
        }
    }
    Ok(Err(refused))
}
