//! A mutex: acquire when free, release when held.

use super::Model;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MutexOp {
    Acquire,
    Release,
}

/// A lock; the state is "held".
#[derive(Debug, Clone, Copy, Default)]
pub struct Mutex;

impl Model for Mutex {
    type State = bool;
    type Scratch = ();
    type Op = MutexOp;

    fn name(&self) -> &'static str {
        "mutex"
    }

    fn init(&self) -> bool {
        false
    }

    fn step(&self, held: &bool, op: &MutexOp) -> Option<bool> {
        match op {
            MutexOp::Acquire => (!*held).then_some(true),
            MutexOp::Release => held.then_some(false),
        }
    }

    fn describe_op(&self, op: &MutexOp) -> String {
        match op {
            MutexOp::Acquire => "acquire".into(),
            MutexOp::Release => "release".into(),
        }
    }

    fn describe_state(&self, held: &bool) -> String {
        if *held { "held" } else { "free" }.into()
    }

    fn why_illegal(&self, held: &bool, _: &str, op: &MutexOp) -> String {
        match op {
            MutexOp::Acquire if *held => "acquire needs the lock free but it is held".into(),
            MutexOp::Release if !*held => "release needs the lock held but it is free".into(),
            _ => format!("{} is possible", self.describe_op(op)),
        }
    }
}
