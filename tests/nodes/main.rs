//! Local `faultline node` processes on 127.0.0.1: cas and linearizable reads under concurrency,
//! catch-up, durability across kills, size limits that never cost a leader, recovery, and `faultline test --local` end to end.

mod campaign_local;
mod cas;
mod catchup;
mod durability;
mod limits;
mod recovery;
#[path = "../util/mod.rs"]
mod util;
