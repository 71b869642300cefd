//! The workload a campaign names, and one seeded generator per client process.

use checkers::analysis::Checker;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::list_append::{ListAppendConfig, ListAppendGen};
use crate::op::{Completion, Op, Response};
use crate::register::{RegisterConfig, RegisterGen};
use crate::rw_register::{RwRegisterConfig, RwRegisterGen};
use crate::set::{SetConfig, SetGen};
use crate::Error;

/// Which workload to run, with its settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum WorkloadConfig {
    Register(RegisterConfig),
    Set(SetConfig),
    ListAppend(ListAppendConfig),
    RwRegister(RwRegisterConfig),
}

impl WorkloadConfig {
    /// The names accepted in campaign files.
    pub const NAMES: &'static [&'static str] = &["register", "set", "list-append", "rw-register"];

    pub fn name(&self) -> &'static str {
        match self {
            WorkloadConfig::Register(_) => "register",
            WorkloadConfig::Set(_) => "set",
            WorkloadConfig::ListAppend(_) => "list-append",
            WorkloadConfig::RwRegister(_) => "rw-register",
        }
    }

    pub fn validate(&self) -> Result<(), Error> {
        match self {
            WorkloadConfig::Register(c) => c.validate(),
            WorkloadConfig::Set(c) => c.validate(),
            WorkloadConfig::ListAppend(c) => c.validate(),
            WorkloadConfig::RwRegister(c) => c.validate(),
        }
    }

    /// The checkers its histories get, from `faultline test` and `faultline check` alike:
    /// registers for linearizability (plus a cheap check that reads return written values),
    /// sets for lost and unexpected elements, list-append and rw-register as transactions
    /// (Elle-style: every anomaly strict serializability prohibits).
    pub fn checkers(&self) -> &'static [Checker] {
        match self {
            WorkloadConfig::Register(_) => {
                &[Checker::ReadsOfWrittenValues, Checker::Linearizability]
            }
            WorkloadConfig::Set(_) => &[Checker::Set],
            WorkloadConfig::ListAppend(_) => &[Checker::ElleListAppend],
            WorkloadConfig::RwRegister(_) => &[Checker::ElleRwRegister],
        }
    }

    /// The keys the workload touches.
    pub fn keys(&self) -> Vec<String> {
        let n = match self {
            WorkloadConfig::Register(c) => c.keys,
            WorkloadConfig::Set(c) => c.keys,
            WorkloadConfig::ListAppend(c) => c.keys,
            WorkloadConfig::RwRegister(c) => c.keys,
        };
        (0..n).map(key_name).collect()
    }
}

/// Key `i`'s name on the node and in histories.
pub fn key_name(i: u32) -> String {
    format!("k{i}")
}

/// One client process: what it asks next and how it reads answers.
pub trait ProcessGen: Send {
    /// The next operation to invoke.
    fn next_op(&mut self) -> Op;
    /// Turns the client's response into the completion to record.
    fn complete(&mut self, op: &Op, response: Response) -> Completion;
}

/// A workload with its seed: makes per-process generators and the final reads.
#[derive(Debug, Clone)]
pub struct Workload {
    pub config: WorkloadConfig,
    pub seed: u64,
}

impl Workload {
    pub fn new(config: WorkloadConfig, seed: u64) -> Workload {
        Workload { config, seed }
    }

    /// The generator of process `process`: the same seed and id give the same operations.
    pub fn process(&self, process: u64) -> Box<dyn ProcessGen> {
        let rng = self.rng(process);
        match &self.config {
            WorkloadConfig::Register(c) => Box::new(RegisterGen::new(c.clone(), process, rng)),
            WorkloadConfig::Set(c) => Box::new(SetGen::new(c.clone(), process, rng)),
            WorkloadConfig::ListAppend(c) => Box::new(ListAppendGen::new(c.clone(), process, rng)),
            WorkloadConfig::RwRegister(c) => Box::new(RwRegisterGen::new(c.clone(), process, rng)),
        }
    }

    /// Reads of every key once the cluster has settled (the set checker needs them).
    pub fn final_ops(&self) -> Vec<Op> {
        let keys = self.config.keys();
        match &self.config {
            WorkloadConfig::Register(_) => keys.into_iter().map(crate::register::read).collect(),
            WorkloadConfig::Set(_) => keys.into_iter().map(crate::set::read).collect(),
            WorkloadConfig::ListAppend(_) => vec![crate::list_append::read_all(&keys)],
            WorkloadConfig::RwRegister(_) => vec![crate::rw_register::read_all(&keys)],
        }
    }

    fn rng(&self, process: u64) -> ChaCha8Rng {
        // A domain separate from the nemesis's streams of the same seed.
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0x776f_726b_6c6f_6164);
        rng.set_stream(process);
        rng
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(w: &Workload, process: u64, n: usize) -> Vec<Op> {
        let mut g = w.process(process);
        (0..n).map(|_| g.next_op()).collect()
    }

    #[test]
    fn same_seed_same_ops_per_process_for_every_workload() {
        for config in [
            WorkloadConfig::Register(RegisterConfig::default()),
            WorkloadConfig::Set(SetConfig::default()),
            WorkloadConfig::ListAppend(ListAppendConfig::default()),
            WorkloadConfig::RwRegister(RwRegisterConfig::default()),
        ] {
            let a = Workload::new(config.clone(), 11);
            let b = Workload::new(config.clone(), 11);
            let c = Workload::new(config.clone(), 12);
            assert_eq!(ops(&a, 3, 100), ops(&b, 3, 100), "{}", config.name());
            assert_ne!(ops(&a, 3, 100), ops(&a, 4, 100), "{}", config.name());
            assert_ne!(ops(&a, 3, 100), ops(&c, 3, 100), "{}", config.name());
        }
    }

    #[test]
    fn final_ops_read_every_key() {
        let w = Workload::new(WorkloadConfig::Set(SetConfig { keys: 3 }), 0);
        let keys: Vec<_> = w.final_ops().into_iter().map(|o| o.key.unwrap()).collect();
        assert_eq!(keys, vec!["k0", "k1", "k2"]);
    }
}
