//! etcd as a system under test: Debian's `etcd-server` (etcd 3.4) in Docker.
//!
//! - [`image`]: the `faultline/etcd:<hash12>` image, built through the Docker API.

pub mod image;
