//! The command line on its own: `check` (and the reference corpora), `report`, campaign
//! validation (and its speed), the cluster commands' argument errors and `serve`. No Docker, no
//! nodes.

mod campaign_validate;
mod check;
mod cluster_args;
mod corpora;
mod fuzz;
mod report;
mod robustness;
mod serve;
mod validation_scale;
