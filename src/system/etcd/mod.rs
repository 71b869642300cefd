//! etcd as a system under test: Debian's `etcd-server` (etcd 3.4) in Docker, driven through its
//! v3 JSON gateway, following Jepsen's etcd test (cas as a txn compare, list-append as a
//! guarded read-modify-write, the member-status leader probe).
//!
//! - [`image`]: the `faultline/etcd:<hash12>` image, built through the Docker API;
//! - [`member`]: a member's command line, and the one command every container runs;
//! - [`client`]: [`client::EtcdClient`], the workload client and leader probe;
//! - `append`: list-append transactions as guarded read-modify-writes;
//! - `gateway`: the gateway's wire format and the certainty of its answers.
//!
//! Bringing a cluster up: `Cluster::up` with `ClusterSpec { system: SystemSpec::Etcd { .. }, .. }`
//! (the image from [`crate::system::SystemSpec::image`]); the cluster waits for the member that
//! says it leads, through [`client::EtcdClient`].

mod append;
pub mod client;
pub mod gateway;
pub mod image;
pub mod member;

pub use client::{EtcdClient, Reads};
pub use member::{Members, Timing};
