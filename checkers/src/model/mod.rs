//! Sequential specifications ("models") of the objects whose histories we check.
//!
//! A model is a pure function from a state and an operation (its call together with the result
//! that was observed) to the next state, or to "illegal". Nondeterminism in what a client saw
//! (a crashed operation, a read whose value is unknown) is expressed by the operation, never by
//! the model: a crashed operation is *optional* for the search, and an unknown read is a
//! wildcard that the model accepts in any state.

mod kv;
mod multi;
mod mutex;
mod register;

use std::fmt::Debug;
use std::hash::Hash;

pub use kv::{Kv, KvOp, KvState};
pub use multi::{MicroOp, MultiRegister, MultiState};
pub use mutex::{Mutex, MutexOp};
pub use register::{CasRegister, RegOp};

/// A sequential specification.
///
/// `State` must be cheap to clone (the search keeps one per level of its stack) and hashable
/// (the search memoises (linearized set, state) pairs). `Op` is an operation with its observed
/// result; two equal `Op`s must be interchangeable.
pub trait Model: Clone + Send + Sync {
    type State: Clone + Eq + Hash + Debug + Send;
    type Op: Clone + Eq + Hash + Debug + Send + Sync;

    /// A short name for people (`cas-register`).
    fn name(&self) -> &'static str;
    /// The state before any operation.
    fn init(&self) -> Self::State;
    /// What one search may remember between steps to make [`Model::step_with`] cheaper (kv
    /// remembers where each append led); `()` for models that need nothing.
    type Scratch: Default + Send;

    /// The state after `op`, or `None` when `op` with its observed result is illegal in `state`.
    fn step(&self, state: &Self::State, op: &Self::Op) -> Option<Self::State>;
    /// [`Model::step`], with the search's scratch. Must give the same answer.
    fn step_with(
        &self,
        scratch: &mut Self::Scratch,
        state: &Self::State,
        op: &Self::Op,
    ) -> Option<Self::State> {
        let _ = scratch;
        self.step(state, op)
    }
    /// The operation and its result, for people (`write 3`, `read 1`, `cas 1->2 failed`).
    fn describe_op(&self, op: &Self::Op) -> String;
    /// The state, for people (`3`, `nil`, `{x 1, y 2}`).
    fn describe_state(&self, state: &Self::State) -> String;
    /// Whether `op` leaves the state unchanged in every state where it is legal (a read). The
    /// search linearizes such operations as soon as they are legal, without branching.
    fn is_read_only(&self, op: &Self::Op) -> bool {
        let _ = op;
        false
    }
    /// Whether `op` resets the state: may make an illegal read-only operation legal again in a
    /// way [`Model::hopeless`] does not foresee. The default (true) is always safe.
    fn resets(&self, op: &Self::Op) -> bool {
        let _ = op;
        true
    }
    /// For a read-only `op` illegal in `state`: true when no sequence of operations that do not
    /// [`Model::resets`] can make it legal. The search then cuts a branch as soon as a pending
    /// read can no longer be satisfied. The default (false) never cuts.
    fn hopeless(&self, state: &Self::State, op: &Self::Op) -> bool {
        let _ = (state, op);
        false
    }
    /// Whether `a` is legal in every state where `b` is, and leads where `b` leads there (a
    /// write of `v` subsumes a compare-and-set to `v`). The search then prefers a crashed `b`
    /// to a crashed `a`. The default (false) claims nothing.
    fn subsumes(&self, a: &Self::Op, b: &Self::Op) -> bool {
        let _ = (a, b);
        false
    }
    /// Whether [`Model::reduce`] may remove anything: when not, the checker searches the
    /// operations as given instead of copying them first.
    const REDUCES: bool = false;
    /// Removes operations that provably cannot change the verdict (see [`crate::reduce`]).
    /// The default removes nothing.
    fn reduce(&self, ops: &mut Vec<crate::op::Operation<Self::Op>>) {
        let _ = ops;
    }
    /// A polynomial decision for the histories this model recognises (a register whose
    /// observed values are written once: [`crate::unique`]; a read of a value certainly
    /// overwritten: [`crate::overwritten`]), with the name of the path that decided (see
    /// [`crate::check::KeyResult::path`]), or `None` to search. `ops` are the key's operations
    /// after [`Model::reduce`]. The default decides nothing.
    fn decide(
        &self,
        ops: &[crate::op::Operation<Self::Op>],
    ) -> Option<(crate::unique::Decision, &'static str)> {
        let _ = ops;
        None
    }
    /// The state that applying `path` (in order, from the initial state) reaches, for people;
    /// `state` is where the model's steps led. Models whose states forget what a person wants
    /// to see (kv merges the strings no get returned) replay the path. Default: `state`.
    fn describe_reached(&self, state: &Self::State, path: &[&Self::Op]) -> String {
        let _ = path;
        self.describe_state(state)
    }
    /// Why `op` is illegal in `state`, for people; `shown` is how the state was described to
    /// them (see [`Model::describe_reached`]). Default: the op and the state.
    fn why_illegal(&self, state: &Self::State, shown: &str, op: &Self::Op) -> String {
        let _ = state;
        format!(
            "{} is not possible when the state is {shown}",
            self.describe_op(op)
        )
    }
}

/// The built-in models, as named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// A read/write register (a cas-register without cas).
    Register,
    /// A register with compare-and-set.
    CasRegister,
    /// Several registers read and written atomically by `:txn` operations.
    MultiRegister,
    /// A lock: acquire when free, release when held.
    Mutex,
    /// A string per key with get, put and append.
    Kv,
}

impl ModelKind {
    pub const ALL: [ModelKind; 5] = [
        ModelKind::Register,
        ModelKind::CasRegister,
        ModelKind::MultiRegister,
        ModelKind::Mutex,
        ModelKind::Kv,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Register => "register",
            ModelKind::CasRegister => "cas-register",
            ModelKind::MultiRegister => "multi-register",
            ModelKind::Mutex => "mutex",
            ModelKind::Kv => "kv",
        }
    }

    pub fn from_name(s: &str) -> Option<ModelKind> {
        ModelKind::ALL.into_iter().find(|m| m.name() == s)
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
