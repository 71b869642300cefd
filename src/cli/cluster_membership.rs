//! `faultline cluster add|remove|replace NODE`: the membership changes of the nemesis, by hand.

use clap::Args;

use super::cluster::{unknown_node, NameArg};
use crate::exit::{bad_input, Validity};

#[derive(Debug, Args)]
pub struct MemberArgs {
    #[command(flatten)]
    pub name: NameArg,
    /// The nodes, e.g. n2 (repeatable).
    #[arg(required = true)]
    pub nodes: Vec<String>,
}

/// Which change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Add,
    Remove,
    Replace,
}

pub async fn run(change: Change, args: MemberArgs) -> anyhow::Result<Validity> {
    let cluster = crate::system::connect(&args.name.name).await?;
    for node in &args.nodes {
        if cluster.node(node).is_none() {
            return Err(unknown_node(&cluster, node));
        }
    }
    if let Err(why) = cluster.system().membership() {
        return Err(bad_input(format!(
            "cluster {} cannot change its membership: {why}",
            cluster.name()
        )));
    }
    let faults = cluster.faults();
    let nodes = &args.nodes;
    let done = match change {
        Change::Remove => {
            faults.remove_from_config(nodes).await?;
            "removed from the configuration (still running)"
        }
        Change::Add => {
            faults.add_to_config(nodes).await?;
            "voting (added as learners, caught up, promoted)"
        }
        Change::Replace => {
            faults.replace_by_empty(nodes).await?;
            "replaced by empty nodes that joined, caught up and vote"
        }
    };
    let config = faults
        .configuration()
        .await
        .map(|m| {
            format!(
                "voters {}{}",
                join(&m.voters),
                if m.learners.is_empty() {
                    String::new()
                } else {
                    format!(", learners {}", join(&m.learners))
                }
            )
        })
        .unwrap_or_else(|e| format!("configuration unknown: {e}"));
    println!("{} {done}; {config}", nodes.join(","));
    Ok(Validity::Valid)
}

fn join(ids: &[u64]) -> String {
    ids.iter()
        .map(|i| format!("n{i}"))
        .collect::<Vec<_>>()
        .join(",")
}
