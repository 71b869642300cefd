//! Results for people and for CI. [`store`] owns a run's directory: it creates it, writes every
//! file of it (`results.json` typed and once, `history.edn`, `report.html`, `junit.xml`), keeps
//! the `latest` links, and reads directories back for `faultline report`, `serve` and `bench`.
//! A directory whose `results.json` another tool wrote still renders, as far as it can be read.

mod anomalies;
mod checks;
mod edn;
mod html;
mod junit;
pub mod results;
mod run_data;
pub mod runs;
mod stats;
pub mod store;
mod svg;

pub use checkers::Validity;
pub use results::Results;
pub use run_data::RunData;
pub use stats::Stats as Analysis;
pub use store::{RunDir, Written};
