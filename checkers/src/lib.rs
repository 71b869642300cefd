//! Checkers for recorded histories: is a concurrent history linearizable?
//!
//! The crate is a library first; `faultline check` is a thin layer over it.
//!
//! * [`history`]: faultline's own event format (`history.jsonl`), the runner's contract.
//! * [`parse`]: reads Jepsen EDN, Porcupine's etcd and kv logs and faultline JSONL, detecting
//!   the format from the content, into [`parse::RawEvent`]s.
//! * [`prepare`]: pairs invocations with completions, applies each format's semantics (what
//!   `fail`, `info` and nil reads mean), infers the model and splits the history by key.
//! * [`model`]: the [`Model`] trait and the register, cas-register, multi-register, mutex and
//!   key-value models.
//! * [`search`]: the Wing–Gong/Lowe search with a compact memo; [`reduce`]: the sound
//!   reductions that set crashed operations aside; [`brute`]: a brute-force oracle;
//!   [`unique`]: the polynomial decision for registers whose observed values are written once.
//! * [`check()`]: one key; [`check_keys`]/[`check_history`]: many keys in parallel, combined
//!   (invalid beats unknown beats valid), with time and memory limits.
//! * [`explain`]: shrinks a failing key to a core and says why no order works.
//! * [`Validity`]: the one verdict (valid / unknown / invalid) everything combines by priority.
//! * [`hash`]: the one FxHash every table uses, and splitmix64 for seeds.
//! * [`gen`]: a seeded generator of register histories (valid, or with planted stale reads).
//! * [`elle`]: an Elle-style transactional checker (list-append, rw-register): dependency
//!   cycles and the consistency models they rule out.
//!
//! ```
//! use checkers::{check_history, parse, Limits, Verdict};
//!
//! let edn = b"[{:process 0, :type :invoke, :f :write, :value 1}
//!              {:process 0, :type :ok,     :f :write, :value 1}
//!              {:process 1, :type :invoke, :f :read,  :value nil}
//!              {:process 1, :type :ok,     :f :read,  :value 0}]";
//! let history = parse::parse_auto(edn).unwrap();
//! let result = check_history(&history, None, None, &Limits::default()).unwrap();
//! let Verdict::Invalid(cx) = result.verdict else { panic!("not linearizable") };
//! // The read of the initial 0 began after the write of 1 had completed.
//! assert_eq!(cx.ops.len(), 2);
//! assert!(cx.explanation.contains("read 0"));
//! println!("{}", cx.explanation);
//! ```

pub mod analysis;
pub mod brute;
pub mod check;
pub mod elle;
pub mod error;
pub mod explain;
pub mod gen;
pub mod hash;
pub mod history;
pub mod memory;
pub mod model;
pub mod op;
pub mod overwritten;
pub mod parse;
pub mod prepare;
pub mod reduce;
pub mod search;
pub mod set;
pub mod unique;
pub mod validity;
pub mod value;

pub use check::{
    check, check_history, check_keys, check_keys_owned, check_prepared, CheckResult, KeyResult,
    Limits, Verdict,
};
pub use error::{Error, Result};
pub use explain::{CoreOp, Counterexample};
pub use model::{Model, ModelKind};
pub use op::{Ending, OpMeta, Operation, Provenance};
pub use validity::Validity;
pub use value::Val;
