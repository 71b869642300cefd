//! Errors and exit codes, as Jepsen's, so existing CI scripts read them. Every part of the
//! crate may use this module; the mapping from a verdict to an exit code lives here alone.

use std::fmt;

pub use checkers::Validity;

/// Exit code for bad input: usage, a malformed history or campaign.
pub const BAD_INPUT: u8 = 254;
/// Exit code when the harness itself could not run (no Docker, no image, no cluster).
pub const HARNESS: u8 = 255;

/// The exit code of a command that ran to its end: 0 valid (or a command with no verdict that
/// succeeded), 1 a violation, 2 unknown. The only place a verdict becomes a number.
pub fn code(v: Validity) -> u8 {
    match v {
        Validity::Valid => 0,
        Validity::Invalid => 1,
        Validity::Unknown => 2,
    }
}

/// An error caused by what the user gave us (exit 254). Wrap it in `anyhow` like any error;
/// [`code_for`] finds it anywhere in the chain.
#[derive(Debug)]
pub struct BadInput(pub String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// Shorthand: `return Err(bad_input(format!(..)))`.
pub fn bad_input(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(BadInput(msg.into()))
}

/// The exit code for an error: 254 when bad input is anywhere in its chain, else 255.
pub fn code_for(err: &anyhow::Error) -> u8 {
    if err.chain().any(|e| e.is::<BadInput>()) {
        BAD_INPUT
    } else {
        HARNESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_map_to_jepsens_codes() {
        assert_eq!(code(Validity::Valid), 0);
        assert_eq!(code(Validity::Invalid), 1);
        assert_eq!(code(Validity::Unknown), 2);
        assert_eq!(code(Validity::Valid.worst(Validity::Unknown)), 2);
    }

    #[test]
    fn bad_input_is_found_in_the_chain() {
        let e = bad_input("no such field").context("reading campaign.yaml");
        assert_eq!(code_for(&e), BAD_INPUT);
        assert_eq!(code_for(&anyhow::anyhow!("docker is down")), HARNESS);
    }
}
