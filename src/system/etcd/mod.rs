//! etcd as a system under test: Debian's `etcd-server` (etcd 3.4) in Docker.
//!
//! - [`image`]: the `faultline/etcd:<hash12>` image, built through the Docker API;
//! - [`member`]: a member's command line, and the one command every container runs.

pub mod image;
pub mod member;

pub use member::{client_addr, Members, Timing};
