//! The systems faultline can test, each an adapter: how its members are started (an image and
//! a command line for `cluster::Cluster`), how a client talks to it (an implementation of
//! `cluster::client::Client`), and who leads. faultline's own node is served by `node` and
//! `cluster::client` today.
//!
//! - [`etcd`]: etcd 3.4 (Debian's `etcd-server`) over its v3 JSON gateway.

pub mod etcd;
