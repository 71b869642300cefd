//! Names and labels of everything a cluster owns. Every object faultline creates carries
//! `io.faultline.cluster=<name>`; every list and remove filters on it, so an object without
//! the label is never touched.

use std::collections::HashMap;

use crate::exit::bad_input;

pub const CLUSTER_LABEL: &str = "io.faultline.cluster";
pub const NODE_LABEL: &str = "io.faultline.node";
/// On every node container: what the cluster runs ([`super::NodeSystem::label`]).
pub const SYSTEM_LABEL: &str = "io.faultline.system";
/// Marks short-lived helper containers (they also carry the cluster and node labels, so `down`
/// removes any that an interrupted run left behind).
pub const HELPER_LABEL: &str = "io.faultline.helper";
/// The port every node listens on, inside its own network namespace.
pub const NODE_PORT: u16 = 7000;
/// Where each node's named volume is mounted.
pub const DATA_DIR: &str = "/data";
/// The cluster name used when the user gives none.
pub const DEFAULT_CLUSTER: &str = "default";

/// Checks a cluster name: it becomes part of Docker object names, so keep to what Docker accepts
/// and short enough to read.
pub fn validate(name: &str) -> anyhow::Result<()> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    let starts_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if name.is_empty() || name.len() > 40 || !ok_chars || !starts_ok {
        return Err(bad_input(format!(
            "invalid cluster name {name:?}: use 1-40 lowercase letters, digits, '-' or '_', \
             starting with a letter or digit"
        )));
    }
    Ok(())
}

pub fn network(cluster: &str) -> String {
    format!("faultline-{cluster}")
}

/// `n1`, `n2`, ...: the node's name in histories, grudges and the CLI.
pub fn node(id: u64) -> String {
    format!("n{id}")
}

pub fn container(cluster: &str, id: u64) -> String {
    format!("faultline-{cluster}-n{id}")
}

pub fn volume(cluster: &str, id: u64) -> String {
    format!("faultline-{cluster}-n{id}-data")
}

/// The node id in a node name (`n3` -> 3).
pub fn node_id(node: &str) -> Option<u64> {
    node.strip_prefix('n')?.parse().ok().filter(|&id| id > 0)
}

/// Labels for an object of the cluster; `id` for per-node objects.
pub fn labels(cluster: &str, id: Option<u64>) -> HashMap<String, String> {
    let mut labels = HashMap::from([(CLUSTER_LABEL.to_string(), cluster.to_string())]);
    if let Some(id) = id {
        labels.insert(NODE_LABEL.to_string(), node(id));
    }
    labels
}

/// A list filter matching objects of one cluster, or of every faultline cluster.
pub fn filter(cluster: Option<&str>) -> HashMap<String, Vec<String>> {
    let label = match cluster {
        Some(name) => format!("{CLUSTER_LABEL}={name}"),
        None => CLUSTER_LABEL.to_string(),
    };
    HashMap::from([("label".to_string(), vec![label])])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_documented_scheme() {
        assert_eq!(network("t1"), "faultline-t1");
        assert_eq!(container("t1", 2), "faultline-t1-n2");
        assert_eq!(volume("t1", 2), "faultline-t1-n2-data");
        assert_eq!(node_id("n12"), Some(12));
        assert_eq!(node_id("n0"), None);
        assert_eq!(node_id("x1"), None);
        assert_eq!(labels("t1", Some(3))[NODE_LABEL], "n3");
        assert_eq!(filter(Some("t1"))["label"], vec!["io.faultline.cluster=t1"]);
    }

    #[test]
    fn bad_names_are_bad_input() {
        for bad in ["", "Upper", "-lead", "has space", &"x".repeat(41)] {
            let err = validate(bad).unwrap_err();
            assert_eq!(crate::exit::code_for(&err), crate::exit::BAD_INPUT, "{bad}");
        }
        validate("ci-run_2").unwrap();
    }
}
