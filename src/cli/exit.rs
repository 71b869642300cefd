//! Exit codes, as Jepsen's, so existing CI scripts read them.

use std::fmt;

/// How a command that ran to the end turned out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Code {
    /// Valid, or a command with no verdict that succeeded.
    Valid = 0,
    /// A violation was found.
    Invalid = 1,
    /// A checker hit its limit: no verdict.
    Unknown = 2,
}

impl Code {
    /// Worst first: invalid over unknown over valid.
    #[allow(
        dead_code,
        reason = "for check and test, which combine verdicts; until they land only unit tests call it"
    )]
    pub fn worst(self, other: Code) -> Code {
        match (self, other) {
            (Code::Invalid, _) | (_, Code::Invalid) => Code::Invalid,
            (Code::Unknown, _) | (_, Code::Unknown) => Code::Unknown,
            _ => Code::Valid,
        }
    }
}

/// Exit code for bad input: usage, a malformed history or campaign.
pub const BAD_INPUT: u8 = 254;
/// Exit code when the harness itself could not run (no Docker, no image, no cluster).
pub const HARNESS: u8 = 255;

/// An error caused by what the user gave us (exit 254). Wrap it in `anyhow` like any error;
/// `main` finds it anywhere in the chain.
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
    fn worst_prefers_invalid_then_unknown() {
        assert_eq!(Code::Valid.worst(Code::Unknown), Code::Unknown);
        assert_eq!(Code::Unknown.worst(Code::Invalid), Code::Invalid);
        assert_eq!(Code::Valid.worst(Code::Valid), Code::Valid);
    }

    #[test]
    fn bad_input_is_found_in_the_chain() {
        let e = bad_input("no such field").context("reading campaign.yaml");
        assert_eq!(code_for(&e), BAD_INPUT);
        assert_eq!(code_for(&anyhow::anyhow!("docker is down")), HARNESS);
    }
}
