//! Run-time membership: `POST /cluster/add` makes a node a learner, waits for it to catch up,
//! then promotes it to voter; `POST /cluster/remove` takes it out of the configuration.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers};
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::forward::{self, Kind};
use super::state::AppState;
use super::types::{NodeId, TypeConfig};

/// Catching a learner up may mean sending a whole snapshot.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(60);

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/cluster/add", post(add))
        .route("/cluster/remove", post(remove))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddBody {
    id: NodeId,
    addr: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoveBody {
    id: NodeId,
}

type ChangeResult = Result<
    openraft::raft::ClientWriteResponse<TypeConfig>,
    RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>,
>;

async fn add(
    State(st): State<AppState>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Response {
    let b: AddBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return ApiError::bad_request(format!(
                "expected {{\"id\":4,\"addr\":\"host:port\"}}: {e}"
            ))
            .into_response()
        }
    };
    tracing::info!(target: "faultline::node", id = b.id, addr = %b.addr, "adding node as learner");
    let node = BasicNode {
        addr: b.addr.clone(),
    };
    let res = change(&st, st.raft.add_learner(b.id, node, true)).await;
    let res = match res {
        Ok(_) => caught_up(&st, b.id).await,
        Err(e) => Err(e),
    };
    let res = match res {
        Ok(_) => {
            tracing::info!(target: "faultline::node", id = b.id, "learner caught up; promoting to voter");
            let voters = ChangeMembers::AddVoterIds(BTreeSet::from([b.id]));
            change(&st, st.raft.change_membership(voters, false)).await
        }
        Err(e) => Err(e),
    };
    finish(&st, res, headers, uri.to_string(), body).await
}

async fn remove(
    State(st): State<AppState>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Response {
    let b: RemoveBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return ApiError::bad_request(format!("expected {{\"id\":4}}: {e}")).into_response()
        }
    };
    tracing::info!(target: "faultline::node", id = b.id, "removing node");
    let m = st.raft.metrics().borrow().membership_config.clone();
    let is_voter = m.membership().voter_ids().any(|v| v == b.id);
    let res = if is_voter {
        // retain=false drops it from the node list too, so it stops receiving entries.
        let c = ChangeMembers::RemoveVoters(BTreeSet::from([b.id]));
        change(&st, st.raft.change_membership(c, false)).await
    } else {
        let c: ChangeMembers<NodeId, BasicNode> =
            ChangeMembers::RemoveNodes(BTreeSet::from([b.id]));
        change(&st, st.raft.change_membership(c, false)).await
    };
    finish(&st, res, headers, uri.to_string(), body).await
}

/// Promoting a learner that cannot be reached would shrink the cluster's fault tolerance, so
/// wait until it has replicated everything the leader had when it was added.
async fn caught_up(st: &AppState, id: NodeId) -> Result<(), Failure> {
    let target = st.raft.metrics().borrow().last_log_index;
    let res = st
        .raft
        .wait(Some(CHANGE_TIMEOUT))
        .metrics(
            |m| {
                let matched = m
                    .replication
                    .as_ref()
                    .and_then(|r| r.get(&id))
                    .and_then(|l| l.map(|l| l.index));
                matched >= target
            },
            "learner caught up",
        )
        .await;
    res.map(|_| ()).map_err(|e| {
        Failure::Err(ApiError::indefinite(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "node {id} was added as a learner but did not catch up: {e}; it was not promoted"
            ),
        ))
    })
}

enum Failure {
    NotLeader(Option<String>),
    Err(ApiError),
}

async fn change(
    st: &AppState,
    fut: impl std::future::Future<Output = ChangeResult>,
) -> Result<(), Failure> {
    match tokio::time::timeout(CHANGE_TIMEOUT, fut).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
            Err(Failure::NotLeader(f.leader_node.map(|n| n.addr)))
        }
        Ok(Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e)))) => {
            Err(Failure::Err(ApiError::bad_request(format!(
                "membership change refused: {e}"
            ))))
        }
        Ok(Err(RaftError::Fatal(e))) => Err(Failure::Err(ApiError::indefinite(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("raft stopped: {e}"),
        ))),
        Err(_) => Err(Failure::Err(ApiError::indefinite(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "node {}: membership change not done within {CHANGE_TIMEOUT:?}",
                st.id
            ),
        ))),
    }
}

async fn finish(
    st: &AppState,
    res: Result<(), Failure>,
    headers: HeaderMap,
    uri: String,
    body: Bytes,
) -> Response {
    match res {
        Ok(()) => {
            let m = st.raft.metrics().borrow().membership_config.clone();
            let mem = m.membership();
            let nodes: BTreeMap<String, String> = mem
                .nodes()
                .map(|(id, n)| (id.to_string(), n.addr.clone()))
                .collect();
            Json(json!({
                "ok": true,
                "membership": {
                    "voters": mem.voter_ids().collect::<Vec<_>>(),
                    "learners": mem.learner_ids().collect::<Vec<_>>(),
                },
                "nodes": nodes,
            }))
            .into_response()
        }
        Err(Failure::NotLeader(leader)) => {
            forward::to_leader(st, &headers, leader, Method::POST, &uri, body, Kind::Write).await
        }
        Err(Failure::Err(e)) => e.into_response(),
    }
}
