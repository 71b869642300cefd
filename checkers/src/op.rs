//! Operations ready for the search: a model operation with its real-time interval.

/// One operation of one key's history.
///
/// `call` and `ret` are positions in the history (event indexes, or times): only their order
/// matters. An operation whose outcome is unknown (`ret == None`: it crashed, timed out, or
/// never completed) may take effect at any point after its call, or never.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation<O> {
    pub op: O,
    pub call: u64,
    pub ret: Option<u64>,
    /// Where the operation came from, for counterexamples.
    pub meta: OpMeta,
}

impl<O> Operation<O> {
    /// A completed operation.
    pub fn new(op: O, call: u64, ret: u64) -> Self {
        Operation {
            op,
            call,
            ret: Some(ret),
            meta: OpMeta::default(),
        }
    }

    /// An operation whose outcome is unknown: it may take effect after `call`, or never.
    pub fn crashed(op: O, call: u64) -> Self {
        Operation {
            op,
            call,
            ret: None,
            meta: OpMeta::default(),
        }
    }

    pub fn with_process(mut self, process: i64) -> Self {
        self.meta.process = Some(process);
        self
    }

    /// Whether the search may leave this operation out.
    pub fn is_optional(&self) -> bool {
        self.ret.is_none()
    }
}

/// Provenance of an operation: who issued it, when, and where it is in the input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpMeta {
    pub process: Option<i64>,
    /// Times (ns) as recorded, when the format has them.
    pub invoke_time: Option<u64>,
    pub complete_time: Option<u64>,
    /// 0-based indexes of the invoke and completion events in the history.
    pub invoke_index: Option<u64>,
    pub complete_index: Option<u64>,
    /// 1-based line of the invoke event in the input, when known.
    pub line: Option<usize>,
    /// How the operation ended: "ok", "fail", "info", or "pending" (never completed).
    pub outcome: &'static str,
}
