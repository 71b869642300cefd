//! The server side of the Raft RPCs (`/raft/{append,vote,snapshot}`): JSON in (a snapshot chunk
//! in the binary framing of `wire`), the `Result` openraft returned as JSON out, so the caller
//! can tell remote errors from transport.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotResponse, VoteRequest, VoteResponse,
};

use super::limits::RAFT_BODY_LIMIT;
use super::state::AppState;
use super::types::{NodeId, TypeConfig, Vote};
use super::{election_hold, wire};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/raft/append", post(append))
        .route("/raft/vote", post(vote))
        .route("/raft/snapshot", post(snapshot))
        // Sized from what a peer sends (see `limits`), not axum's 2 MB default: a refused
        // AppendEntries costs the leader this follower's vote.
        .layer(DefaultBodyLimit::max(RAFT_BODY_LIMIT))
}

async fn append(
    State(st): State<AppState>,
    Json(req): Json<AppendEntriesRequest<TypeConfig>>,
) -> Json<Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>> {
    Json(st.raft.append_entries(req).await)
}

async fn vote(
    State(st): State<AppState>,
    Json(req): Json<VoteRequest<NodeId>>,
) -> Json<Result<VoteResponse<NodeId>, RaftError<NodeId>>> {
    Json(st.raft.vote(req).await)
}

async fn snapshot(State(st): State<AppState>, body: Bytes) -> Response {
    let req = match wire::decode_snapshot(&body) {
        Ok(req) => req,
        Err(e) => {
            let why = format!(
                "not an InstallSnapshot body ({}): {e}",
                wire::SNAPSHOT_CONTENT_TYPE
            );
            return (StatusCode::BAD_REQUEST, why).into_response();
        }
    };
    let _held = hold_elections_if_from_leader(&st, &req.vote);
    let res: Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>> =
        st.raft.install_snapshot(req).await;
    Json(res).into_response()
}

/// A chunk from a leader at least as new as this node's vote is a sign of life like a heartbeat
/// (see `election_hold`); one from a stale leader is refused by openraft and proves nothing.
fn hold_elections_if_from_leader(st: &AppState, vote: &Vote) -> Option<election_hold::Guard> {
    let mine = st.raft.metrics().borrow().vote;
    (vote.is_committed() && *vote >= mine).then(|| st.election_hold.hold())
}
