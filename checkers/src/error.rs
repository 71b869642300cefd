//! The crate's error type: what went wrong with an input, and where.

/// Where in an input a problem is: 1-based line and column, and the 0-based byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
    pub offset: usize,
}

impl Pos {
    /// Computes line and column of a byte offset (only on the error path, so a scan is fine).
    pub fn at(src: &[u8], offset: usize) -> Pos {
        let offset = offset.min(src.len());
        let before = &src[..offset];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        Pos {
            line,
            col: offset - line_start + 1,
            offset,
        }
    }
}

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}, column {} (byte {})",
            self.line, self.col, self.offset
        )
    }
}

/// Everything that can be wrong with a history given to the checker.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The text does not follow the format's syntax.
    #[error("{pos}: {msg}")]
    Syntax { pos: Pos, msg: String },
    /// The syntax is fine but an event makes no sense (missing field, unknown `:f`, ...).
    #[error("{pos}: {msg}")]
    Event { pos: Pos, msg: String },
    /// An operation makes no sense in its context (a completion without invocation, a value
    /// of the wrong shape, an unknown `:f`).
    #[error("line {line}: {msg}")]
    AtLine { line: usize, msg: String },
    /// No known format matches the first lines.
    #[error(
        "cannot tell the format of this history ({0}); pass --format edn|etcd-log|kv-log|faultline"
    )]
    UnknownFormat(String),
    /// The operations do not fit a model (mixed or unsupported `:f`s), or `--model` does not fit.
    #[error("{0}")]
    Model(String),
    /// Reading or preparing the history took the process past its memory limit: not an input
    /// error, an unknown verdict.
    #[error("{0}; raise --memory-limit (or checker.memory_limit_mb) to check it")]
    MemoryLimit(String),
}

/// Shorthand for this crate's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
