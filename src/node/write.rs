//! The ack path: a client write is proposed to Raft and answered only after openraft has
//! committed it on a quorum (each member fsynced it) and applied it here.

use axum::http::StatusCode;
use openraft::error::{ClientWriteError, RaftError};

use super::error::ApiError;
use super::state::{AppState, Local};
use super::types::{NodeId, Request, Response};

pub async fn propose(st: &AppState, req: Request) -> Local<Response> {
    let res = tokio::time::timeout(st.client_timeout, st.raft.client_write(req)).await;
    match res {
        Ok(Ok(resp)) => Local::Done(resp.data),
        Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => Local::NotLeader {
            leader: f.leader_node.map(|n| n.addr),
        },
        Ok(Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e)))) => {
            Local::Err(ApiError::unavailable(e.to_string()))
        }
        // The entry may already be in the log and commit later.
        Ok(Err(RaftError::Fatal(e))) => Local::Err(ApiError::indefinite(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("raft stopped while proposing: {e}"),
        )),
        Err(_) => Local::Err(timeout_error(st.id, st.client_timeout)),
    }
}

fn timeout_error(id: NodeId, t: std::time::Duration) -> ApiError {
    ApiError::indefinite(
        StatusCode::GATEWAY_TIMEOUT,
        format!("node {id}: the write was proposed but not committed within {t:?}; it may still take effect"),
    )
}
