//! What the integration test binaries share (one `util`, as ripgrep's tests do): local node
//! clusters, and asking the Docker Engine what a cluster left behind.

// Each test binary uses a different part of it.
#![allow(dead_code)]

pub mod docker_objects;
pub mod node_cluster;
