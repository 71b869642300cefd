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
        self.meta = self.meta.with_process(process);
        self
    }

    /// Whether the search may leave this operation out.
    pub fn is_optional(&self) -> bool {
        self.ret.is_none()
    }
}

/// Provenance of an operation: who issued it, when, and where it is in the input.
///
/// Every prepared operation carries one, so it is kept small: 56 bytes, where a field each as
/// an `Option` took 112 (10M operations: 530 MB). A field's absence is a value it never takes
/// in a history (a process `i64::MIN`, a time or index `u64::MAX`, line 0), read back as
/// `None` through the accessors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpMeta {
    process: i64,
    invoke_time: u64,
    complete_time: u64,
    invoke_index: u64,
    complete_index: u64,
    line: u64,
    ending: Ending,
}

/// How an operation ended, as its provenance tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ending {
    /// Not recorded (operations built by hand).
    #[default]
    Unrecorded,
    Ok,
    Fail,
    Info,
    /// Never completed: the history ended first.
    Pending,
}

impl Ending {
    /// "ok", "fail", "info", "pending", or "" when not recorded.
    pub fn label(self) -> &'static str {
        match self {
            Ending::Unrecorded => "",
            Ending::Ok => "ok",
            Ending::Fail => "fail",
            Ending::Info => "info",
            Ending::Pending => "pending",
        }
    }
}

const NO_PROCESS: i64 = i64::MIN;
const NO_U64: u64 = u64::MAX;

fn some(v: u64) -> Option<u64> {
    (v != NO_U64).then_some(v)
}

impl Default for OpMeta {
    fn default() -> Self {
        OpMeta {
            process: NO_PROCESS,
            invoke_time: NO_U64,
            complete_time: NO_U64,
            invoke_index: NO_U64,
            complete_index: NO_U64,
            line: 0,
            ending: Ending::Unrecorded,
        }
    }
}

/// The events an operation was paired from: their indexes, times and the invocation's line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Provenance {
    pub process: i64,
    pub invoke_index: u64,
    pub complete_index: Option<u64>,
    pub invoke_time: Option<u64>,
    pub complete_time: Option<u64>,
    /// 1-based.
    pub line: usize,
    pub ending: Ending,
}

impl OpMeta {
    /// The provenance of an operation paired from a history's events.
    pub fn of(p: Provenance) -> Self {
        OpMeta {
            process: p.process,
            invoke_time: p.invoke_time.unwrap_or(NO_U64),
            complete_time: p.complete_time.unwrap_or(NO_U64),
            invoke_index: p.invoke_index,
            complete_index: p.complete_index.unwrap_or(NO_U64),
            line: p.line as u64,
            ending: p.ending,
        }
    }

    /// This provenance, issued by `process`.
    pub fn with_process(mut self, process: i64) -> Self {
        self.process = process;
        self
    }

    pub fn process(&self) -> Option<i64> {
        (self.process != NO_PROCESS).then_some(self.process)
    }

    /// Times (ns) as recorded, when the format has them.
    pub fn invoke_time(&self) -> Option<u64> {
        some(self.invoke_time)
    }

    pub fn complete_time(&self) -> Option<u64> {
        some(self.complete_time)
    }

    /// 0-based indexes of the invoke and completion events in the history.
    pub fn invoke_index(&self) -> Option<u64> {
        some(self.invoke_index)
    }

    pub fn complete_index(&self) -> Option<u64> {
        some(self.complete_index)
    }

    /// 1-based line of the invoke event in the input, when known.
    pub fn line(&self) -> Option<usize> {
        (self.line != 0).then_some(self.line as usize)
    }

    /// How the operation ended: "ok", "fail", "info", or "pending" (never completed); "" when
    /// not recorded.
    pub fn outcome(&self) -> &'static str {
        self.ending.label()
    }
}
