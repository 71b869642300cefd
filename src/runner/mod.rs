//! `faultline test`: campaigns and the phases of a run.
//!
//! - `campaign` parses the YAML file, `validate` checks it into a `plan::Plan` (errors name
//!   file, line, column and field, located by `yaml_pos`), `duration` reads `30s`-style values;

mod campaign;
mod duration;
mod plan;
mod validate;
mod yaml_pos;
