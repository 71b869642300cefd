//! Local `faultline node` processes on 127.0.0.1: cas and linearizable reads under concurrency,
//! catch-up, durability across kills, recovery, and `faultline test --local` end to end.

mod campaign_local;
mod cas;
mod catchup;
mod durability;
mod recovery;
#[path = "../util/mod.rs"]
mod util;
