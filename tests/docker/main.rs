//! Against the real Docker Engine: clusters and their faults, campaigns end to end (Ctrl-C
//! included), and every planted bug caught. These tests fail, never skip, when Docker is missing.

mod bugs;
mod campaign;
mod clocks;
mod cluster;
mod etcd;
mod etcd_campaigns;
mod http_system;
mod links;
mod membership;
#[path = "../util/mod.rs"]
mod util;
