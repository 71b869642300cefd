//! openraft's own storage conformance suite, run on our log store and state machine.

use openraft::testing::{StoreBuilder, Suite};

use super::log::LogStore;
use super::state_machine::StateMachine;
use super::types::{StorageError, TypeConfig};

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for Builder {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError> {
        let dir = tempfile::tempdir().expect("a temp dir");
        let log = LogStore::open(dir.path()).expect("opening an empty log");
        let sm = StateMachine::open(dir.path()).expect("opening an empty state machine");
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite_passes() {
    Suite::test_all(Builder).expect("openraft storage suite");
}
