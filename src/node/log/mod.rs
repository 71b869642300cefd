//! The durable Raft log: segment files with checksummed records, vote and committed index in
//! small atomically replaced files, one writer thread that groups fsyncs.

pub mod disk;
pub mod segment;
mod store;
mod writer;

pub use store::LogStore;
