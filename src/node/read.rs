//! The read path: linearizable reads by read-index. The leader confirms with a quorum that it is
//! still the leader and waits until its state machine has applied up to the commit index it had
//! at that moment; only then does it read. Followers never read locally; they forward.

use openraft::error::{CheckIsLeaderError, RaftError};

use super::error::ApiError;
use super::state::{AppState, Local};

pub async fn read_register(st: &AppState, key: &str) -> Local<Option<String>> {
    match ensure_linearizable(st).await {
        Local::Done(()) => {
            let sm = st.sm.read().expect("state lock poisoned");
            Local::Done(sm.kv.read(key))
        }
        Local::NotLeader { leader } => Local::NotLeader { leader },
        Local::Err(e) => Local::Err(e),
    }
}

async fn ensure_linearizable(st: &AppState) -> Local<()> {
    let res = tokio::time::timeout(st.client_timeout, st.raft.ensure_linearizable()).await;
    match res {
        Ok(Ok(_)) => Local::Done(()),
        Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => Local::NotLeader {
            leader: f.leader_node.map(|n| n.addr),
        },
        Ok(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(e)))) => Local::Err(
            ApiError::unavailable(format!("cannot confirm leadership: {e}")),
        ),
        Ok(Err(RaftError::Fatal(e))) => {
            Local::Err(ApiError::unavailable(format!("raft stopped: {e}")))
        }
        // A read changes nothing, so failing it is always definite.
        Err(_) => Local::Err(ApiError {
            status: axum::http::StatusCode::GATEWAY_TIMEOUT,
            error: format!(
                "node {}: could not confirm leadership within {:?}",
                st.id, st.client_timeout
            ),
            definite: true,
            extra: None,
        }),
    }
}
